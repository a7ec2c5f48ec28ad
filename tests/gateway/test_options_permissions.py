"""Seed 004 permissions where the router carries the action out, through the gateway against the real router:
close without reply, emojis and media (also on the AGENTS stream), the contact's number masked for agents in
every answer and event, and transfers between agents and between campaigns. Each option on and off."""

from __future__ import annotations

from libs.contracts import CloseConversation, SendReply
from libs.messaging import publish
from libs.messaging.deadletters import list_dead_letters

from .routed_kit import Routed, eventually

NUMBER = "+54 9 11 1234 3456"
MASKED = "+54 9 11 •••• 3456"


async def _office(routed: Routed, unique: str, **options):
    agent, a_token = await routed.user("agent", unique)
    other, o_token = await routed.user("agent", unique)
    sup, s_token = await routed.user("supervisor", unique)
    snap = await routed.campaign(unique, agents=[agent, other], supervisors=[sup], **options)
    return snap, (agent, a_token), (other, o_token), (sup, s_token)


async def test_close_without_reply_is_refused_for_agents_when_off(routed, unique):
    snap, (agent, token), _, (_, sup) = await _office(routed, unique, permissions={"close_without_reply": False})
    await routed.available(token)
    await routed.write_in(snap, "+34600100001")
    conv = await routed.assigned_to(token, "+34600100001")
    close = {"typification_id": "sold", "fields": {}}
    err = await routed.call(token, "POST", f"/conversations/{conv['id']}/close", close, status=400)
    assert err["error"]["field"] == "reply" and "without a reply" in err["error"]["message"]
    # The AGENTS stream is refused the same (the command is dead-lettered with the reason), nothing closes.
    cmd = CloseConversation(agent_id=agent, conversation_id=conv["id"], typification_id="sold")
    await publish(routed.js, cmd)
    letters = await eventually(
        lambda: _letters(routed, "router-agent-commands", conv["id"]), "the close command dead-lettered")
    assert "without a reply" in letters[0].reason
    assert (await routed.call(token, "GET", f"/conversations/{conv['id']}"))["state"] == "assigned"
    # Once the agent answered, the close goes through.
    await routed.call(token, "POST", f"/conversations/{conv['id']}/messages", {"text": "hola"}, status=201)
    assert (await routed.call(token, "POST", f"/conversations/{conv['id']}/close", close))["state"] == "closed"

    # A supervisor closing an unanswered (stranded) conversation is not held to the agent's permission.
    await routed.write_in(snap, "+34600100002")
    conv2 = await routed.assigned_to(token, "+34600100002")
    assert (await routed.call(sup, "POST", f"/conversations/{conv2['id']}/close", close))["state"] == "closed"

    # On: an agent closes an unanswered conversation.
    await routed.change(snap, permissions={"close_without_reply": True})
    await routed.write_in(snap, "+34600100003")
    conv3 = await routed.assigned_to(token, "+34600100003")
    assert (await routed.call(token, "POST", f"/conversations/{conv3['id']}/close", close))["state"] == "closed"


async def _letters(routed: Routed, consumer: str, needle: str) -> list:
    return [d for d in await list_dead_letters(routed.js, consumer=consumer, limit=50)
            if needle in (await _payload(routed, d.sequence))]


async def _payload(routed: Routed, sequence: int) -> str:
    msg = await routed.js.get_msg("DEADLETTER", sequence)
    return msg.data.decode("utf-8", "replace")


async def test_emojis_and_media_are_refused_when_off_through_the_api_and_the_agents_stream(routed, unique):
    snap, (agent, token), _, _ = await _office(routed, unique, permissions={"emojis": False, "media": False})
    await routed.available(token)
    await routed.write_in(snap, "+34600200001")
    conv = await routed.assigned_to(token, "+34600200001")
    path = f"/conversations/{conv['id']}/messages"
    err = await routed.call(token, "POST", path, {"text": "hola 😀"}, status=400)
    assert err["error"]["field"] == "text" and "emojis" in err["error"]["message"]
    media = [{"kind": "image", "url": "https://example.com/a.png"}]
    err = await routed.call(token, "POST", path, {"text": "mira", "media": media}, status=400)
    assert err["error"]["field"] == "media"
    # The same reply as an AGENTS command: dead-lettered with the reason, nothing sent.
    cmd = SendReply(agent_id=agent, conversation_id=conv["id"], text="hola 😀")
    await publish(routed.js, cmd)
    letters = await eventually(lambda: _letters(routed, "router-agent-commands", cmd.id), "the reply command refused")
    assert "emojis" in letters[0].reason
    messages = (await routed.call(token, "GET", f"/conversations/{conv['id']}"))["messages"]
    assert [m["direction"] for m in messages] == ["in"]

    # On: both go out, through the API and as a command.
    await routed.change(snap, permissions={"emojis": True, "media": True})
    await routed.call(token, "POST", path, {"text": "hola 😀", "media": media}, status=201)
    cmd = SendReply(agent_id=agent, conversation_id=conv["id"], text="otra 👍")
    await publish(routed.js, cmd)

    async def outs() -> list:
        msgs = (await routed.call(token, "GET", f"/conversations/{conv['id']}"))["messages"]
        return [m["text"] for m in msgs if m["direction"] == "out"]

    await eventually(lambda: _has(outs, "otra 👍"), "the command's reply")
    assert await outs() == ["hola 😀", "otra 👍"]


async def _has(outs, text: str) -> bool:
    return text in await outs()


async def test_contact_number_is_masked_for_agents_in_every_answer_and_event(routed, unique):
    snap, (_agent, token), _, (_, sup) = await _office(routed, unique, permissions={"show_contact_number": False},
                                                      routing={"offer_timeout_s": 30})
    sock = await routed.socket(token)
    sup_sock = await routed.socket(sup)
    await routed.available(token)
    await routed.write_in(snap, NUMBER, contact_name=NUMBER)
    offered = await sock.wait_for("conversation.offered")
    cid = offered["conversation_id"]
    assert offered["contact_address"] == MASKED
    message = await sock.wait_for("conversation.message", conversation_id=cid)
    assert message["contact_address"] == MASKED
    accepted = await routed.call(token, "POST", f"/conversations/{cid}/accept")
    assert accepted["contact_address"] == MASKED and accepted["contact_name"] == MASKED
    assert (await sock.wait_for("conversation.assigned", conversation_id=cid))["contact_address"] == MASKED
    listed = (await routed.call(token, "GET", "/conversations"))["items"]
    one = await routed.call(token, "GET", f"/conversations/{cid}")
    assert [c["contact_address"] for c in listed] == [MASKED] and one["contact_address"] == MASKED
    # Nothing an agent receives holds the number.
    assert [e for e in sock.events if NUMBER in str(e)] == []
    assert NUMBER not in str(listed) and NUMBER not in str(one)
    # Supervisors see it whole, live and on request.
    assert (await sup_sock.wait_for("conversation.assigned", conversation_id=cid))["contact_address"] == NUMBER
    assert (await routed.call(sup, "GET", f"/conversations/{cid}"))["contact_address"] == NUMBER
    # The agent still answers the right number: the router sends to the conversation's own address.
    await routed.call(token, "POST", f"/conversations/{cid}/messages", {"text": "hola"}, status=201)

    # On: the agent sees the number.
    await routed.change(snap, permissions={"show_contact_number": True})
    assert (await routed.call(token, "GET", f"/conversations/{cid}"))["contact_address"] == NUMBER
    await routed.write_in(snap, NUMBER, text="otra vez", n=1)
    again = await sock.wait_for("conversation.message", conversation_id=cid, text="otra vez")
    assert again["contact_address"] == NUMBER
    await sock.close()
    await sup_sock.close()


async def test_transfers_between_agents_and_campaigns_follow_the_permissions(routed, unique):
    snap, (agent, token), (other, o_token), (_, sup) = await _office(
        routed, unique, permissions={"transfer_between_agents": False, "transfer_between_campaigns": False})
    target = await routed.campaign(unique, agents=[agent, other], suffix="-b")
    snap = await routed.change(snap, linked_campaigns=[target.id])
    await routed.available(token)
    await routed.available(o_token)
    await routed.write_in(snap, "+34600300001")
    conv = await routed.assigned_to(token, "+34600300001")
    cid = conv["id"]
    path = f"/conversations/{cid}/transfer"
    err = await routed.call(token, "POST", path, {"agent_id": other}, status=400)
    assert err["error"]["field"] == "agent_id" and "between agents" in err["error"]["message"]
    err = await routed.call(token, "POST", path, {"campaign_id": target.id}, status=400)
    assert err["error"]["field"] == "campaign_id" and "between campaigns" in err["error"]["message"]
    assert (await routed.call(token, "GET", f"/conversations/{cid}"))["agent_id"] == agent

    # A supervisor moves it anyway (the permission is the agents').
    moved = await routed.call(sup, "POST", path, {"agent_id": other})
    assert moved["agent_id"] == other
    await routed.call(sup, "POST", path, {"agent_id": agent})

    # On: the agent transfers to a colleague, and to the linked campaign.
    snap = await routed.change(snap, permissions={"transfer_between_agents": True,
                                                  "transfer_between_campaigns": True})
    assert (await routed.call(token, "POST", path, {"agent_id": other}))["agent_id"] == other
    back = await routed.call(o_token, "POST", path, {"campaign_id": target.id})
    assert back["campaign_id"] == target.id

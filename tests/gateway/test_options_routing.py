"""Seed 002 routing options, through the gateway against the real router (and the real CRM, which publishes the
owner index): queue assignment (pushed, or taken from a list), the account's assigned user with and without
fallback, calls to agents in after-call work, and linked call queues. Each option on and off."""

from __future__ import annotations

import asyncio

from .routed_kit import Routed, eventually


async def _waiting(routed: Routed, token: str, campaign: str) -> list[dict]:
    return (await routed.call(token, "GET", f"/queues/{campaign}/waiting"))["items"]


async def test_queue_assignment_off_waits_for_an_agent_to_take_it(routed, unique):
    a, a_token = await routed.user("agent", unique)
    b, b_token = await routed.user("agent", unique)
    sup, s_token = await routed.user("supervisor", unique)
    snap = await routed.campaign(unique, agents=[a, b], supervisors=[sup],
                                 routing={"queue_assignment": False, "agent_capacity": 1},
                                 permissions={"show_contact_number": False})
    await routed.available(a_token)
    await routed.available(b_token)
    await routed.write_in(snap, "+34 600 400 001")
    await routed.write_in(snap, "+34 600 400 002")
    # Nobody is pushed anything: both wait in the campaign's queue, listed for its agents (numbers masked).
    items = await eventually(lambda: _count(routed, a_token, snap.id, 2), "two conversations waiting")
    assert sorted(i["contact_address"] for i in items) == ["+34 6•• ••0 001", "+34 6•• ••0 002"]
    assert (await routed.call(a_token, "GET", "/conversations"))["items"] == []
    # Agents of another campaign may not read the list.
    _, st_token = await routed.user("agent", unique)
    await routed.call(st_token, "GET", f"/queues/{snap.id}/waiting", status=403)

    first, second = items[0]["conversation_id"], items[1]["conversation_id"]
    # Two agents take the same conversation at once: exactly one wins, the other is told it is gone.
    answers = await asyncio.gather(
        routed.gw.post(f"/api/v1/conversations/{first}/take", headers={"Authorization": f"Bearer {a_token}"}),
        routed.gw.post(f"/api/v1/conversations/{first}/take", headers={"Authorization": f"Bearer {b_token}"}))
    statuses = sorted(r.status for r in answers)
    assert statuses == [200, 409], statuses
    winner = next(r for r in answers if r.status == 200)
    took = await winner.json()
    assert took["state"] == "assigned" and took["contact_address"] == items[0]["contact_address"]
    # Capacity holds: the winner (capacity 1) cannot take the second one; the other agent can.
    winner_token, other_token = (a_token, b_token) if took["agent_id"] == a else (b_token, a_token)
    err = await routed.call(winner_token, "POST", f"/conversations/{second}/take", status=409)
    assert err["error"]["field"] == "agent_id" and "no room" in err["error"]["message"]
    assert (await routed.call(other_token, "POST", f"/conversations/{second}/take"))["state"] == "assigned"
    assert await _waiting(routed, a_token, snap.id) == []
    # An agent takes only for themself; a supervisor names the agent.
    await routed.write_in(snap, "+34 600 400 003")
    [third] = await eventually(lambda: _count(routed, s_token, snap.id, 1), "a third conversation waiting")
    assert third["contact_address"] == "+34 600 400 003"  # supervisors see the number
    err = await routed.call(a_token, "POST", f"/conversations/{third['conversation_id']}/take", {"agent_id": b},
                            status=403)
    assert err["error"]["field"] == "agent_id"
    err = await routed.call(s_token, "POST", f"/conversations/{third['conversation_id']}/take", status=400)
    assert err["error"]["field"] == "agent_id"

    # On: the next conversation is pushed to an agent with room (the supervisor frees one first).
    await routed.call(s_token, "POST", f"/conversations/{first}/close", {"typification_id": "sold"})
    await routed.change(snap, routing={"queue_assignment": True})
    await eventually(lambda: _count(routed, s_token, snap.id, 0), "the waiting one pushed once assignment is on")
    await routed.write_in(snap, "+34 600 400 004")
    await eventually(lambda: _count(routed, s_token, snap.id, 1), "the fourth waits only for room")


async def _count(routed: Routed, token: str, campaign: str, n: int) -> list[dict] | bool:
    items = await _waiting(routed, token, campaign)
    return (items or True) if len(items) == n else False


async def _owner_office(routed: Routed, unique: str, **routing):
    owner, o_token = await routed.user("agent", unique)
    other, x_token = await routed.user("agent", unique)
    _, admin_token = await routed.user("admin", unique)
    snap = await routed.campaign(unique, agents=[owner, other], routing={"agent_capacity": 3, **routing})
    return snap, (owner, o_token), (other, x_token), admin_token


async def _assign_account(routed: Routed, admin: str, snap, owner: str, phone: str) -> None:
    """An account of the campaign assigned to ``owner`` (as an import with "Asignación de cuentas" leaves it)."""
    contact = await routed.call(admin, "POST", "/contacts", {"name": "Cliente", "phones": [phone]}, status=201)
    await routed.call(admin, "POST", "/accounts", {"contact_id": contact["id"], "campaign_id": snap.id,
                                                   "number": f"acc-{phone}", "assigned_user": owner}, status=201)


async def _published(routed: Routed, campaign: str, phone: str, owner: str) -> bool:
    from libs.contracts.owners import OWNERS_BUCKET, OwnerEntry, channel_key

    kv = await routed.js.key_value(OWNERS_BUCKET)
    try:
        entry = await kv.get(channel_key("whatsapp", phone))
    except Exception:
        return False
    return bool(entry.value) and OwnerEntry.model_validate_json(entry.value).owner_for(campaign) == owner


async def test_the_accounts_assigned_user_gets_the_conversation_and_others_only_with_fallback(routed, unique):
    snap, (owner, o_token), (_, x_token), admin = await _owner_office(
        routed, unique, sticky_fallback=False, max_wait_s=3)
    phone = "+34600500001"
    await _assign_account(routed, admin, snap, owner, phone)
    await eventually(lambda: _published(routed, snap.id, phone, owner), "the CRM's owner index entry")

    # The owner is available: the customer's conversation goes to them, though the other agent idles longer.
    await routed.available(x_token)
    await routed.available(o_token)
    await routed.write_in(snap, phone, n=1)
    conv = await routed.assigned_to(o_token, phone)
    decisions = await routed.call(admin, "GET", f"/conversations/{conv['id']}/decisions")
    assert "account owner" in decisions["items"][-1]["tie_break"]
    await routed.call(o_token, "POST", f"/conversations/{conv['id']}/messages", {"text": "hola"}, status=201)
    await routed.call(o_token, "POST", f"/conversations/{conv['id']}/close", {"typification_id": "sold"})

    # Fallback off, owner on a break: the conversation waits for them (the other agent is free), up to the
    # campaign's maximum wait, then anyone may have it.
    await routed.call(o_token, "PUT", "/me/status", {"status": "break", "reason": "Almuerzo"})
    await routed.write_in(snap, phone, n=2)
    await asyncio.sleep(1.5)
    assert (await routed.call(x_token, "GET", "/conversations"))["items"] == []
    waited = await routed.assigned_to(x_token, phone)
    explained = (await routed.call(admin, "GET", f"/conversations/{waited['id']}/decisions"))["items"]
    assert explained[-1]["sticky"] == {"agent": owner, "source": "account owner", "fallback": "first available agent",
                                       "excluded": "waited the maximum wait for the owner"}
    await routed.call(x_token, "POST", f"/conversations/{waited['id']}/messages", {"text": "hola"}, status=201)
    await routed.call(x_token, "POST", f"/conversations/{waited['id']}/close", {"typification_id": "sold"})

    # Fallback on: with the owner away, it goes to the first available agent at once.
    await routed.change(snap, routing={"sticky_fallback": True, "max_wait_s": None})
    await routed.write_in(snap, phone, n=3)
    fell = await routed.assigned_to(x_token, phone)
    explained = (await routed.call(admin, "GET", f"/conversations/{fell['id']}/decisions"))["items"]
    assert explained[-1]["sticky"]["fallback"] == "first available agent"
    assert explained[-1]["sticky"]["agent"] == owner


async def test_calls_reach_agents_in_after_call_work_only_when_the_campaign_allows_it(routed, unique):
    agent, token = await routed.user("agent", unique)
    sup, s_token = await routed.user("supervisor", unique)
    snap = await routed.campaign(unique, agents=[agent], supervisors=[sup], channel_type="voice",
                                 routing={"agent_capacity": 3, "weights": {"voice": 1},
                                          "offer_in_after_call_work": False})
    await routed.call(token, "PUT", "/me/status", {"status": "after_call_work"})
    await routed.write_in(snap, "+34600600001", kind="call")
    waiting = await eventually(lambda: _count(routed, s_token, snap.id, 1), "the call waiting")
    assert waiting[0]["channel_type"] == "voice"
    assert (await routed.call(token, "GET", "/conversations"))["items"] == []

    # On: the agent in after-call work is offered the waiting call (and the next ones).
    await routed.change(snap, routing={"offer_in_after_call_work": True})
    await routed.assigned_to(token, "+34600600001")
    await routed.write_in(snap, "+34600600002", kind="call")
    await routed.assigned_to(token, "+34600600002")
    # Chats never reach an agent in after-call work, even with the option on.
    chat = await routed.campaign(unique, agents=[agent], supervisors=[sup], suffix="-chat",
                                 routing={"offer_in_after_call_work": True})
    await routed.write_in(chat, "+34600600003")
    await eventually(lambda: _count(routed, s_token, chat.id, 1), "the chat waiting")
    await asyncio.sleep(0.3)
    assert len(await _waiting(routed, s_token, chat.id)) == 1
    assert {c["channel_type"] for c in (await routed.call(token, "GET", "/conversations"))["items"]} == {"voice"}


async def test_linked_call_queues_send_a_campaigns_calls_to_the_agents_of_the_linked_ones(routed, unique):
    a, a_token = await routed.user("agent", unique)  # works in "calls" only
    b, b_token = await routed.user("agent", unique)  # works in "help" only
    sup, s_token = await routed.user("supervisor", unique)
    help_desk = await routed.campaign(unique, agents=[b], supervisors=[sup], channel_type="voice", suffix="-help",
                                      routing={"agent_capacity": 3, "weights": {"voice": 1}})
    calls = await routed.campaign(unique, agents=[a], supervisors=[sup], channel_type="voice",
                                  routing={"agent_capacity": 3, "weights": {"voice": 1}})
    await routed.available(b_token)
    await routed.write_in(calls, "+34600700001", kind="call")
    # Not linked: the call of "calls" waits, though the help desk's agent is free.
    await eventually(lambda: _count(routed, s_token, calls.id, 1), "the call waiting")
    await asyncio.sleep(0.3)
    assert (await routed.call(b_token, "GET", "/conversations"))["items"] == []

    # Linked: the help desk's agent receives the call of "calls" (at once, and the next ones).
    await routed.change(calls, linked_campaigns=[help_desk.id])
    taken = await routed.assigned_to(b_token, "+34600700001")
    assert taken["campaign_id"] == calls.id
    decisions = await routed.call(s_token, "GET", f"/conversations/{taken['id']}/decisions")
    assert decisions["items"][-1]["pool"] == f"avail:{help_desk.id}"

    # An agent of two campaigns is available in both at once: conversations of each reach them.
    both = await routed.change(help_desk, agents=[a, b])
    await routed.call(b_token, "PUT", "/me/status", {"status": "break", "reason": "Café"})
    await routed.available(a_token)
    await routed.write_in(both, "+34600700002", kind="call")
    await routed.write_in(calls, "+34600700003", kind="call")
    mine = await eventually(lambda: _mine(routed, a_token, 2), "a's two calls")
    assert sorted(c["campaign_id"] for c in mine) == sorted([calls.id, help_desk.id])


async def _mine(routed: Routed, token: str, n: int) -> list[dict] | None:
    items = (await routed.call(token, "GET", "/conversations"))["items"]
    return items if len(items) == n else None

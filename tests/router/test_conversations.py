"""Inbound messages become conversations that are queued, assigned, answered and closed."""

from __future__ import annotations

import asyncio

from libs.contracts import ConversationOpened
from libs.core.errors import NotFound
from libs.messaging import DLQ_STREAM
from services.router.keys import ROUTER


async def test_message_is_assigned_answered_and_closed(nats_js, router, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique))
    await asyncio.sleep(0.2)
    await kit.status(router, agent, "available")
    msg = kit.inbound(f"ch-{unique}", "+5491100000001", 1, "Hola, necesito ayuda")
    await kit.send(js, msg)

    [assigned] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    cid = assigned.conversation_id
    assert assigned.agent_id == agent and assigned.campaign_id == f"camp-{unique}"
    assert assigned.explanation["chosen"] == agent and assigned.explanation["strategy"] == "longest_idle"
    conv_events = [e for e in events.events if getattr(e, "conversation_id", None) == cid]
    # Assigned at once (no offer step): no conversation.queued event before the assignment.
    assert [e.type for e in conv_events][:3] == ["conversation.opened", "conversation.message",
                                                 "conversation.assigned"]
    assert not events.of("conversation.queued", conversation_id=cid)
    assert len({e.msg_id() for e in conv_events}) == len(conv_events)
    [message] = events.of("conversation.message", conversation_id=cid)
    assert message.text == "Hola, necesito ayuda" and message.direction == "in"

    conv = await kit.get_json(router, f"/conversations/{cid}")
    assert conv["state"] == "assigned" and conv["agent_id"] == agent
    assert conv["contact_address"] == "+5491100000001" and conv["channel_id"] == f"ch-{unique}"
    assert [m["text"] for m in conv["messages"]] == ["Hola, necesito ayuda"]
    assert (await kit.get_json(router, f"/conversations?agent_id={agent}"))["items"][0]["id"] == cid
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 1

    resp = await router.post(f"/conversations/{cid}/messages", json={"agent_id": agent, "text": "Te ayudo"})
    assert resp.status == 201, await resp.text()
    [out] = await events.wait_for("outbound.message", conversation_id=cid)
    assert out.to == "+5491100000001" and out.text == "Te ayudo" and out.channel_id == f"ch-{unique}"
    await events.wait_for("conversation.message", 2, conversation_id=cid)
    assert events.of("conversation.message", conversation_id=cid, direction="out")[0].text == "Te ayudo"

    # A closure the campaign does not allow is refused with the field named, and changes nothing.
    resp = await router.post(f"/conversations/{cid}/close", json={"agent_id": agent, "typification_id": "sold",
                                                                  "fields": {}})
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "fields.dni"
    resp = await router.post(f"/conversations/{cid}/close", json={"agent_id": agent, "typification_id": "nope",
                                                                  "fields": {"dni": "1"}})
    assert (await resp.json())["error"]["field"] == "typification_id"
    assert (await kit.get_json(router, f"/conversations/{cid}"))["state"] == "assigned"

    resp = await router.post(f"/conversations/{cid}/close", json={"agent_id": agent, "typification_id": "sold",
                                                                  "fields": {"dni": "12345678"}})
    assert resp.status == 200, await resp.text()
    [closed] = await events.wait_for("conversation.closed", conversation_id=cid)
    assert closed.typification_id == "sold" and closed.fields == {"dni": "12345678"} and closed.agent_id == agent
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 0
    assert (await kit.get_json(router, f"/conversations/{cid}"))["state"] == "closed"

    # The contact writes again: a new conversation, since the old one is closed.
    await kit.send(js, kit.inbound(f"ch-{unique}", "+5491100000001", 2, "otra vez"))
    opened = await events.wait_for("conversation.opened", 2, channel_id=f"ch-{unique}")
    assert opened[1].conversation_id != cid


async def test_redelivered_message_changes_nothing(nats_js, router, events, unique, kit):
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique))
    msg = kit.inbound(f"ch-{unique}", "+5491100000002", 1)
    # A redelivery: the same InboundMessage published again under another JetStream id.
    for n in range(3):
        await js.publish(msg.subject(), msg.model_dump_json().encode(), headers={"Nats-Msg-Id": f"x{n}{unique}"})
    await kit.send(js, kit.inbound(f"ch-{unique}", "+5491100000002", 2, "second"))
    [queued] = await events.wait_for("conversation.queued", channel_id=f"ch-{unique}")
    await events.wait_for("conversation.message", 2, conversation_id=queued.conversation_id)
    await asyncio.sleep(0.3)
    conv = await kit.get_json(router, f"/conversations/{queued.conversation_id}")
    assert [m["text"] for m in conv["messages"]] == ["hola", "second"]
    assert [m["seq"] for m in conv["messages"]] == sorted(m["seq"] for m in conv["messages"])
    assert len(events.of("conversation.opened", channel_id=f"ch-{unique}")) == 1
    assert conv["state"] == "queued" and conv["position"] == 1


async def test_channel_without_campaign_is_dead_lettered_with_reason(nats_js, router, unique, kit):
    _, js = nats_js
    msg = kit.inbound(f"ch-none-{unique}", "+5491100000003", 1)
    await kit.send(js, msg)
    sub = await js.subscribe("sb.dlq.INBOUND.router-inbound", stream=DLQ_STREAM,
                             ordered_consumer=True)
    try:
        while True:
            m = await sub.next_msg(timeout=10)
            if f"ch-none-{unique}".encode() in m.data:
                break
    finally:
        await sub.unsubscribe()
    assert f"ch-none-{unique}" in m.headers["Sb-Dlq-Reason"] and "campaign" in m.headers["Sb-Dlq-Reason"]
    assert m.headers["Sb-Dlq-Reason"].startswith("not_found")


async def test_concurrent_messages_from_one_contact_open_one_conversation(nats_js, routers, events, unique, kit):
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique))
    await asyncio.sleep(0.2)
    msgs = [kit.inbound(f"ch-{unique}", "+5491100000004", n, f"m{n}") for n in range(40)]
    await asyncio.gather(*(kit.send(js, m) for m in msgs))
    await events.wait_for("conversation.message", 40, channel_id=f"ch-{unique}", timeout=20)
    opened = events.of("conversation.opened", channel_id=f"ch-{unique}")
    assert len(opened) == 1 and isinstance(opened[0], ConversationOpened)
    cid = opened[0].conversation_id
    conv = await kit.get_json(routers[1], f"/conversations/{cid}")
    assert sorted(m["text"] for m in conv["messages"]) == sorted(f"m{n}" for n in range(40))
    assert len({m["seq"] for m in conv["messages"]}) == 40


async def test_bad_requests_name_the_field(router, unique, kit):
    cases = [
        ("put", f"/agents/a-{unique}/status", {"status": "sleeping"}, 400, "status"),
        ("put", f"/agents/a-{unique}/status", [], 400, "body"),
        ("get", "/conversations", None, 400, "agent_id"),
        ("get", f"/conversations/none-{unique}", None, 404, "conversation_id"),
        ("post", f"/conversations/none-{unique}/messages", {"agent_id": "a", "text": "x"}, 404, "conversation_id"),
        ("post", f"/conversations/none-{unique}/messages", {"text": "x"}, 400, "agent_id"),
        ("post", f"/conversations/none-{unique}/messages", {"agent_id": "a"}, 400, "text"),
        ("post", f"/conversations/none-{unique}/close", {"agent_id": "a", "fields": []}, 400, "fields"),
        ("post", f"/conversations/none-{unique}/transfer", {"agent_id": "a"}, 400, "to_agent_id"),
        ("get", f"/queues/none-{unique}", None, 404, "campaign_id"),
    ]
    for method, path, body, code, field in cases:
        resp = await getattr(router, method)(path, json=body) if body is not None else await router.get(path)
        data = await resp.json()
        assert resp.status == code, (path, data)
        assert data["error"]["field"] == field, (path, data)
    resp = await router.put(f"/agents/a-{unique}/status", data=b"{not json")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"


async def test_instagram_comment_closes_with_the_ignore_typification(nats_js, router, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, channel_type="instagram", ignore_comment_typification="ignored"))
    await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "@fan", 1, "nice post", channel_type="instagram", kind="comment"))
    await kit.send(js, kit.inbound(f"ch-{unique}", "@dm", 1, "hola", channel_type="instagram"))
    assigned = await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}")
    by_contact = {a.contact_address: a.conversation_id for a in assigned}
    ignore = {"agent_id": agent, "typification_id": "ignored", "fields": {}}
    resp = await router.post(f"/conversations/{by_contact['@dm']}/close", json=ignore)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "typification_id"
    resp = await router.post(f"/conversations/{by_contact['@fan']}/close", json=ignore)
    assert resp.status == 200, await resp.text()
    [closed] = await events.wait_for("conversation.closed", conversation_id=by_contact["@fan"])
    assert closed.typification_id == "ignored"


async def test_a_reply_retried_with_its_client_id_is_sent_once(nats_js, router, events, unique, kit):
    """An agent whose reply timed out sends it again with the same ``client_message_id``: one message, one
    outbound command, the same answer; even once the conversation has moved on (closed) since."""
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique))
    await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+5491100000077", 1, "hola"))
    [assigned] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    cid = assigned.conversation_id
    body = {"agent_id": agent, "text": "Te ayudo", "client_message_id": "web-1:a"}
    answers = []
    for _ in range(2):
        resp = await router.post(f"/conversations/{cid}/messages", json=body)
        assert resp.status == 201, await resp.text()
        answers.append(await resp.json())
    assert answers[0] == answers[1] and answers[0]["message_id"] == f"{cid}-web-1:a"
    await kit.close_ok(router, cid, agent)
    resp = await router.post(f"/conversations/{cid}/messages", json=body)
    assert resp.status == 201 and await resp.json() == answers[0]
    # Without the client's id, every call is a new reply (refused now: the conversation is closed).
    resp = await router.post(f"/conversations/{cid}/messages", json={**body, "client_message_id": None})
    assert resp.status == 409
    await events.wait_for("conversation.closed", conversation_id=cid)
    assert len(events.of("outbound.message", conversation_id=cid)) == 1
    assert len(events.of("conversation.message", conversation_id=cid, direction="out")) == 1
    conv = await kit.get_json(router, f"/conversations/{cid}")
    assert [m["text"] for m in conv["messages"]] == ["hola", "Te ayudo"]
    resp = await router.post(f"/conversations/{cid}/messages", json={**body, "client_message_id": "a b"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "client_message_id"


async def test_replies_follow_the_campaigns_media_and_emoji_rules(nats_js, router, events, unique, kit):
    """The router, which sends replies, enforces the campaign's media and emoji permissions on every path
    (not only behind the gateway); the other campaign, which allows both, sends them."""
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, permissions={"media": False, "emojis": False}))
    await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+5491100000009", 1))
    [assigned] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    cid = assigned.conversation_id
    photo = {"kind": "image", "url": "https://example.com/a.png"}
    for body, field in (({"text": "Listo 😊"}, "text"), ({"text": "mira", "media": [photo]}, "media")):
        resp = await router.post(f"/conversations/{cid}/messages", json={"agent_id": agent, **body})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, body
    assert events.of("outbound.message", conversation_id=cid) == []
    await kit.put_campaign(js, kit.campaign(unique, permissions={"media": True, "emojis": True}))
    for _ in range(100):  # the watch applies the new snapshot
        resp = await router.post(f"/conversations/{cid}/messages", json={"agent_id": agent, "text": "Listo 😊"})
        if resp.status == 201:
            break
        await asyncio.sleep(0.05)
    assert resp.status == 201, await resp.text()
    [out] = await events.wait_for("outbound.message", conversation_id=cid)
    assert out.text == "Listo 😊"


async def test_a_fetch_decided_together_keeps_each_messages_outcome_and_order(nats_js, router, events, unique, kit):
    """``decide_inbound_many`` (one Redis round trip for a fetch): a message sees the conversation the one before
    it opened, a redelivery in the same fetch is a duplicate, and a message of a channel without a campaign fails
    alone (the consumer dead-letters it) while the others are decided."""
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique))
    await asyncio.sleep(0.2)
    first = kit.inbound(f"ch-{unique}", "+5491100000005", 1, "uno")
    fetch = [first, kit.inbound(f"ch-none-{unique}", "+5491100000005", 2, "perdido"),
             kit.inbound(f"ch-{unique}", "+5491100000005", 3, "dos"), first.model_copy()]
    outcomes = await router.app[ROUTER].decide_inbound_many(fetch)
    opened, lost, second, again = outcomes
    assert isinstance(opened, dict) and opened["new"] is True
    assert isinstance(lost, NotFound) and lost.field == "channel_id"
    assert isinstance(second, dict) and second["conversation_id"] == opened["conversation_id"] and not second["new"]
    assert isinstance(again, dict) and again["duplicate"] is True
    msgs = await events.wait_for("conversation.message", 2, conversation_id=opened["conversation_id"])
    assert [m.text for m in msgs] == ["uno", "dos"]
    assert len(events.of("conversation.opened", channel_id=f"ch-{unique}")) == 1

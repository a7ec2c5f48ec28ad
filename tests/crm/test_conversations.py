"""Conversation events from the router, persisted idempotently; contact linking; validated closures."""

from __future__ import annotations

import asyncio
import json

from libs.contracts import (
    CampaignSnapshot,
    ConversationAssigned,
    ConversationClosed,
    ConversationMessage,
    ConversationOpened,
    CustomField,
    Typification,
)


def _campaign(unique: str, **extra) -> CampaignSnapshot:
    return CampaignSnapshot(
        id=f"camp-{unique}", name=f"Ventas {unique}", agents=[f"ana-{unique}", f"bruno-{unique}"],
        supervisors=[f"sofia-{unique}"],
        typifications=[Typification(id="sale", category="Venta"), Typification(id="no-sale", category="No venta")],
        closing_typifications=["sale", "no-sale"],
        custom_fields=[CustomField(key="amount", label="Monto", type="number", required=True),
                       CustomField(key="plan", label="Plan", type="select", options=["A", "B"])],
        **extra)


def _events(unique: str, address: str, campaign_id: str | None, channel_type: str = "whatsapp") -> dict:
    common = {"conversation_id": f"conv-{unique}", "campaign_id": campaign_id, "channel_id": f"ch-{unique}",
              "channel_type": channel_type, "contact_address": address}
    return {
        "opened": ConversationOpened(**common, seq=1),
        "assigned": ConversationAssigned(**common, agent_id=f"ana-{unique}", seq=2),
        "msg_in": ConversationMessage(**common, agent_id=f"ana-{unique}", seq=3, message_id=f"m1-{unique}",
                                      text="hola", direction="in"),
        "msg_out": ConversationMessage(**common, agent_id=f"ana-{unique}", seq=4, message_id=f"m2-{unique}",
                                       text="buen día", direction="out"),
    }


async def _conversation(client, h, conv_id: str, check) -> dict:
    async def ready():
        resp = await client.get(f"/conversations/{conv_id}")
        if resp.status != 200:
            return None
        body = await resp.json()
        return body if check(body) else None

    try:
        return await h.eventually(ready)
    except AssertionError:  # say what the CRM recorded: which events it handled, and the row they made
        async with h.pool.acquire() as conn:
            handled = await conn.fetch("SELECT type, seq FROM crm.conversation_events WHERE conversation_id = $1 "
                                       "ORDER BY seq", conv_id)
            row = await conn.fetchrow("SELECT status, agent_id, last_seq FROM crm.conversations WHERE id = $1",
                                      conv_id)
        raise AssertionError(f"{conv_id}: events handled {[tuple(r) for r in handled]}, row "
                             f"{dict(row) if row else None}") from None


async def test_events_are_persisted_once_and_link_the_single_matching_contact(client, h, unique):
    contact = await (await client.post("/contacts", json={"name": "Cliente", "phones": ["+5491180001234"]})).json()
    ev = _events(unique, "5491180001234", f"camp-{unique}")
    for e in ev.values():
        await h.publish(e)
    # Every event handled (one may be handled again after a transient failure: the consumer retries it).
    conv = await _conversation(client, h, f"conv-{unique}",
                               lambda c: len(c["messages"]) == 2 and c["status"] == "assigned")
    assert conv["contact_id"] == contact["id"] and conv["match_state"] == "linked"
    assert conv["status"] == "assigned" and conv["agent_id"] == f"ana-{unique}"
    assert [m["text"] for m in conv["messages"]] == ["hola", "buen día"]

    # The router re-publishes the same events (new Nats-Msg-Id, same event ids): nothing changes.
    for e in ev.values():
        await h.publish(e, msg_id=f"again-{e.id}")
    closed = ConversationClosed(**{k: getattr(ev["opened"], k) for k in (
        "conversation_id", "campaign_id", "channel_id", "channel_type", "contact_address")},
        agent_id=f"ana-{unique}", seq=5, typification_id="sale", fields={"amount": 10})
    await h.publish(closed)
    await h.publish(closed, msg_id="dup-close")
    conv = await _conversation(client, h, f"conv-{unique}", lambda c: c["closure"] is not None)
    assert len(conv["messages"]) == 2 and conv["status"] == "closed"
    assert conv["closure"]["typification_id"] == "sale" and conv["closure"]["closed_by"] == f"ana-{unique}"
    async with h.pool.acquire() as c:
        n = await c.fetchval("SELECT count(*) FROM crm.conversation_events WHERE conversation_id = $1",
                             f"conv-{unique}")
    assert n == 5
    # A late, older event does not reopen a closed conversation.
    await h.publish(ev["assigned"], msg_id=f"late-{unique}")
    await asyncio.sleep(0.3)
    assert (await (await client.get(f"/conversations/{conv['id']}")).json())["status"] == "closed"
    history = await (await client.get(f"/contacts/{contact['id']}/history")).json()
    assert any(i["kind"] == "conversation" and i["conversation_id"] == conv["id"] and
               i["typification_id"] == "sale" for i in history["items"])
    got = await (await client.get(f"/contacts/{contact['id']}")).json()
    assert got["disposition"] == "sale" and got["last_activity_at"]


async def test_several_matches_are_offered_and_the_agent_links_one(client, h, unique):
    email = f"dup.{unique}@example.com"
    a = await (await client.post("/contacts", json={"name": "A", "emails": [email]})).json()
    b = await (await client.post("/contacts", json={"name": "B", "emails": [email]})).json()
    await h.publish(_events(unique, email.upper(), None, "email")["opened"])
    conv = await _conversation(client, h, f"conv-{unique}", lambda c: True)
    assert conv["contact_id"] is None and conv["match_state"] == "several"
    offered = await (await client.get(f"/conversations/{conv['id']}/matches")).json()
    assert offered["result"] == "several" and {c["id"] for c in offered["contacts"]} == {a["id"], b["id"]}
    bad = await client.put(f"/conversations/{conv['id']}/contact", json={"contact_id": "ghost"})
    assert bad.status == 404 and (await bad.json())["error"]["field"] == "contact_id"
    ok = await client.put(f"/conversations/{conv['id']}/contact", json={"contact_id": b["id"]})
    assert ok.status == 200 and (await ok.json())["contact_id"] == b["id"]


async def test_no_match_leaves_the_conversation_unlinked(client, h, unique):
    await h.publish(_events(unique, f"nobody_{unique}", None, "instagram")["opened"])
    conv = await _conversation(client, h, f"conv-{unique}", lambda c: True)
    assert conv["contact_id"] is None and conv["match_state"] == "none"
    offered = await (await client.get(f"/conversations/{conv['id']}/matches")).json()
    assert offered["result"] == "none" and offered["address"]["handle"] == f"nobody_{unique}"


async def test_a_message_handled_before_a_state_event_does_not_hide_that_state(client, h, unique):
    """A message carries no state: handled first (a redelivery, replicas sharing the consumer), its higher seq
    must not make the assignment look old. A two-worker CI run showed 'opened' with every event recorded."""
    ev = _events(unique, "+5491180007777", f"camp-{unique}")
    for key in ("msg_in", "msg_out", "opened", "assigned"):  # handled in this order: one consumer, stream order
        await h.publish(ev[key])
    conv = await _conversation(client, h, f"conv-{unique}", lambda c: c["status"] == "assigned")
    assert len(conv["messages"]) == 2 and conv["last_seq"] == 4 and conv["agent_id"] == f"ana-{unique}"
    # An older state event (seq 1, a new event id) still changes nothing; a message after it tells it was handled.
    await h.publish(ev["opened"].model_copy(update={"id": f"again-{unique}"}))
    await h.publish(ev["msg_in"].model_copy(update={"id": f"m3-{unique}", "message_id": f"m3-{unique}", "seq": 5}))
    conv = await _conversation(client, h, f"conv-{unique}", lambda c: len(c["messages"]) == 3)
    assert conv["status"] == "assigned" and conv["last_seq"] == 5


async def test_crm_closure_is_validated_against_the_campaign(client, h, unique, nc):
    camp = await h.put_campaign(_campaign(unique))
    ev = _events(unique, "+5491180009999", camp.id)
    for key in ("opened", "assigned", "msg_in"):
        await h.publish(ev[key])
    conv_id = f"conv-{unique}"
    await _conversation(client, h, conv_id, lambda c: len(c["messages"]) == 1 and c["status"] == "assigned")
    url = f"/conversations/{conv_id}/close"
    ana = h.agent(f"ana-{unique}")

    async def error(body, headers=ana, status=400):
        resp = await client.post(url, json=body, headers=headers)
        assert resp.status == status, await resp.text()
        return (await resp.json())["error"]

    assert (await error({"typification_id": "bogus", "fields": {"amount": 1}}))["field"] == "typification_id"
    assert (await error({"fields": {"amount": 1}}))["field"] == "typification_id"
    missing = await error({"typification_id": "sale", "fields": {"plan": "A"}})
    assert missing["field"] == "fields.amount" and "Monto" in missing["message"]
    assert (await error({"typification_id": "sale", "fields": {"amount": 1, "plan": "Z"}}))["field"] == "fields.plan"
    # Another agent's conversation reads as not there: it cannot be closed by them.
    assert (await error({"typification_id": "sale", "fields": {"amount": 1}}, h.agent(f"bruno-{unique}"),
                        404))["field"] == "id"
    assert (await error({"typification_id": "sale", "fields": {"amount": 1}}, ana, 409))["field"] == "reply"
    conv = await (await client.get(f"/conversations/{conv_id}")).json()
    assert conv["closure"] is None and conv["status"] == "assigned"

    await h.publish(ev["msg_out"])
    await _conversation(client, h, conv_id, lambda c: len(c["messages"]) == 2)
    sub = await nc.subscribe(f"sb.agent.cmd.close.ana-{unique}")
    await nc.flush()  # the server knows the subscription before the CRM publishes on its own connection
    resp = await client.post(url, json={"typification_id": "sale", "fields": {"amount": 5, "plan": "B"}},
                             headers=ana)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "closed" and body["closure"]["closed_by"] == f"ana-{unique}"
    command = json.loads((await sub.next_msg(timeout=5)).data)
    assert command["type"] == "agent.close" and command["conversation_id"] == conv_id
    assert command["typification_id"] == "sale" and command["fields"] == {"amount": 5, "plan": "B"}
    await sub.unsubscribe()
    assert (await error({"typification_id": "sale", "fields": {"amount": 1}}, ana, 409))["field"] == \
        "conversation_id"


async def test_supervisor_may_close_and_unknown_campaign_is_refused(client, h, unique):
    camp = await h.put_campaign(_campaign(unique, permissions={"close_without_reply": True}))
    ev = _events(unique, "+5491180007777", camp.id)
    await h.publish(ev["opened"])
    await h.publish(ev["assigned"])
    conv_id = f"conv-{unique}"
    await _conversation(client, h, conv_id, lambda c: c["status"] == "assigned")
    resp = await client.post(f"/conversations/{conv_id}/close", json={"typification_id": "no-sale",
                             "fields": {"amount": 0}}, headers=h.agent(f"sofia-{unique}", "supervisor"))
    assert resp.status == 200, await resp.text()
    other = _events("x" + unique, "+5491180007778", f"missing-{unique}")
    await h.publish(other["opened"])
    await _conversation(client, h, f"conv-x{unique}", lambda c: True)
    resp = await client.post(f"/conversations/conv-x{unique}/close", json={"typification_id": "sale"})
    assert resp.status == 409 and (await resp.json())["error"]["field"] == "campaign_id"

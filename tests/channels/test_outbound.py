"""Outbound delivery through a local Graph API peer: the documented body, retries, dead letters, statuses."""

from __future__ import annotations

import json

import pytest

from libs.contracts import OutboundMessage
from libs.messaging import publish

DLQ_SUBJECT = "sb.dlq.OUTBOUND.channels-outbound"


@pytest.fixture
async def wa_out(channels, graph_peer, unique):
    cid = f"wao-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "whatsapp", "app_secret": "s", "access_token": f"tok-{unique}",
        "phone_number_id": "555000111", "base_url": graph_peer.url})
    assert resp.status == 201, await resp.text()
    return cid


def _command(cid: str, **kw) -> OutboundMessage:
    fields = {"channel_id": cid, "channel_type": "whatsapp", "to": "+34600111222", "text": "¡Hola!",
              "conversation_id": "conv-1", "agent_id": "agent-ana"} | kw
    return OutboundMessage(**fields)


async def test_delivery_reaches_the_graph_api_and_reports_sent(channels, wa_out, graph_peer, nats_js, streams,
                                                               unique):
    cmd = _command(wa_out, reply_to="wamid.customer.1")
    await publish(nats_js[1], cmd)
    [req] = await graph_peer.wait_for(1)
    assert req["method"] == "POST" and req["path"] == "/v21.0/555000111/messages"
    assert req["headers"]["Authorization"] == f"Bearer tok-{unique}"
    assert req["body"] == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "34600111222",
                           "type": "text", "text": {"preview_url": False, "body": "¡Hola!"},
                           "context": {"message_id": "wamid.customer.1"}}
    [(_, status)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{wa_out}")
    assert status["status"] == "sent" and status["outbound_id"] == cmd.id
    assert status["provider_message_id"].startswith("wamid.peer.")
    assert status["conversation_id"] == "conv-1" and status["agent_id"] == "agent-ana"


async def test_provider_statuses_name_the_conversation_we_sent(channels, wa_out, graph_peer, nats_js, streams):
    cmd = _command(wa_out)
    await publish(nats_js[1], cmd)
    [(_, sent)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{wa_out}")
    wamid = sent["provider_message_id"]
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
            {"id": wamid, "status": "delivered", "timestamp": "1700000000", "recipient_id": "34600111222"}]}}]}]})
    import hashlib
    import hmac
    sig = "sha256=" + hmac.new(b"s", body.encode(), hashlib.sha256).hexdigest()
    resp = await channels.post(f"/webhooks/whatsapp/{wa_out}", data=body, headers={"X-Hub-Signature-256": sig})
    assert resp.status == 200
    found = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{wa_out}", 1,
                                    where=lambda m: m["status"] == "delivered")
    assert found[0][1]["outbound_id"] == cmd.id and found[0][1]["conversation_id"] == "conv-1"


async def test_5xx_and_429_are_retried_then_delivered_once(channels, wa_out, graph_peer, nats_js, streams):
    graph_peer.script = [(503, {"error": {"message": "busy"}}, {}),
                         (429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}),
                         (500, {"error": {"message": "oops"}}, {})]
    cmd = _command(wa_out)
    await publish(nats_js[1], cmd)
    found = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{wa_out}")
    assert [m["status"] for _, m in found] == ["sent"]
    assert len(graph_peer.requests) == 4  # three refusals, then the one that went through
    assert len({json.dumps(r["body"]) for r in graph_peer.requests}) == 1


async def test_a_provider_400_is_dead_lettered_with_its_text(channels, wa_out, graph_peer, nats_js, streams, unique):
    graph_peer.script = [(400, {"error": {"message": f"(#131030) Recipient {unique} not in allowed list",
                                          "type": "OAuthException", "code": 131030,
                                          "error_data": {"details": "Add the number to the allowed list"}}}, {})]
    cmd = _command(wa_out)
    await publish(nats_js[1], cmd)
    found = await streams.wait_read("DEADLETTER", DLQ_SUBJECT, 1, where=lambda m: m.get("id") == cmd.id)
    assert len(found) == 1
    headers, payload = found[0]
    assert f"Recipient {unique} not in allowed list" in headers["Sb-Dlq-Reason"]
    assert "Add the number to the allowed list" in headers["Sb-Dlq-Reason"]
    assert payload["text"] == "¡Hola!" and len(graph_peer.requests) == 1
    assert await streams.count("CONVERSATIONS", f"sb.conv.status.{wa_out}") == 0
    # visible through the API, with the provider's reason
    resp = await channels.get("/dead-letters", params={"channel_id": wa_out})
    [item] = (await resp.json())["items"]
    assert item["message"]["id"] == cmd.id and "not in allowed list" in item["reason"]
    assert item["subject"] == cmd.subject() and cmd.subject().startswith(f"sb.outbound.whatsapp.{wa_out}.")
    resp = await channels.get("/dead-letters", params={"limit": "0"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "limit"


async def test_commands_that_cannot_be_sent_are_dead_lettered(channels, wa_out, nats_js, streams, unique):
    bad = [_command(f"missing-{unique}"), _command(wa_out, text=None),
           _command(wa_out, channel_type="sms")]
    for cmd in bad:
        await publish(nats_js[1], cmd)
    for cmd, reason in zip(bad, ("not found", "needs text or media", "is whatsapp, not sms"), strict=True):
        found = await streams.wait_read("DEADLETTER", DLQ_SUBJECT, 1, where=lambda m, c=cmd: m.get("id") == c.id)
        assert found and reason in found[0][0]["Sb-Dlq-Reason"]


async def test_a_provider_down_for_a_while_delays_but_loses_nothing(channels, wa_out, graph_peer, nats_js, streams):
    # More failures than one delivery's tries: the command is nak'ed, redelivered later, and sent once.
    graph_peer.script = [(503, {"error": {"message": "maintenance"}}, {})] * 6
    cmd = _command(wa_out)
    await publish(nats_js[1], cmd)
    found = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{wa_out}", timeout=30)
    assert [m["status"] for _, m in found] == ["sent"] and found[0][1]["outbound_id"] == cmd.id
    assert len(graph_peer.requests) == 7

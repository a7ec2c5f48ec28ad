"""WhatsApp Cloud API webhooks: signed fixture payloads land in INBOUND; a bad envelope is refused whole (a bad
item of a good envelope: tests/security/test_partial_meta_batch.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

WA = Path("/work/shared/fixtures/providers/whatsapp")
PYWA_SECRET = "1222e786b144d0e85b9f365372d93676"


def sign(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.fixture
async def wa_channel(channels, unique):
    cid = f"wa-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": PYWA_SECRET,
                                                  "verify_token": f"vt-{unique}", "access_token": "t",
                                                  "phone_number_id": "277321005464405"})
    assert resp.status == 201, await resp.text()
    return cid


def subject(cid: str) -> str:
    return f"sb.inbound.whatsapp.{cid}"


async def test_signed_pywa_body_lands_in_inbound(channels, wa_channel, streams):
    body = (WA / "wa_signed_text.pywa.body").read_bytes()
    resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 200, await resp.text()
    stored = await streams.read("INBOUND", subject(wa_channel))
    assert len(stored) == 1
    headers, msg = stored[0]
    wamid = "wamid.HBgMOTcyNTQ0NDAxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA"
    assert headers["Nats-Msg-Id"] == f"in:{wa_channel}:{wamid}"
    assert msg["type"] == "inbound.message" and msg["channel_id"] == wa_channel
    assert msg["contact_address"] == "+972544401243" and msg["contact_name"] == "PyWa Tests"
    assert msg["provider_message_id"] == wamid and msg["text"] == "Hey there! I am using PyWa."
    assert msg["sent_at"].startswith("2024-10-29T19:58:23") and msg["kind"] == "message"


async def test_batch_with_the_same_wamid_twice_and_a_retry_store_one(channels, wa_channel, streams):
    body = (WA / "wa_batch_two_messages_one_change.courier.json").read_bytes()
    for _ in range(2):  # the provider retries the whole POST
        resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
        assert resp.status == 200, await resp.text()
    stored = await streams.read("INBOUND", subject(wa_channel))
    assert [m["provider_message_id"] for _, m in stored] == ["external_id"]
    assert stored[0][1]["contact_name"] == "Kerry Fisher" and stored[0][1]["text"] == "Hello World"


def _envelope(messages: list[dict], contacts: list[dict] | None = None, statuses: list[dict] | None = None,
              entries: int = 1) -> dict:
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
             "contacts": contacts or [], "messages": messages}
    if statuses:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": str(i), "changes": [{"field": "messages", "value": value}]} for i in range(entries)]}


async def test_every_entry_and_change_media_replies_and_unsupported(channels, wa_channel, streams, unique):
    msgs = [
        {"from": "34600111222", "id": f"wamid.{unique}.1", "timestamp": "1700000000", "type": "image",
         "image": {"id": "media-1", "mime_type": "image/jpeg", "caption": "la factura"},
         "context": {"from": "100", "id": "wamid.ours"}},
        {"from": "34600111222", "id": f"wamid.{unique}.2", "timestamp": "1700000001", "type": "document",
         "document": {"id": "media-2", "mime_type": "application/pdf", "filename": "f.pdf"}},
        {"from": "34600111222", "id": f"wamid.{unique}.3", "timestamp": "1700000002", "type": "unsupported",
         "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {"from": "34600111222", "id": f"wamid.{unique}.4", "timestamp": "1700000003", "type": "reaction",
         "reaction": {"message_id": "wamid.x", "emoji": "👍"}},
    ]
    doc = _envelope(msgs[:2], [{"wa_id": "34600111222", "profile": {"name": "Ana"}}])
    doc["entry"].append(_envelope(msgs[2:])["entry"][0])
    body = json.dumps(doc).encode()
    resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["messages"] == 4
    stored = {m["provider_message_id"]: m for _, m in await streams.read("INBOUND", subject(wa_channel))}
    img = stored[f"wamid.{unique}.1"]
    assert img["contact_address"] == "+34600111222" and img["contact_name"] == "Ana"
    assert img["reply_to"] == "wamid.ours" and img["text"] == "la factura"
    assert img["media"][0] == {"kind": "image", "provider_id": "media-1", "mime_type": "image/jpeg",
                                    "caption": "la factura", "url": None, "filename": None}
    assert stored[f"wamid.{unique}.2"]["media"][0]["filename"] == "f.pdf"
    for n, kind in ((3, "unsupported"), (4, "reaction")):
        m = stored[f"wamid.{unique}.{n}"]
        assert m["kind"] == "unsupported" and m["unsupported_type"] == kind


async def test_statuses_become_delivery_status_events(channels, wa_channel, streams):
    for status in ("delivered", "read", "failed"):
        body = (WA / f"wa_status_{status}.pywa.json").read_bytes()
        resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
        assert resp.status == 200, await resp.text()
    stored = [m for _, m in await streams.read("CONVERSATIONS", f"sb.conv.status.{wa_channel}")]
    assert [(m["status"], m["provider_message_id"]) for m in stored] == [
        ("delivered", "wamid.xyzxyz"), ("read", "wamid.xyzxyz"), ("failed", "wamid.xyzxyz")]
    assert "part of an experiment" in stored[2]["error"]


async def test_bad_or_missing_signature_is_401_and_publishes_nothing(channels, wa_channel, streams):
    body = (WA / "wa_signed_text.pywa.body").read_bytes()
    for headers in ({}, sign("wrong-secret", body), {"X-Hub-Signature-256": "sha256=zz"},
                    sign(PYWA_SECRET, body + b" ")):
        resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["field"] == "X-Hub-Signature-256"
    assert await streams.count("INBOUND", subject(wa_channel)) == 0


async def test_malformed_body_is_400_naming_the_field(channels, wa_channel, streams, unique):
    good = {"from": "34600111222", "id": f"wamid.{unique}.ok", "timestamp": "1700000000", "type": "text",
            "text": {"body": "hola"}}
    bad_bodies = [
        (b"{not json", "body"),
        (b"", "body"),
        (json.dumps({"object": "page", "entry": []}).encode(), "object"),
        (json.dumps({"object": "whatsapp_business_account", "entry": {}}).encode(), "entry"),
        (json.dumps({"object": "whatsapp_business_account"}).encode(), "entry"),
    ]
    for body, field in bad_bodies:
        resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
        assert resp.status == 400, (body, await resp.text())
        assert (await resp.json())["error"]["field"] == field
    assert await streams.count("INBOUND", subject(wa_channel)) == 0
    # A message that is wrong inside a good envelope costs only itself.
    body = json.dumps(_envelope([{**good, "timestamp": "99999999999999999"}])).encode()
    resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 200 and (await resp.json())["rejected"] == 1
    assert await streams.count("INBOUND", subject(wa_channel)) == 0


async def test_unknown_or_inactive_channel_is_404(channels, wa_channel, unique, streams):
    body = (WA / "wa_signed_text.pywa.body").read_bytes()
    resp = await channels.post(f"/webhooks/whatsapp/nope-{unique}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 404
    resp = await channels.post(f"/webhooks/instagram/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 404  # a WhatsApp channel is not an Instagram one
    assert (await channels.put(f"/channels/{wa_channel}", json={"active": False})).status == 200
    resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 404
    assert await streams.count("INBOUND", subject(wa_channel)) == 0


async def test_verification_handshake(channels, wa_channel, unique):
    q = {"hub.mode": "subscribe", "hub.verify_token": f"vt-{unique}", "hub.challenge": "1158201444"}
    resp = await channels.get(f"/webhooks/whatsapp/{wa_channel}", params=q)
    assert resp.status == 200 and resp.content_type == "text/plain" and await resp.text() == "1158201444"
    for bad in ({**q, "hub.verify_token": "nope"}, {**q, "hub.mode": "unsubscribe"},
                {k: v for k, v in q.items() if k != "hub.verify_token"}):
        resp = await channels.get(f"/webhooks/whatsapp/{wa_channel}", params=bad)
        assert resp.status == 403 and "1158201444" not in await resp.text()
    assert (await channels.get(f"/webhooks/whatsapp/nope-{unique}", params=q)).status == 404


async def test_changes_and_statuses_not_understood_are_dead_lettered_not_dropped(channels, wa_channel, streams,
                                                                                 unique):
    doc = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT", "phone_number": "+14155550100"}},
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
            {"id": f"wamid.{unique}", "status": "deleted", "timestamp": "1700000000", "recipient_id": "1"}]}},
    ]}]}
    body = json.dumps(doc).encode()
    resp = await channels.post(f"/webhooks/whatsapp/{wa_channel}", data=body, headers=sign(PYWA_SECRET, body))
    assert resp.status == 200 and (await resp.json())["rejected"] == 2
    letters = await streams.wait_read("DEADLETTER", "sb.dlq.INBOUND.channels-webhooks", 2,
                                      where=lambda d: d.get("channel_id") == wa_channel)
    reasons = {d["path"]: h["Sb-Dlq-Reason"] for h, d in letters}
    assert "'account_update' is not a field this platform handles" in reasons["entry[0].changes[0].field"]
    assert "'deleted' is not one of" in reasons["entry[0].changes[1].value.statuses[0].status"]

"""Twilio SMS: signed form webhooks (Twilio's documented algorithm), status callbacks, REST sends."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from libs.contracts import OutboundMessage
from libs.messaging import publish
from services.channels.domain.signatures import twilio_signature

TW = Path("/work/shared/fixtures/providers/twilio")
TOKEN = "twilio-auth-token"


def twilio_sign(url: str, body: bytes, token: str = TOKEN) -> dict[str, str]:
    params = parse_qsl(body.decode(), keep_blank_values=True)
    sig = twilio_signature(token, url, params)
    return {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


def form(name: str) -> bytes:
    return (TW / name).read_bytes().strip()


@pytest.fixture
async def twilio_peer(make_peer, unique):
    return await make_peer(lambda request, n: web.json_response(
        {"sid": f"SM{unique}{n}", "status": "queued"}, status=201))


@pytest.fixture
async def sms_channel(channels, twilio_peer, unique):
    cid = f"sms-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "sms", "account_sid": f"AC{unique}",
                                                  "auth_token": TOKEN, "address": "+12028831111",
                                                  "base_url": twilio_peer.url})
    assert resp.status == 201, await resp.text()
    return cid


async def _post(channels, path: str, body: bytes, headers=None):
    url = str(channels.make_url(path))
    return await channels.post(path, data=body, headers=twilio_sign(url, body) if headers is None else headers)


@pytest.mark.parametrize("name, text, media", [
    ("twilio_sms_inbound.courier.form", "Msg", []),
    ("twilio_sms_inbound_mms_2media.courier.form", None, ["cat.jpg", "dog.jpg"]),
    ("twilio_whatsapp_inbound.courier.form", "Msg", []),
])
async def test_signed_inbound_lands_in_inbound(channels, sms_channel, streams, name, text, media):
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}", form(name))
    assert resp.status == 200, await resp.text()
    assert "<Response>" in await resp.text() and resp.content_type == "text/xml"
    [(headers, msg)] = await streams.read("INBOUND", f"sb.inbound.sms.{sms_channel}")
    assert headers["Nats-Msg-Id"] == f"in:{sms_channel}:SMe287d7109a5a925f182f0e07fe5b223b"
    assert msg["contact_address"] == "+14133881111" and msg["text"] == text
    assert [m["url"] for m in msg["media"]] == media


async def test_bad_signature_or_form_is_refused(channels, sms_channel, streams):
    body = form("twilio_sms_inbound.courier.form")
    url = str(channels.make_url(f"/webhooks/sms/{sms_channel}"))
    for headers in ({}, twilio_sign(url, body, "other-token"), twilio_sign(url + "?x=1", body),
                    twilio_sign(url, body + b"&Extra=1")):
        resp = await _post(channels, f"/webhooks/sms/{sms_channel}", body, headers)
        assert resp.status == 401 and (await resp.json())["error"]["field"] == "X-Twilio-Signature"
    no_from = b"MessageSid=SM1&Body=hola"
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}", no_from)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "From"
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}", b"MessageSid=SM1&From=%2B1&NumMedia=zz")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "NumMedia"
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}", b"\xff\xfe=1", {"X-Twilio-Signature": "x"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
    assert await streams.count("INBOUND", f"sb.inbound.sms.{sms_channel}") == 0


async def test_status_callbacks_become_delivery_statuses(channels, sms_channel, streams):
    for name in ("twilio_sms_status_sent_full", "twilio_sms_status_delivered", "twilio_sms_status_read",
                 "twilio_sms_status_failed_21610_stop"):
        resp = await _post(channels, f"/webhooks/sms/{sms_channel}/status", form(f"{name}.courier.form"))
        assert resp.status == 200, await resp.text()
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}/status", b"MessageSid=SM9&MessageStatus=queued")
    assert resp.status == 200
    stored = [m for _, m in await streams.read("CONVERSATIONS", f"sb.conv.status.{sms_channel}")]
    assert [m["status"] for m in stored] == ["sent", "delivered", "read", "failed"]
    assert stored[3]["error"].startswith("21610")
    resp = await _post(channels, f"/webhooks/sms/{sms_channel}/status", b"MessageSid=SM9")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "MessageStatus"


async def test_outbound_is_a_twilio_rest_call(channels, sms_channel, twilio_peer, nats_js, streams, unique):
    cmd = OutboundMessage(channel_id=sms_channel, channel_type="sms", to="+14133881111", text="Su turno: 12",
                          conversation_id="c-sms")
    await publish(nats_js[1], cmd)
    [req] = await twilio_peer.wait_for(1)
    assert req["path"] == f"/2010-04-01/Accounts/AC{unique}/Messages.json"
    expected = "Basic " + base64.b64encode(f"AC{unique}:{TOKEN}".encode()).decode()
    assert req["headers"]["Authorization"] == expected
    assert req["body"] == {"To": "+14133881111", "From": "+12028831111", "Body": "Su turno: 12"}
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{sms_channel}")
    assert st["status"] == "sent" and st["provider_message_id"] == f"SM{unique}1" and st["outbound_id"] == cmd.id


async def test_a_twilio_400_is_dead_lettered_with_its_message(channels, sms_channel, twilio_peer, nats_js,
                                                              streams):
    twilio_peer.script = [(400, {"code": 21211, "message": "The 'To' number 5 is not a valid phone number.",
                                 "status": 400}, {})]
    cmd = OutboundMessage(channel_id=sms_channel, channel_type="sms", to="5", text="x")
    await publish(nats_js[1], cmd)
    found = await streams.wait_read("DEADLETTER", "sb.dlq.OUTBOUND.channels-outbound", 1,
                                    where=lambda m: m.get("id") == cmd.id)
    assert found and "(21211) The 'To' number 5 is not a valid phone number." in found[0][0]["Sb-Dlq-Reason"]

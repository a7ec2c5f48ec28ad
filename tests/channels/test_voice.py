"""Voice: Asterisk ARI events and Twilio Voice status callbacks become call events; click-to-call
originates through ARI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from libs.contracts import ConversationAssigned, OutboundMessage
from libs.messaging import publish
from services.channels.domain.signatures import twilio_signature

ARI = Path("/work/shared/fixtures/providers/asterisk")
SECRET, TOKEN = "ari-forwarder-secret", "ari-password"


def hub_sign(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def twilio_sign(url: str, body: bytes) -> dict[str, str]:
    sig = twilio_signature(TOKEN, url, parse_qsl(body.decode(), keep_blank_values=True))
    return {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def ari_peer(make_peer):
    return await make_peer(lambda request, n: web.json_response(
        {"id": request.query.get("channelId", "x"), "name": "PJSIP/x", "state": "Down"}))


@pytest.fixture
async def voice_channel(channels, ari_peer, unique):
    cid = f"voice-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "address": "+34910000000",
        "base_url": ari_peer.url, "config": {"ari_username": "sb", "endpoint_template": "PJSIP/{to}@trunk"}})
    assert resp.status == 201, await resp.text()
    return cid


async def test_ari_events_of_a_call_become_one_event_per_stage(channels, voice_channel, streams):
    names = ["ari_stasis_start_ring.cgrates", "ari_channel_state_change_up.cgrates",
             "ari_channel_hangup_request.voipbin", "ari_channel_destroyed.voipbin", "ari_stasis_end.asterisk_docs"]
    for name in names:
        body = (ARI / f"{name}.json").read_bytes()
        resp = await channels.post(f"/webhooks/voice/{voice_channel}", data=body, headers=hub_sign(body))
        assert resp.status == 200, await resp.text()
    stored = await streams.read("INBOUND", f"sb.inbound.voice.{voice_channel}")
    events = {m["provider_message_id"]: m for _, m in stored}
    assert set(events) == {"1473681228.6:ringing", "1473681228.6:answered", "1586480923.6171:ended",
                           "1586480922.6170:ended", "1400609726.3:ended"}
    ring = events["1473681228.6:ringing"]
    assert ring["kind"] == "call" and ring["contact_address"] == "1001" and ring["extra"]["exten"] == "1002"
    ended = events["1586480922.6170:ended"]
    assert ended["extra"]["duration_s"] == "64" and ended["extra"]["cause"] == "18"


async def test_twilio_voice_status_callbacks(channels, voice_channel, streams):
    path = f"/webhooks/voice/{voice_channel}"
    url = str(channels.make_url(path))
    calls = [("ringing", None), ("in-progress", None), ("completed", "42"), ("no-answer", None)]
    for i, (status, duration) in enumerate(calls):
        fields = {"CallSid": f"CA{i // 3}", "CallStatus": status, "From": "+14155550100", "To": "+34910000000",
                  "Direction": "inbound", "Timestamp": "Tue, 14 Jun 2022 19:15:04 +0000"}
        if duration:
            fields["CallDuration"] = duration
        body = "&".join(f"{k}={v}" for k, v in fields.items()).replace("+", "%2B").replace(" ", "+").encode()
        resp = await channels.post(path, data=body, headers=twilio_sign(url, body))
        assert resp.status == 200, await resp.text()
    got = [(m["provider_message_id"], m["contact_address"], m["extra"].get("duration_s"))
           for _, m in await streams.read("INBOUND", f"sb.inbound.voice.{voice_channel}")]
    assert got == [("CA0:ringing", "+14155550100", None), ("CA0:answered", "+14155550100", None),
                   ("CA0:ended", "+14155550100", "42"), ("CA1:missed", "+14155550100", None)]


async def test_voice_bad_input(channels, voice_channel, streams):
    body = (ARI / "ari_stasis_start_ring.cgrates.json").read_bytes()
    resp = await channels.post(f"/webhooks/voice/{voice_channel}", data=body,
                               headers={"Content-Type": "application/json"})
    assert resp.status == 401
    bad = json.dumps({"type": "StasisStart", "channel": {"state": "Ring"}}).encode()
    resp = await channels.post(f"/webhooks/voice/{voice_channel}", data=bad, headers=hub_sign(bad))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "channel.id"
    resp = await channels.post(f"/webhooks/voice/{voice_channel}", data=b"CallStatus=ringing",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 401
    assert await streams.count("INBOUND", f"sb.inbound.voice.{voice_channel}") == 0


async def test_click_to_call_originates_through_ari(channels, voice_channel, ari_peer, nats_js, streams):
    cmd = OutboundMessage(channel_id=voice_channel, channel_type="voice", to="+34600111222",
                          conversation_id="conv-9", agent_id="agent-ana")
    await publish(nats_js[1], cmd)
    [req] = await ari_peer.wait_for(1)
    assert req["method"] == "POST" and req["path"] == "/ari/channels"
    assert req["query"] == {"endpoint": "PJSIP/+34600111222@trunk", "app": "switchboard",
                            "channelId": f"sb-{cmd.id}", "timeout": "30",
                            "appArgs": "conversation_id=conv-9,agent_id=agent-ana", "callerId": "+34910000000"}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"sb:{TOKEN}".encode()).decode()
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{voice_channel}")
    assert st["status"] == "sent" and st["provider_message_id"] == f"sb-{cmd.id}"


async def test_an_assigned_call_is_connected_to_the_agents_extension(channels, ari_peer, nats_js, unique):
    cid = f"voice-a-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "base_url": ari_peer.url,
        "config": {"agent_extensions": {"agent-ana": "2001"}}})
    assert resp.status == 201, await resp.text()
    ring = json.loads((ARI / "ari_stasis_start_ring.cgrates.json").read_bytes())
    ring["channel"]["id"] = call_id = f"{unique}.6"
    body = json.dumps(ring).encode()
    assert (await channels.post(f"/webhooks/voice/{cid}", data=body, headers=hub_sign(body))).status == 200
    await publish(nats_js[1], ConversationAssigned(conversation_id=f"conv-{unique}", channel_id=cid,
                                                   channel_type="voice", contact_address="1001",
                                                   agent_id="agent-ana", seq=2))
    [req] = await ari_peer.wait_for(1)
    assert req["path"] == f"/ari/channels/{call_id}/redirect" and req["query"] == {"endpoint": "PJSIP/2001"}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"switchboard:{TOKEN}".encode()).decode()


async def test_an_agent_without_extension_is_dead_lettered_with_the_reason(channels, ari_peer, nats_js, streams,
                                                                          unique):
    cid = f"voice-b-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "voice", "app_secret": SECRET,
                                                  "auth_token": TOKEN, "base_url": ari_peer.url})
    assert resp.status == 201
    body = (ARI / "ari_channel_state_change_up.cgrates.json").read_bytes()
    assert (await channels.post(f"/webhooks/voice/{cid}", data=body, headers=hub_sign(body))).status == 200
    event = ConversationAssigned(conversation_id=f"conv-{unique}", channel_id=cid, channel_type="voice",
                                 contact_address="1001", agent_id="agent-bruno", seq=2)
    await publish(nats_js[1], event)
    found = await streams.wait_read("DEADLETTER", "sb.dlq.CONVERSATIONS.channels-voice-assigned", 1,
                                    where=lambda m: m.get("id") == event.id)
    assert found and "agent agent-bruno has no extension" in found[0][0]["Sb-Dlq-Reason"]
    resp = await channels.get("/dead-letters", params={"consumer": "channels-voice-assigned", "channel_id": cid})
    assert [i["message"]["id"] for i in (await resp.json())["items"]] == [event.id]
    assert ari_peer.requests == []

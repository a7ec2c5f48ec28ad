"""Voice: Asterisk ARI events and Twilio Voice status callbacks become call events; click-to-call
originates through ARI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import web

from libs.contracts import ConversationAssigned, OutboundMessage
from libs.messaging import publish
from services.channels.domain.signatures import twilio_signature

from ..conftest import as_user

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


# --- click-to-call: the CRM asks channels to ring the agent, then the contact -------------------------------


async def test_click_to_call_rings_the_agents_extension_then_the_contact_through_ari(
        channels, ari_peer, streams, unique):
    cid = f"voice-c-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "base_url": ari_peer.url,
        "address": "+34910000000", "config": {"agent_extensions": {"agent-ana": "2001"}, "dial_context": "salida"}})
    assert resp.status == 201, await resp.text()
    call_id = f"call{unique}"
    resp = await channels.post(f"/channels/{cid}/calls", json={"call_id": call_id, "to": "+34600111222",
                                                               "agent_id": "agent-ana"})
    assert resp.status == 201, await resp.text()
    assert await resp.json() == {"call_id": call_id, "channel_id": cid, "provider": "ari",
                                 "provider_call_id": f"sb-{call_id}"}
    [req] = ari_peer.requests
    assert req["method"] == "POST" and req["path"] == "/ari/channels"
    assert req["query"] == {"endpoint": "PJSIP/2001", "extension": "+34600111222", "context": "salida",
                            "priority": "1", "channelId": f"sb-{call_id}", "timeout": "30",
                            "callerId": "+34910000000"}
    assert req["body"] == {"variables": {"SB_CALL_ID": call_id, "SB_AGENT_ID": "agent-ana"}}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"switchboard:{TOKEN}".encode()).decode()
    # Placing the same call again (a retry of the CRM) answers the first call and rings nothing.
    again = await channels.post(f"/channels/{cid}/calls", json={"call_id": call_id, "to": "+34600111222",
                                                                "agent_id": "agent-ana"})
    assert again.status == 201 and (await again.json())["provider_call_id"] == f"sb-{call_id}"
    assert len(ari_peer.requests) == 1
    # The phone system's events of that channel are linked to the call record, not routed as inbound calls.
    for name, ts in (("ari_stasis_start_ring.cgrates", "2026-12-07T08:00:00.000+0000"),
                     ("ari_channel_state_change_up.cgrates", "2026-12-07T08:00:05.000+0000"),
                     ("ari_channel_destroyed.voipbin", "2026-12-07T08:01:10.000+0000")):
        event = json.loads((ARI / f"{name}.json").read_bytes())
        event["channel"]["id"] = f"sb-{call_id}"
        event["channel"]["state"] = "Up" if "destroyed" in name else event["channel"]["state"]
        event["channel"]["creationtime"], event["timestamp"] = "2026-12-07T08:00:00.000+0000", ts
        body = json.dumps(event).encode()
        assert (await channels.post(f"/webhooks/voice/{cid}", data=body, headers=hub_sign(body))).status == 200
    got = [(m["type"], m["call_id"], m["agent_id"], m["stage"], m["duration_s"])
           for _, m in await streams.wait_read("CONVERSATIONS", f"sb.conv.call.{cid}", 3)]
    assert got == [("call.progress", call_id, "agent-ana", "ringing", None),
                   ("call.progress", call_id, "agent-ana", "answered", None),
                   ("call.progress", call_id, "agent-ana", "ended", 70)]
    assert await streams.count("INBOUND", f"sb.inbound.voice.{cid}") == 0


@pytest.fixture
async def twilio_peer(make_peer):
    return await make_peer(lambda request, n: web.json_response(
        {"sid": f"CA{n:032d}", "status": "queued", "direction": "outbound-api"}, status=201))


async def test_click_to_call_through_twilios_calls_api(make_app, twilio_peer, streams, unique):
    async with make_app(public_base_url="https://sb.example.com", outbound_consumer=False) as channels:
        cid = f"voice-t-{unique}"
        resp = await channels.post("/channels", json={
            "id": cid, "type": "voice", "account_sid": "AC123", "auth_token": TOKEN, "base_url": twilio_peer.url,
            "address": "+34910000000", "config": {"agent_extensions": {"agent-ana": "+34911000001"}}})
        assert resp.status == 201, await resp.text()
        call_id = f"call{unique}"
        resp = await channels.post(f"/channels/{cid}/calls", json={"call_id": call_id, "to": "+34600111222",
                                                                   "agent_id": "agent-ana"})
        assert resp.status == 201, await resp.text()
        sid = (await resp.json())["provider_call_id"]
        assert sid == f"CA{1:032d}" and (await resp.json())["provider"] == "twilio"
        [req] = twilio_peer.requests
        assert req["path"] == "/2010-04-01/Accounts/AC123/Calls.json"
        assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"AC123:{TOKEN}".encode()).decode()
        assert req["form"] == [
            ("To", "+34911000001"), ("From", "+34910000000"),
            ("Twiml", '<Response><Dial callerId="+34910000000" timeout="30"><Number>+34600111222</Number>'
                      '</Dial></Response>'),
            ("Timeout", "30"), ("StatusCallback", f"https://sb.example.com/webhooks/voice/{cid}"),
            ("StatusCallbackMethod", "POST"), ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed")]
        path = f"/webhooks/voice/{cid}"
        url = f"https://sb.example.com{path}"  # what Twilio signs: the public URL it was given
        for status, duration in (("initiated", None), ("ringing", None), ("in-progress", None),
                                 ("completed", "42")):
            fields = {"CallSid": sid, "AccountSid": "AC123", "CallStatus": status, "From": "+34910000000",
                      "To": "+34911000001", "Direction": "outbound-api"}
            if duration:
                fields["CallDuration"] = duration
            body = urlencode(fields).encode()
            resp = await channels.post(path, data=body, headers=twilio_sign(url, body))
            assert resp.status == 200, await resp.text()
        got = [(m["call_id"], m["provider_call_id"], m["stage"], m["duration_s"])
               for _, m in await streams.wait_read("CONVERSATIONS", f"sb.conv.call.{cid}", 3)]
        assert got == [(call_id, sid, "ringing", None), (call_id, sid, "answered", None),
                       (call_id, sid, "ended", 42)]
        assert await streams.count("INBOUND", f"sb.inbound.voice.{cid}") == 0


async def test_click_to_call_refusals_name_the_field_and_ring_nothing(channels, ari_peer, unique):
    cid = f"voice-r-{unique}"
    resp = await channels.post("/channels", json={
        "id": cid, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "base_url": ari_peer.url,
        "config": {"agent_extensions": {"agent-ana": "2001"}}})
    assert resp.status == 201
    good = {"call_id": f"c{unique}", "to": "+34600111222", "agent_id": "agent-ana"}
    for body, field in (({**good, "agent_id": "agent-bruno"}, "agent_id"), ({**good, "to": "hola"}, "to"),
                        ({**good, "call_id": "a b"}, "call_id"), ({**good, "extra": 1}, "extra")):
        resp = await channels.post(f"/channels/{cid}/calls", json=body)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, (body, await resp.text())
    resp = await channels.post(f"/channels/{cid}/calls", json=good, headers=as_user("channels", "agent-ana"))
    assert resp.status == 403
    resp = await channels.post("/channels/nope/calls", json=good)
    assert resp.status == 404
    assert ari_peer.requests == []

"""Click-to-call end to end (issue 13 item 6): the agent's ``POST /api/v1/calls/dial`` goes through the gateway to
the real CRM, which records the call and has the real channels service ring the agent's extension, then the
contact, through a local Asterisk ARI peer or a local Twilio peer (both record the requests). The phone system's
events come back through the channels webhook, are linked to the call record (its status and duration) and pop
up on the agent's WebSocket as ``call.progress``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import CampaignSnapshot
from libs.core.service import LIFECYCLE
from services.channels.domain.signatures import twilio_signature
from services.crm.keys import CRM
from services.gateway.app import create_app
from services.gateway.keys import GATEWAY

from ..channels.conftest import ChannelsClient, Peer, channels_settings, start_peer
from .conftest import gateway_settings
from .console_kit import assert_spanish
from .routed_kit import Socket, eventually
from .test_console_browser import log_in, shot

ARI = Path("/work/shared/fixtures/providers/asterisk")
SECRET, TOKEN = "ari-forwarder-secret", "ari-password"
PUBLIC = "https://sb.example.com"


@dataclass
class Voice:
    gw: TestClient
    channels: ChannelsClient
    ari: Peer
    twilio: Peer
    js: Any
    peer: Any  # the campaigns service's local peer (the console reads snapshots from it)

    async def call(self, token: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.gw.request(method, f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"})
        answer = await resp.json()
        assert resp.status == status, (method, path, resp.status, answer)
        return answer

    async def user(self, role: str, user_id: str, password_hash: str = "x") -> str:
        gateway = self.gw.app[GATEWAY]
        await gateway.users.create(id=user_id, username=user_id, display_name=user_id, role=role,
                                   password_hash=password_hash)
        return gateway.tokens.issue((await gateway.users.get(user_id)).principal, "access")

    async def campaign(self, camp_id: str, channel_id: str, agents: list[str]) -> None:
        snap = CampaignSnapshot.model_validate({
            "id": camp_id, "name": f"Campaña {camp_id}", "channels": [{"id": channel_id, "type": "voice"}],
            "typifications": [{"id": "sold", "category": "Venta"}], "agents": agents})
        kv = await self.js.key_value("campaigns")
        await kv.put(snap.id, snap.model_dump_json().encode())
        self.peer.answers[("GET", f"/campaigns/{snap.id}/snapshot")] = (200, snap.model_dump(mode="json"))
        crm = self.crm_directory

        await eventually(lambda: self.gw.app[GATEWAY].directory.get(camp_id) and crm.get(camp_id),
                         f"campaign {camp_id} in the gateway and the CRM")

    crm_directory: Any = None

    async def ari_campaign(self, unique: str, name: str, agent: str, ext: str) -> tuple[str, str]:
        """An ARI voice channel where ``agent`` has extension ``ext``, and a campaign of it: (channel, campaign)."""
        channel, camp = f"voice-{name}-{unique}", f"camp-{name}-{unique}"
        resp = await self.channels.post("/channels", json={
            "id": channel, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "base_url": self.ari.url,
            "address": "+34910000000", "config": {"agent_extensions": {agent: ext}}})
        assert resp.status == 201, await resp.text()
        await self.campaign(camp, channel, [agent])
        return channel, camp


def _ari_ok(request: web.Request, n: int) -> web.Response:
    return web.json_response({"id": request.query.get("channelId", f"x{n}"), "name": "PJSIP/2001-0001",
                              "state": "Down"})


def _twilio_ok(request: web.Request, n: int) -> web.Response:
    return web.json_response({"sid": f"CA{n:032d}", "status": "queued", "direction": "outbound-api"}, status=201)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def voice(stack: Any, tmp_path_factory: Any, router_peer: Any, services_peer: Any) -> AsyncIterator[Voice]:
    from libs.messaging import nats_session
    from services.channels.app import create_app as create_channels
    from services.crm.app import create_app as create_crm
    from services.crm.settings import CrmSettings

    ari, ari_server = await start_peer(_ari_ok)
    twilio, twilio_server = await start_peer(_twilio_ok)
    channels = ChannelsClient(create_channels(channels_settings(stack, public_base_url=PUBLIC,
                                                                outbound_consumer=False)))
    await channels.__aenter__()
    channels_url = str(channels.admin.make_url("")).rstrip("/")
    crm_app = create_crm(CrmSettings(env="test", nats_url=stack.nats_url, redis_url=stack.redis_url,
                                     database_url=stack.database_url, default_region="ES", run_jobs=False,
                                     blob_dir=str(tmp_path_factory.mktemp("c2c-crm")), channels_url=channels_url))
    crm = TestServer(crm_app, host="127.0.0.1")
    await crm.start_server()
    crm_app[LIFECYCLE].ready = True
    settings = gateway_settings(stack, router_peer.url, services_peer.url).model_copy(update={
        "crm_url": str(crm.make_url("")).rstrip("/"), "channels_url": channels_url, "demo_seed": False})
    gw = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await gw.start_server()
    try:
        async with nats_session(stack.nats_url, "click-to-call") as (_, js):
            v = Voice(gw, channels, ari, twilio, js, services_peer)
            v.crm_directory = crm_app[CRM].campaigns
            yield v
    finally:
        await gw.close()
        await crm_app[LIFECYCLE].drain(5)
        await crm.close()
        await channels.__aexit__()
        await ari_server.close()
        await twilio_server.close()


def _ari_event(name: str, channel_id: str, ts: str) -> bytes:
    event = json.loads((ARI / f"{name}.json").read_bytes())
    event["channel"]["id"] = channel_id
    if "destroyed" in name:
        event["channel"]["state"] = "Up"
    event["channel"]["creationtime"], event["timestamp"] = "2026-12-07T08:00:00.000+0000", ts
    return json.dumps(event).encode()


async def test_click_to_call_through_ari_rings_the_agent_then_the_contact_and_pops_up(voice, unique):
    agent = f"c2c-a-{unique}"
    token = await voice.user("agent", agent)
    channel, camp = await voice.ari_campaign(unique, "c2c", agent, "2001")
    sock = Socket(await voice.gw.ws_connect("/api/v1/events"))
    await sock.ws.send_json({"type": "auth", "token": token})
    await sock.wait_for("ready")
    before = len(voice.ari.requests)

    call = await voice.call(token, "POST", "/calls/dial", {"phone": "600 111 222", "campaign_id": camp}, 201)

    assert call["direction"] == "out" and call["agent_id"] == agent and call["phone"] == "+34600111222"
    assert call["status"] == "dialing" and call["channel_id"] == channel
    assert call["provider_call_id"] == f"sb-{call['id']}"
    [req] = voice.ari.requests[before:]
    assert req["path"] == "/ari/channels"
    assert req["query"] == {"endpoint": "PJSIP/2001", "extension": "+34600111222", "context": "from-internal",
                            "priority": "1", "channelId": f"sb-{call['id']}", "timeout": "30",
                            "callerId": "+34910000000"}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(f"switchboard:{TOKEN}".encode()).decode()

    stages = (("ari_stasis_start_ring.cgrates", "2026-12-07T08:00:01.000+0000", "ringing"),
              ("ari_channel_state_change_up.cgrates", "2026-12-07T08:00:05.000+0000", "answered"),
              ("ari_channel_destroyed.voipbin", "2026-12-07T08:01:10.000+0000", "ended"))
    for name, ts, stage in stages:
        await _post_ari(voice, channel, name, call["provider_call_id"], ts)
        popped = await sock.wait_for("call.progress", call_id=call["id"], stage=stage)
        assert popped["agent_id"] == agent
    assert (await sock.wait_for("call.progress", call_id=call["id"], stage="ended"))["duration_s"] == 70

    async def ended() -> Any:
        # The stages are separate events: "answered" may be folded after "ended" (it still fills its time).
        got = await voice.call(token, "GET", f"/calls/{call['id']}")
        return got if got["status"] == "ended" and got["answered_at"] and got["ended_at"] else None

    done = await eventually(ended, "the call record ended with both times")
    assert done["duration_s"] == 70 and done["answered_at"] and done["ended_at"]
    await sock.close()


async def test_click_to_call_through_twilios_calls_api(voice, unique):
    agent = f"c2c-t-{unique}"
    token = await voice.user("agent", agent)
    channel, camp = f"voice-tw-{unique}", f"camp-c2t-{unique}"
    resp = await voice.channels.post("/channels", json={
        "id": channel, "type": "voice", "account_sid": "AC42", "auth_token": TOKEN, "base_url": voice.twilio.url,
        "address": "+34910000000", "config": {"agent_extensions": {agent: "+34911000001"}}})
    assert resp.status == 201, await resp.text()
    await voice.campaign(camp, channel, [agent])
    before = len(voice.twilio.requests)

    call = await voice.call(token, "POST", "/calls/dial", {"phone": "+34600222333", "campaign_id": camp}, 201)

    [req] = voice.twilio.requests[before:]
    assert req["path"] == "/2010-04-01/Accounts/AC42/Calls.json"
    assert req["body"]["To"] == "+34911000001" and req["body"]["From"] == "+34910000000"
    assert "<Number>+34600222333</Number>" in req["body"]["Twiml"]
    assert req["body"]["StatusCallback"] == f"{PUBLIC}/webhooks/voice/{channel}"
    sid = call["provider_call_id"]
    assert sid.startswith("CA")
    path = f"/webhooks/voice/{channel}"
    for status, extra in (("ringing", {}), ("in-progress", {}), ("completed", {"CallDuration": "42"})):
        fields = {"CallSid": sid, "AccountSid": "AC42", "CallStatus": status, "From": "+34910000000",
                  "To": "+34911000001", "Direction": "outbound-api", **extra}
        body = urlencode(fields).encode()
        sig = twilio_signature(TOKEN, f"{PUBLIC}{path}", sorted(fields.items()))
        resp = await voice.channels.post(path, data=body, headers={
            "X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status == 200, await resp.text()

    async def ended() -> Any:
        got = await voice.call(token, "GET", f"/calls/{call['id']}")
        return got if got["status"] == "ended" else None

    assert (await eventually(ended, "the Twilio call ended"))["duration_s"] == 42


async def test_click_to_call_refusals_leave_no_call(voice, unique):
    agent, other = f"c2c-r-{unique}", f"c2c-o-{unique}"
    token = await voice.user("agent", agent)
    await voice.user("agent", other)
    channel, camp, foreign = f"voice-r-{unique}", f"camp-c2r-{unique}", f"camp-c2x-{unique}"
    resp = await voice.channels.post("/channels", json={
        "id": channel, "type": "voice", "app_secret": SECRET, "auth_token": TOKEN, "base_url": voice.ari.url,
        "config": {"agent_extensions": {other: "2002"}}})
    assert resp.status == 201
    await voice.campaign(camp, channel, [agent, other])
    await voice.campaign(foreign, channel, [other])
    before = len(voice.ari.requests)
    # This agent has no extension on the channel: the phone system is never asked, no call is recorded.
    refused = await voice.call(token, "POST", "/calls/dial", {"phone": "+34600111222", "campaign_id": camp}, 400)
    assert refused["error"]["field"] == "agent_id" and "no extension" in refused["error"]["message"]
    for body, status, field in (({"phone": "+34600111222", "campaign_id": foreign}, 403, "campaign_id"),
                                ({"phone": "hola", "campaign_id": camp}, 400, "phone"),
                                ({"campaign_id": camp}, 400, "phone"),
                                ({"phone": "+34600111222", "campaign_id": camp, "channel_id": "wa-1"}, 400,
                                 "channel_id")):
        got = await voice.call(token, "POST", "/calls/dial", body, status)
        assert got["error"]["field"] == field, (body, got)
    assert voice.ari.requests[before:] == []
    mine = await voice.call(token, "GET", "/calls", None)
    assert [c for c in mine["items"] if c.get("campaign_id") == camp] == []


async def test_a_campaign_without_a_voice_channel_records_a_call_dialled_by_hand(voice, unique):
    agent = f"c2c-m-{unique}"
    token = await voice.user("agent", agent)
    camp = f"camp-c2m-{unique}"
    snap = CampaignSnapshot.model_validate({"id": camp, "name": "Sin telefonía",
                                            "channels": [{"id": f"wa-{unique}", "type": "whatsapp"}],
                                            "agents": [agent]})
    kv = await voice.js.key_value("campaigns")
    await kv.put(snap.id, snap.model_dump_json().encode())
    await eventually(lambda: voice.gw.app[GATEWAY].directory.get(camp) and voice.crm_directory.get(camp), camp)
    before = len(voice.ari.requests) + len(voice.twilio.requests)
    call = await voice.call(token, "POST", "/calls/dial", {"phone": "+34600333444", "campaign_id": camp}, 201)
    assert call["status"] == "manual" and call["channel_id"] is None and call["provider_call_id"] is None
    assert len(voice.ari.requests) + len(voice.twilio.requests) == before


async def _post_ari(voice: Voice, channel: str, name: str, provider_call_id: str, ts: str) -> None:
    body = _ari_event(name, provider_call_id, ts)
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    resp = await voice.channels.post(f"/webhooks/voice/{channel}", data=body, headers={
        "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()


@pytest.mark.browser
async def test_the_console_places_the_call_and_shows_its_progress(voice, browser, password_hash, unique):
    """In Chromium, in Spanish: the agent types a number and presses Enter (keyboard only); the phone system is
    asked to ring their extension, and the call pops up over the section, following the phone system's events."""
    agent = f"c2c-ui-{unique}"
    await voice.user("agent", agent, password_hash)
    channel, _ = await voice.ari_campaign(unique, "ui", agent, "2042")
    context, page = await log_in(browser, str(voice.gw.make_url("/")), agent, locale="es-ES")
    await page.get_by_test_id("tab-calls").click()
    number = page.get_by_label("Número")
    await number.fill("+34 600 555 666")
    before = len(voice.ari.requests)
    await number.press("Enter")
    popup = page.get_by_test_id("active-call-out")
    await popup.get_by_test_id("call-status").get_by_text("Marcando").wait_for()
    await eventually(lambda: len(voice.ari.requests) > before, "the originate")
    req = voice.ari.requests[-1]
    assert req["query"]["endpoint"] == "PJSIP/2042" and req["query"]["extension"] == "+34600555666"
    provider_call_id = req["query"]["channelId"]
    call_id = provider_call_id.removeprefix("sb-")
    assert await popup.get_attribute("data-call-id") == call_id
    await _post_ari(voice, channel, "ari_stasis_start_ring.cgrates", provider_call_id, "2026-12-07T08:00:01.000+0000")
    await popup.get_by_test_id("call-status").get_by_text("Sonando").wait_for()
    await _post_ari(voice, channel, "ari_channel_state_change_up.cgrates", provider_call_id,
                    "2026-12-07T08:00:05.000+0000")
    await popup.get_by_test_id("call-status").get_by_text("En curso").wait_for()
    await shot(page, "click-to-call-01-answered")
    await assert_spanish(page, "click-to-call answered")
    await _post_ari(voice, channel, "ari_channel_destroyed.voipbin", provider_call_id, "2026-12-07T08:01:10.000+0000")
    await popup.get_by_test_id("call-status").get_by_text("Finalizada · 70 s").wait_for()
    await context.close()

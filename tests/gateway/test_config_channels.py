"""Configuration never strands work (issue 13 item 12), the channels side, through the gateway with the real
router and the real channels service: a channel an active campaign uses, or with conversations open on it, is
not deleted (409 naming them); the supervisor closes or moves the stranded conversations, then it goes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from services.channels.app import ADMIN_APP
from services.channels.app import create_app as create_channels
from services.channels.settings import ChannelsSettings
from services.gateway.app import create_app as create_gateway

from .conftest import bearer, gateway_settings
from .routed_kit import Routed, eventually


async def test_a_channel_in_use_is_kept_until_its_stranded_conversations_are_closed_or_moved(
        routed: Routed, stack, services_peer, unique):
    router_url = str(routed.router.make_url("")).rstrip("/")
    public = create_channels(ChannelsSettings(
        nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url, env="test",
        smtp_enabled=False, outbound_consumer=False, router_url=router_url,
        blob_dir=Path(tempfile.mkdtemp(prefix="sb-blobs-"))))
    channels = TestClient(TestServer(public, host="127.0.0.1"))  # owns the lifecycle
    admin_api = TestClient(TestServer(public[ADMIN_APP], host="127.0.0.1"))  # what the gateway calls
    await channels.start_server()
    await admin_api.start_server()
    settings = gateway_settings(stack, router_url, services_peer.url).model_copy(
        update={"channels_url": str(admin_api.make_url("")).rstrip("/")})
    gw = TestClient(TestServer(create_gateway(settings)))
    await gw.start_server()
    try:
        agent, a_token = await routed.user("agent", unique)
        sup, s_token = await routed.user("supervisor", unique)
        _, admin = await routed.user("admin", unique)
        channel = f"ch-{unique}"

        async def call(token: str, method: str, path: str, body: object = None, status: int = 200) -> object:
            resp = await gw.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
            answer = await resp.json() if resp.content_type == "application/json" else None
            assert resp.status == status, (method, path, resp.status, answer)
            return answer

        await call(admin, "POST", "/channels", {"id": channel, "type": "whatsapp", "app_secret": "s"}, status=201)
        snap = await routed.campaign(unique, agents=[agent], supervisors=[sup])
        other = await routed.campaign(unique, agents=[agent], supervisors=[sup], suffix="-b")
        await routed.available(a_token)
        await routed.write_in(snap, "+34600800001")
        await routed.write_in(snap, "+34600800002")
        first = await routed.assigned_to(a_token, "+34600800001")
        second = await routed.assigned_to(a_token, "+34600800002")
        await routed.write_in(snap, "+34600800003")  # the agent is full (capacity 2): this one waits
        third = (await eventually(lambda: _waiting(call, s_token, snap.id), "the third waiting"))[0]

        # The active campaign uses it and three conversations are open on it: refused, all named, nothing deleted.
        err = (await call(admin, "DELETE", f"/channels/{channel}", status=409))["error"]
        assert err["field"] == "channel_id" and snap.id in err["message"]
        assert err["details"]["campaigns"] == [snap.id] and err["details"]["open_conversations"] == 3
        assert sorted(err["details"]["conversations"]) == sorted([first["id"], second["id"],
                                                                  third["conversation_id"]])
        # The campaign paused (its channel freed): the open conversations still keep it, stranded.
        await routed.change(snap, status="paused")
        err = await eventually(lambda: _refusal(call, admin, channel, campaigns=[]), "only the conversations named")
        assert err["details"]["open_conversations"] == 3

        # The supervisor closes the assigned one (nobody answered it: a supervisor is not held to the agents'
        # reply rule) and the waiting one (nobody holds it), and moves the last to another campaign of theirs.
        closed = await call(s_token, "POST", f"/conversations/{first['id']}/close", {"typification_id": "sold"})
        assert closed["state"] == "closed"
        closed = await call(s_token, "POST", f"/conversations/{third['conversation_id']}/close",
                            {"typification_id": "sold"})
        assert closed["state"] == "closed"
        moved = await call(s_token, "POST", f"/conversations/{second['id']}/transfer", {"campaign_id": other.id})
        assert moved["campaign_id"] == other.id
        # A campaign they do not supervise is not a place to move it to.
        stranger = await routed.campaign(unique, agents=[agent], suffix="-c")
        err = (await call(s_token, "POST", f"/conversations/{second['id']}/transfer", {"campaign_id": stranger.id},
                          status=403))["error"]
        assert err["field"] == "campaign_id"
        # The moved one still came in through the channel: it keeps it until it is closed.
        err = (await call(admin, "DELETE", f"/channels/{channel}", status=409))["error"]
        assert err["details"]["conversations"] == [second["id"]]
        await call(s_token, "POST", f"/conversations/{second['id']}/close", {"typification_id": "sold"})
        await call(admin, "DELETE", f"/channels/{channel}", status=204)
        await call(admin, "GET", f"/channels/{channel}", status=404)
    finally:
        await gw.close()
        await admin_api.close()
        await channels.close()


async def _refusal(call, admin: str, channel: str, **expected: object) -> dict | None:
    err = (await call(admin, "DELETE", f"/channels/{channel}", status=409))["error"]
    return err if all(err["details"].get(k) == v for k, v in expected.items()) else None


async def _waiting(call, token: str, campaign: str) -> list[dict] | None:
    items = (await call(token, "GET", f"/queues/{campaign}/waiting"))["items"]
    return items or None

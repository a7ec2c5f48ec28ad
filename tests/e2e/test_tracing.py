"""One trace follows a message across processes' boundaries: webhook, router decision, gateway push, the agent's
reply and the provider send (OpenTelemetry with an in-memory exporter; the services run in this process)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout, WSMsgType, web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from libs.core import demo, tracing
from libs.devstack import StackInfo, free_port
from libs.devstack.payloads import meta_signature, whatsapp_text
from services.campaigns.app import create_app as campaigns_app
from services.campaigns.settings import CampaignsSettings
from services.channels.app import create_app as channels_app
from services.channels.settings import ChannelsSettings
from services.gateway.app import create_app as gateway_app
from services.gateway.settings import GatewaySettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings


@pytest.fixture
async def traced(stack: StackInfo, tmp_path: Path, graph_peer) -> AsyncIterator[tuple[dict[str, str],
                                                                                     InMemorySpanExporter]]:
    """campaigns, channels, router and gateway in this process, with tracing on into memory."""
    exporter = InMemorySpanExporter()
    tracing.configure("e2e", exporter=exporter)
    os.chmod(tmp_path, 0o755)
    common = {"nats_url": stack.nats_url, "redis_url": stack.redis_url, "database_url": stack.database_url,
              "env": "test", "demo_seed": True, "shutdown_budget_s": 6}
    urls: dict[str, str] = {}
    try:
        async with AsyncExitStack() as servers:
            async def serve(name: str, app: web.Application) -> None:
                server = TestServer(app, port=free_port())
                await server.start_server()
                servers.push_async_callback(server.close)
                urls[name] = f"http://127.0.0.1:{server.port}"

            await serve("campaigns", campaigns_app(CampaignsSettings(**common)))
            await serve("channels", channels_app(ChannelsSettings(
                **common, graph_base_url=graph_peer[0], smtp_enabled=False, blob_dir=tmp_path / "blobs")))
            await serve("router", router_app(RouterSettings(**common, crm_url="")))
            await serve("gateway", gateway_app(GatewaySettings(
                **common, router_url=urls["router"], campaigns_url=urls["campaigns"], channels_url=urls["channels"],
                crm_url="http://127.0.0.1:9", metrics_port=free_port())))
            yield urls, exporter
    finally:
        tracing.switch_off()
        exporter.clear()


async def _login(http: ClientSession, gw: str) -> str:
    async with http.post(f"{gw}/api/v1/auth/login", json={"username": "ana", "password": "ana-demo-pass"}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["access_token"])


async def test_one_trace_spans_webhook_router_gateway_reply_and_provider_send(traced, graph_peer):
    urls, exporter = traced
    gw = urls["gateway"]
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        token = await _login(http, gw)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(50):  # the router turns ready once the campaign snapshots are in
            async with http.get(f"{urls['router']}/readyz") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.2)
        async with http.put(f"{gw}/api/v1/me/status", json={"status": "available"}, headers=auth) as r:
            assert r.status < 300, await r.text()
        ws = await http.ws_connect(f"{gw}/api/v1/events")
        await ws.send_json({"type": "auth", "token": token})
        phone = "347" + str(uuid.uuid4().int)[:8]
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, phone, f"wamid.trace.{uuid.uuid4().hex}", "trazame")
        exporter.clear()
        async with http.post(f"{urls['channels']}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}", data=body,
                             headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                                      "Content-Type": "application/json"}) as r:
            assert r.status == 200, await r.text()
        conv_id = None
        for _ in range(100):
            msg = await ws.receive(timeout=15)
            assert msg.type == WSMsgType.TEXT
            event = json.loads(msg.data)
            if event.get("type") == "conversation.assigned" and event.get("contact_address", "").endswith(phone):
                conv_id = event["conversation_id"]
                break
        assert conv_id, "the conversation never reached ana"
        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/messages", json={"text": "te sigo"},
                             headers=auth) as r:
            assert r.status < 300, await r.text()
        for _ in range(100):
            if any(s["body"].get("to") in (phone, f"+{phone}") for s in graph_peer[1]):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the provider send's span ends with its consumer's processing
        spans = exporter.get_finished_spans()
        # ana's capacity is shared with the other tests of the session: the conversation ends here.
        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/close", headers=auth,
                             json={"typification_id": demo.SALE_TYPIFICATION_ID,
                                   "fields": {demo.REQUIRED_FIELD_KEY: "12345678"}}) as r:
            assert r.status < 300, await r.text()
        await ws.close()

    webhook = next(s for s in spans if s.kind == SpanKind.SERVER and "/webhooks/whatsapp/" in s.name)
    trace_id = webhook.context.trace_id
    same = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in same}
    assert "router-inbound process" in names, sorted(names)  # the router's decision on the inbound message
    assert "gateway push" in names, sorted(names)  # the gateway pushing the assignment to the WebSocket
    assert "agent messages" in names, sorted(names)  # the agent's reply continues the conversation's trace
    assert "channels-outbound process" in names, sorted(names)  # channels consuming the reply
    peer = graph_peer[0]
    provider = [s for s in same if s.kind == SpanKind.CLIENT
                and str(s.attributes.get("http.url") or s.attributes.get("url.full") or "").startswith(peer)]
    assert provider, ("the provider send is not in the trace",
                      [(s.name, dict(s.attributes or {})) for s in same if s.kind == SpanKind.CLIENT])
    # One tree: a single root (the test's own instrumented POST of the webhook), every other span's parent in it.
    by_id = {s.context.span_id: s for s in same}
    roots = [s for s in same if s.parent is None]
    assert len(roots) == 1, [s.name for s in roots]
    assert all(s.parent.span_id in by_id for s in same if s.parent is not None)

"""Traffic through the running services moves their Prometheus counters by exactly what was sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import ClientSession, ClientTimeout
from prometheus_client.parser import text_string_to_metric_families

from libs.core import demo
from libs.devstack.payloads import meta_signature, whatsapp_text

SERVICES = ("campaigns", "channels", "router", "scheduler", "crm", "gateway")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: ClientSession, url: str) -> Samples:
    async with http.get(f"{url}/metrics") as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def quiet(js: Any, stream: str, durable: str, timeout: float = 20.0) -> None:
    """Wait until ``durable`` has nothing pending or unacknowledged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert loop.time() < deadline, f"{durable} never caught up: {info}"
        await asyncio.sleep(0.1)


async def settled(js: Any) -> None:
    for stream, durable in (("INBOUND", "router-inbound"), ("OUTBOUND", "channels-outbound"),
                            ("CONVERSATIONS", "crm-conversations"), ("CONVERSATIONS", "campaigns-conversations")):
        await quiet(js, stream, durable)


async def test_counters_move_by_what_was_sent(platform, graph_peer, nats_js):
    _, js = nats_js
    await platform.start(*SERVICES)
    metrics_url = {name: platform.url(name) for name in SERVICES}
    metrics_url["gateway"] = f"http://127.0.0.1:{platform.env['SB_GATEWAY_METRICS_PORT']}"
    metrics_url["channels"] = platform.admin_url("channels")  # the webhooks port serves nothing else
    gw, channels = platform.url("gateway"), platform.url("channels")
    hook = f"{channels}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}"
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        # The gateway's public port does not serve /metrics; its internal port does.
        async with http.get(f"{gw}/metrics") as r:
            assert r.status == 404
        async with http.post(f"{gw}/api/v1/auth/login", json={"username": "ana", "password": "ana-demo-pass"}) as r:
            token = (await r.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.put(f"{gw}/api/v1/me/status", json={"status": "available"}, headers=auth) as r:
            assert r.status < 300, await r.text()
        ws = await http.ws_connect(f"{gw}/api/v1/events")
        await ws.send_json({"type": "auth", "token": token})
        await ws.receive(timeout=10)  # "ready": the connection is registered
        await settled(js)
        conv_before = (await js.stream_info("CONVERSATIONS")).state.last_seq
        before = {name: await scrape(http, url) for name, url in metrics_url.items()}

        phone = "348" + str(uuid.uuid4().int)[:8]
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, phone, f"wamid.metrics.{uuid.uuid4().hex}", "cuenta")
        signed = {"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                  "Content-Type": "application/json"}
        for _ in range(2):  # the message and the provider's retry of it
            async with http.post(hook, data=body, headers=signed) as r:
                assert r.status == 200
        async with http.post(hook, data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as r:
            assert r.status == 401
        conv_id = None
        for _ in range(100):
            async with http.get(f"{gw}/api/v1/conversations", headers=auth) as r:
                items = (await r.json())["items"]
            conv_id = next((c["id"] for c in items if str(c.get("contact_address", "")).endswith(phone)), None)
            if conv_id:
                break
            await asyncio.sleep(0.1)
        assert conv_id, platform.logs()
        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/messages", json={"text": "contado"},
                             headers=auth) as r:
            assert r.status == 201, await r.text()
        for _ in range(100):
            if any(s["body"].get("to") in (phone, f"+{phone}") for s in graph_peer[1]):
                break
            await asyncio.sleep(0.1)
        await settled(js)
        conv_events = (await js.stream_info("CONVERSATIONS")).state.last_seq - conv_before
        after = {name: await scrape(http, url) for name, url in metrics_url.items()}
        # A consumer's ack reaches the server before its counter moves in the process: give the counters of
        # the CONVERSATIONS consumers a moment to show the last acks (never more than the events).
        for _ in range(50):
            acked = [value(after[svc], "sb_consumer_messages_total", stream="CONVERSATIONS", consumer=durable,
                           outcome="ack") - value(before[svc], "sb_consumer_messages_total", stream="CONVERSATIONS",
                                                  consumer=durable, outcome="ack")
                     for svc, durable in (("crm", "crm-conversations"), ("campaigns", "campaigns-conversations"))]
            if all(a >= conv_events for a in acked):
                break
            await asyncio.sleep(0.1)
            await settled(js)
            after = {name: await scrape(http, url) for name, url in metrics_url.items()}
        # ana's capacity is shared with the other tests of the session: the conversation ends here.
        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/close", headers=auth,
                             json={"typification_id": demo.SALE_TYPIFICATION_ID,
                                   "fields": {demo.REQUIRED_FIELD_KEY: "12345678"}}) as r:
            assert r.status < 300, await r.text()
        await ws.close()

    def moved(where: str, name: str, **labels: str) -> float:
        return value(after[where], name, **labels) - value(before[where], name, **labels)

    webhook_route = "/webhooks/whatsapp/{channel_id}"
    assert moved("channels", "sb_webhook_requests_total", channel_type="whatsapp", status="200") == 2
    assert moved("channels", "sb_webhook_requests_total", channel_type="whatsapp", status="401") == 1
    assert moved("channels", "sb_http_requests_total", service="channels", route=webhook_route, status="200") == 2
    assert moved("channels", "sb_http_request_seconds_count", service="channels", route=webhook_route) == 3
    assert moved("channels", "sb_publish_seconds_count", stream="INBOUND") == 2  # the retry is a duplicate ack
    # JetStream kept one copy: the router decided once, on one message.
    assert moved("router", "sb_consumer_messages_total", stream="INBOUND", consumer="router-inbound",
                 outcome="ack") == 1
    assert moved("router", "sb_consumer_handle_seconds_count", consumer="router-inbound") == 1
    # A new conversation is decided in one script call: a contact the router has not seen open is read in the
    # CRM's owner index first, then decided with its owner. The retry was a JetStream duplicate.
    assert moved("router", "sb_router_decision_seconds_count", script="ingest") == 1
    assert moved("router", "sb_router_decision_seconds_count", script="send") == 1
    assert moved("channels", "sb_consumer_messages_total", stream="OUTBOUND", consumer="channels-outbound",
                 outcome="ack") == 1
    assert moved("channels", "sb_outbound_sends_total", channel_type="whatsapp", result="sent") == 1
    # The conversation's events (and its delivery status) reached the CRM and campaigns. Their durables may be
    # shared with services other tests of this session run in-process, so this process handled at most all.
    assert conv_events > 0
    assert 0 < moved("crm", "sb_consumer_messages_total", stream="CONVERSATIONS", consumer="crm-conversations",
                     outcome="ack") <= conv_events
    assert 0 < moved("campaigns", "sb_consumer_messages_total", stream="CONVERSATIONS",
                     consumer="campaigns-conversations", outcome="ack") <= conv_events
    action_route = "/api/v1/conversations/{id}/{action}"
    assert moved("gateway", "sb_http_requests_total", service="gateway", route=action_route, status="201") == 1
    assert value(after["gateway"], "sb_ws_connections") == 1
    # Gauges read at scrape time, and the readiness every service reports.
    assert value(after["router"], "sb_router_queue_depth", campaign=demo.CAMPAIGN_ID) == 0
    assert value(after["router"], "sb_agents", campaign=demo.CAMPAIGN_ID, status="available") >= 1
    assert value(after["router"], "sb_consumer_pending", stream="INBOUND", consumer="router-inbound") >= 0
    for name in SERVICES:
        assert value(after[name], "sb_ready", service=name) == 1, name
        assert value(after[name], "sb_background_tasks_failed", service=name) == 0, name
    for name in ("campaigns", "channels", "scheduler", "crm", "gateway"):
        assert (("sb_db_pool_in_use", frozenset({("service", name)})) in after[name]), name

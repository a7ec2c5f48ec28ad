"""A WhatsApp message posted to the webhook reaches the agent's WebSocket; the reply reaches the provider."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, ClientTimeout, WSMsgType

from libs.core import demo
from libs.devstack.payloads import meta_signature, whatsapp_text


async def _events(ws: Any, until: set[str], timeout: float = 15.0,
                  match: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not until <= {e["type"] for e in got} and loop.time() < deadline:
        try:
            msg = await ws.receive(timeout=max(0.05, deadline - loop.time()))
        except TimeoutError:
            break
        if msg.type != WSMsgType.TEXT:
            break
        event = json.loads(msg.data)
        if match(event):
            got.append(event)
    return got


async def _post_whatsapp(http: ClientSession, channels_url: str, body: bytes) -> int:
    async with http.post(f"{channels_url}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}", data=body,
                         headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                                  "Content-Type": "application/json"}) as r:
        return r.status


async def test_whatsapp_message_to_agent_websocket_and_reply_to_provider(platform, graph_peer):
    await platform.start("campaigns", "channels", "router", "gateway")
    gw, sent = platform.url("gateway"), graph_peer[1]
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(f"{gw}/api/v1/auth/login", json={"username": "ana", "password": "ana-demo-pass"}) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.put(f"{gw}/api/v1/me/status", json={"status": "available"}, headers=auth) as r:
            assert r.status < 300, await r.text()
        ws = await http.ws_connect(f"{gw}/api/v1/events")
        await ws.send_json({"type": "auth", "token": token})

        phone = "346" + str(uuid.uuid4().int)[:8]
        wamid = f"wamid.e2e.{uuid.uuid4().hex}"
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, phone, wamid, "Hola, necesito ayuda")
        assert await _post_whatsapp(http, platform.url("channels"), body) == 200
        # The provider retries the same message: nothing new may appear.
        assert await _post_whatsapp(http, platform.url("channels"), body) == 200

        # Other tests' conversations may reach ana too: follow the one of this contact.
        events = await _events(ws, {"conversation.assigned", "conversation.message"},
                               match=lambda e: e.get("contact_address", "").endswith(phone))
        types = [e["type"] for e in events]
        assert "conversation.assigned" in types, (types, platform.logs())
        assigned = next(e for e in events if e["type"] == "conversation.assigned")
        conv_id = assigned["conversation_id"]
        assert assigned["agent_id"] == "agent-ana"
        message = next(e for e in events if e["type"] == "conversation.message")
        assert message["text"] == "Hola, necesito ayuda" and message["conversation_id"] == conv_id

        async with http.get(f"{gw}/api/v1/conversations/{conv_id}", headers=auth) as r:
            assert r.status == 200, await r.text()
            conv = await r.json()
        inbound = [m for m in conv["messages"] if m.get("direction", "in") == "in"]
        assert len(inbound) == 1, conv  # the duplicate webhook created no second message

        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/messages", json={"text": "¡Hola! Te ayudo"},
                             headers=auth) as r:
            assert r.status < 300, await r.text()
        for _ in range(100):
            mine = [s for s in sent if s["body"].get("to") in (phone, f"+{phone}")]
            if mine:
                break
            await asyncio.sleep(0.1)
        assert mine and mine[0]["body"]["text"]["body"] == "¡Hola! Te ayudo", (sent, platform.logs())
        assert mine[0]["body"]["messaging_product"] == "whatsapp"
        assert mine[0]["auth"] == f"Bearer {demo.WHATSAPP_ACCESS_TOKEN}"

        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/close",
                             json={"typification_id": demo.SALE_TYPIFICATION_ID, "fields": {}}, headers=auth) as r:
            assert r.status == 400
            err = (await r.json())["error"]
            assert demo.REQUIRED_FIELD_KEY in err.get("field", "") + err["message"]
        async with http.post(f"{gw}/api/v1/conversations/{conv_id}/close",
                             json={"typification_id": demo.SALE_TYPIFICATION_ID,
                                   "fields": {demo.REQUIRED_FIELD_KEY: "12345678"}}, headers=auth) as r:
            assert r.status < 300, await r.text()
        closed = await _events(ws, {"conversation.closed"}, match=lambda e: e.get("conversation_id") == conv_id)
        assert any(e["type"] == "conversation.closed" and e["conversation_id"] == conv_id for e in closed)
        await ws.close()


async def test_webhook_bad_input_publishes_nothing(platform, nats_js):
    await platform.start("channels")
    _, js = nats_js
    before = (await js.stream_info("INBOUND")).state.messages
    body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, "34600000000", f"wamid.bad.{uuid.uuid4().hex}", "x")
    url = f"{platform.url('channels')}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}"
    async with ClientSession() as http:
        async with http.post(url, data=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as r:
            assert r.status == 401
        async with http.post(url, data=body) as r:
            assert r.status == 401
        bad = b'{"object": "whatsapp_business_account", "entry": ['
        async with http.post(url, data=bad,
                             headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, bad)}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["message"]
        async with http.post(f"{platform.url('channels')}/webhooks/whatsapp/no-such-channel", data=body,
                             headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body)}) as r:
            assert r.status == 404
    assert (await js.stream_info("INBOUND")).state.messages == before

"""``switchboard demo``: one WhatsApp conversation through the running platform, narrated step by step."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import ClientSession, ClientTimeout, WSMsgType

from libs.core import demo
from libs.devstack.payloads import meta_signature, whatsapp_text


async def run_demo(gateway: str, channels: str, sandbox: str) -> int:
    """Run the demo; returns a process exit code."""
    say = print
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(f"{gateway}/api/v1/auth/login",
                             json={"username": "ana", "password": "ana-demo-pass"}) as r:
            if r.status != 200:
                say(f"✗ login as ana failed: {r.status} {await r.text()}")
                return 1
            token = (await r.json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        say("✓ ana logged in")
        async with http.put(f"{gateway}/api/v1/me/status", json={"status": "available"}, headers=auth) as r:
            say(f"✓ ana is available ({r.status})" if r.status < 300 else f"✗ status: {await r.text()}")
        ws = await http.ws_connect(f"{gateway}/api/v1/events")
        await ws.send_json({"type": "auth", "token": token})  # the first message authenticates
        say("✓ ana's console is connected to /api/v1/events")

        phone = "34600" + str(uuid.uuid4().int)[:6]
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, phone, f"wamid.demo.{uuid.uuid4().hex}",
                             "Hola, quiero información sobre mi plan", name="Lucía Demo")
        async with http.post(f"{channels}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}", data=body,
                             headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                                      "Content-Type": "application/json"}) as r:
            say(f"✓ WhatsApp webhook from +{phone} accepted: {r.status}")

        events = await _collect(ws, {"conversation.assigned", "conversation.message"}, timeout=10)
        if "conversation.assigned" not in events:
            say(f"✗ no assignment reached ana (got {sorted(events)})")
            return 1
        conv_id = events["conversation.assigned"]["conversation_id"]
        say(f"✓ conversation {conv_id} assigned to ana; message: "
            f"{events.get('conversation.message', {}).get('text')!r}")

        async with http.post(f"{gateway}/api/v1/conversations/{conv_id}/messages",
                             json={"text": "¡Hola Lucía! Con gusto te ayudo."}, headers=auth) as r:
            say(f"✓ ana replied ({r.status})" if r.status < 300 else f"✗ reply: {await r.text()}")
        for _ in range(20):
            async with http.get(f"{sandbox}/sandbox/sent") as r:
                sent = [s for s in await r.json() if s["body"].get("to") == phone]
            if sent:
                say(f"✓ the provider sandbox received the reply: {sent[-1]['body']['text']['body']!r}")
                break
            await asyncio.sleep(0.25)
        else:
            say("✗ the provider sandbox has not received the reply")

        async with http.post(f"{gateway}/api/v1/conversations/{conv_id}/close",
                             json={"typification_id": demo.SALE_TYPIFICATION_ID, "fields": {}}, headers=auth) as r:
            say(f"✓ closing without the required field is refused: {r.status} {(await r.json())['error']}")
        async with http.post(f"{gateway}/api/v1/conversations/{conv_id}/close",
                             json={"typification_id": demo.SALE_TYPIFICATION_ID,
                                   "fields": {demo.REQUIRED_FIELD_KEY: "12345678"}},
                             headers=auth) as r:
            say(f"✓ closed with typification 'sale' ({r.status})" if r.status < 300
                else f"✗ close: {await r.text()}")
        await ws.close()
    return 0


async def _collect(ws: Any, wanted: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    got: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not wanted <= set(got) and loop.time() < deadline:
        try:
            msg = await ws.receive(timeout=max(0.1, deadline - loop.time()))
        except TimeoutError:
            break
        if msg.type != WSMsgType.TEXT:
            break
        event = json.loads(msg.data)
        got.setdefault(event.get("type", ""), event)
    return got

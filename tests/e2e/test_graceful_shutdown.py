"""SIGTERM to channels under load loses no message whose webhook was answered 200."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

from aiohttp import ClientSession, ClientTimeout
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.core import demo
from libs.devstack.payloads import meta_signature, whatsapp_text


async def _stored_ids(js, subject: str, contact: str) -> set[str]:
    sub = await js.subscribe(subject, stream="INBOUND", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    ids: set[str] = set()
    try:
        while True:
            msg = await sub.next_msg(timeout=1.0)
            data = json.loads(msg.data)
            if data["contact_address"].endswith(contact):
                ids.add(data["provider_message_id"])
    except Exception:
        pass
    await sub.unsubscribe()
    return ids


async def test_sigterm_under_load_loses_no_acknowledged_webhook(platform, nats_js):
    await platform.start("channels")
    _, js = nats_js
    contact = str(uuid.uuid4().int)[:9]
    url = f"{platform.url('channels')}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}"
    answered_ok: set[str] = set()
    sem = asyncio.Semaphore(32)

    async def post(http: ClientSession, n: int) -> None:
        wamid = f"wamid.term.{contact}.{n}"
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, f"34{contact}", wamid, f"m{n}")
        async with sem:
            try:
                async with http.post(url, data=body, headers={
                        "X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body)}) as r:
                    if r.status == 200:
                        answered_ok.add(wamid)
            except Exception:
                pass  # refused after shutdown: not acknowledged, the provider would retry

    async with ClientSession(timeout=ClientTimeout(total=20)) as http:
        tasks = [asyncio.create_task(post(http, n)) for n in range(600)]
        while len(answered_ok) < 100:
            await asyncio.sleep(0.01)
        proc = platform.procs["channels"]
        code = await proc.stop(signal.SIGTERM)
        await asyncio.gather(*tasks)

    assert code == 0, proc.log()[-3000:]
    assert 100 <= len(answered_ok)
    stored = await _stored_ids(js, f"sb.inbound.whatsapp.{demo.WHATSAPP_CHANNEL_ID}", contact)
    assert answered_ok <= stored, f"lost {len(answered_ok - stored)} acknowledged messages"

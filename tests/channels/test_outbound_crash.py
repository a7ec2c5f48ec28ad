"""A channels process killed between the provider's answer and its own record does not send the message twice:
the send was recorded as pending first, and the command, delivered again, carries the same idempotency key."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer

from libs.contracts import OutboundMessage
from libs.core import demo
from libs.devstack import free_port
from libs.devstack.services import ServiceProcess
from libs.messaging import publish


async def test_a_send_cut_short_by_a_crash_is_sent_once(stack, nats_js, streams, tmp_path, unique):
    created: list[dict[str, Any]] = []
    keys: list[str | None] = []
    by_key: dict[str, str] = {}
    victim: dict[str, int] = {}

    async def graph(request: web.Request) -> web.Response:
        """A Graph API that honours Idempotency-Key; on the first call, its caller dies before the answer."""
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        keys.append(key)
        if key is None or key not in by_key:
            wamid = f"wamid.crash.{unique}.{len(created)}"
            created.append({"key": key, "text": body["text"]["body"]})
            if key is not None:
                by_key[key] = wamid
        else:
            wamid = by_key[key]
        if len(keys) == 1:
            os.kill(victim["pid"], signal.SIGKILL)
            await asyncio.sleep(2)
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": wamid}]})

    peer = web.Application()
    peer.router.add_post("/{version}/{node}/messages", graph)
    async with TestServer(peer) as server:
        port = free_port()
        env = {**os.environ, **stack.env(), "SB_ENV": "test", "SB_DEMO_SEED": "true", "SB_CHANNELS_PORT": str(port),
               "SB_CHANNELS_GRAPH_BASE_URL": str(server.make_url("")).rstrip("/"),
               "SB_CHANNELS_SMTP_ENABLED": "false", "SB_CHANNELS_BLOB_DIR": str(tmp_path / "blobs"),
               # A command not acknowledged in about 16 s is delivered again.
               "SB_CHANNELS_PROVIDER_TIMEOUT_S": "1", "SB_CHANNELS_PROVIDER_ATTEMPTS": "1",
               "SB_CHANNELS_PROVIDER_MAX_WAIT_S": "0.2", "PYTHONUNBUFFERED": "1"}
        proc = ServiceProcess("channels", env, port, tmp_path)
        await proc.start()
        victim["pid"] = proc.pid
        try:
            cmd = OutboundMessage(channel_id=demo.WHATSAPP_CHANNEL_ID, channel_type="whatsapp", to="+34600999000",
                                  text=f"una sola vez {unique}", conversation_id=f"conv-{unique}")
            await publish(nats_js[1], cmd)
            assert proc.proc is not None
            await asyncio.wait_for(proc.proc.wait(), 30)  # killed by the peer, mid-send
            await proc.start()
            [(_, status)] = await streams.wait_read(
                "CONVERSATIONS", f"sb.conv.status.{demo.WHATSAPP_CHANNEL_ID}", timeout=60,
                where=lambda s: s.get("outbound_id") == cmd.id)
        finally:
            await proc.stop()
    assert keys == [f"{cmd.id}:0", f"{cmd.id}:0"], keys  # sent again after the crash, with the same key
    assert [c["text"] for c in created] == [f"una sola vez {unique}"]
    assert status["status"] == "sent" and status["provider_message_id"] == by_key[f"{cmd.id}:0"]
    conn = await asyncpg.connect(stack.database_url)
    try:
        row = await conn.fetchrow("SELECT state, attempts, idempotency_key FROM channels.outbound_send "
                                  "WHERE outbound_id = $1", cmd.id)
    finally:
        await conn.close()
    assert dict(row) == {"state": "sent", "attempts": 2, "idempotency_key": f"{cmd.id}:0"}

"""SIGTERM to the router under load loses no message: after a restart every one is in its conversation."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from aiohttp import ClientSession

from libs.devstack import free_port
from libs.devstack.services import start_service

from ..conftest import as_service


async def _start(env: dict[str, str], port: int, log: Path) -> asyncio.subprocess.Process:
    return await start_service("router", {**env, "SB_ROUTER_PORT": str(port)}, port, log)


async def test_sigterm_under_load_loses_no_message(stack, nats_js, events, unique, kit, tmp_path):
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique, agents=[]))
    port = free_port()
    env = {**os.environ, **stack.env(), "SB_ROUTER_PORT": str(port), "SB_ENV": "test",
           "SB_SHUTDOWN_BUDGET_S": "10", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "router.log"
    proc = await _start(env, port, log)

    contacts = [f"+34{unique[:4]}{n:05d}" for n in range(60)]
    msgs = [kit.inbound(f"ch-{unique}", c, k, f"{c}/{k}") for k in range(5) for c in contacts]
    sem = asyncio.Semaphore(16)

    async def send(m) -> None:  # type: ignore[no-untyped-def]
        async with sem:
            await kit.send(js, m)

    sender = asyncio.gather(*(send(m) for m in msgs))
    await events.wait_for("conversation.message", 60, channel_id=f"ch-{unique}", timeout=30)
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0, log.read_text()[-3000:]
    handled_before = len(events.of("conversation.message", channel_id=f"ch-{unique}"))
    await sender
    assert handled_before < len(msgs), "the router finished everything before SIGTERM; nothing was proved"

    proc = await _start(env, port, log)
    try:
        await events.wait_for("conversation.message", len(msgs), channel_id=f"ch-{unique}", timeout=60)
        opened = events.of("conversation.opened", channel_id=f"ch-{unique}")
        assert sorted(o.contact_address for o in opened) == sorted(contacts)  # one conversation per contact
        async with ClientSession(**as_service("router")) as http:
            for o in opened:
                async with http.get(f"http://127.0.0.1:{port}/conversations/{o.conversation_id}") as r:
                    conv = await r.json()
                assert sorted(m["text"] for m in conv["messages"]) == [f"{o.contact_address}/{k}" for k in range(5)]
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)

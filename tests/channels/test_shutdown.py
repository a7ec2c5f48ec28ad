"""SIGTERM to a real ``python -m services.channels`` under webhook load loses no message answered 200."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys

import aiohttp

from libs.devstack import free_port

from ..conftest import as_service

SECRET = "shutdown-secret"
LIMIT = 20_000


def _body(cid: str, n: int) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "messages": [
            {"from": "34600111222", "id": f"wamid.{cid}.{n}", "timestamp": "1700000000", "type": "text",
             "text": {"body": f"mensaje {n}"}}]}}]}]}).encode()


async def test_sigterm_under_load_loses_nothing_answered_200(stack, streams, unique):
    port, admin_port = free_port(), free_port()
    env = {**os.environ, **stack.env(), "SB_CHANNELS_PORT": str(port), "SB_CHANNELS_ADMIN_PORT": str(admin_port),
           "SB_CHANNELS_SMTP_ENABLED": "false",
           "SB_CHANNELS_OUTBOUND_CONSUMER": "false", "SB_ENV": "test", "SB_LOG_LEVEL": "warning",
           "SB_SHUTDOWN_BUDGET_S": "10"}
    # A real process, so SIGTERM goes through run_service; started before the load begins.
    proc = subprocess.Popen([sys.executable, "-m", "services.channels"], env=env, cwd=os.getcwd(),  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    cid = f"sig-{unique}"
    accepted: list[int] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            async with aiohttp.ClientSession(**as_service("channels")) as admin, admin.post(
                    f"http://127.0.0.1:{admin_port}/channels",
                    json={"id": cid, "type": "whatsapp", "app_secret": SECRET}) as r:
                assert r.status == 201

            counter = iter(range(LIMIT))
            refused = 0

            async def worker() -> None:
                nonlocal refused
                # Keep posting until the service stops answering: the load runs across the whole shutdown.
                for n in counter:
                    body = _body(cid, n)
                    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    try:
                        async with http.post(f"{base}/webhooks/whatsapp/{cid}", data=body,
                                             headers={"X-Hub-Signature-256": sig}) as r:
                            if r.status == 200:
                                accepted.append(n)
                    except aiohttp.ClientError:
                        refused += 1  # refused or cut: the provider would retry it
                        if proc.poll() is not None:
                            return

            workers = [asyncio.create_task(worker()) for _ in range(16)]
            while len(accepted) < 100:
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*workers)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(accepted) >= 100 and refused > 0  # the load really was cut by the shutdown
    stored = {m["provider_message_id"] for _, m in await streams.read("INBOUND", f"sb.inbound.whatsapp.{cid}")}
    missing = {f"wamid.{cid}.{n}" for n in accepted} - stored
    assert not missing

"""When JetStream does not acknowledge, a webhook answers 503 (the provider retries) and stores nothing;
the retry after recovery is stored once. Uses a private nats-server, so the shared streams stay intact."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.devstack.stack import free_port, nats_binary
from libs.messaging import ensure_streams, nats_session

BODY = Path("/work/shared/fixtures/providers/whatsapp/wa_signed_text.pywa.body").read_bytes()
SECRET = "1222e786b144d0e85b9f365372d93676"


@pytest.fixture
def private_nats() -> Iterator[str]:
    port = free_port()
    store = tempfile.mkdtemp(prefix="sb-nats-")
    proc = subprocess.Popen([nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket

        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_no_jetstream_ack_is_503_then_the_retry_is_stored_once(make_app, private_nats, unique):
    async with make_app(nats_url=private_nats, outbound_consumer=False, publish_timeout_s=1.0) as client:
        cid = f"wa-{unique}"
        resp = await client.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": SECRET})
        assert resp.status == 201
        headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}
        async with nats_session(private_nats, "test-admin", setup=False) as (_, js):
            await js.delete_stream("INBOUND")
            resp = await client.post(f"/webhooks/whatsapp/{cid}", data=BODY, headers=headers)
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["error"]["code"] == "unavailable"
            await ensure_streams(js)
            resp = await client.post(f"/webhooks/whatsapp/{cid}", data=BODY, headers=headers)
            assert resp.status == 200, await resp.text()
            resp = await client.post(f"/webhooks/whatsapp/{cid}", data=BODY, headers=headers)
            assert resp.status == 200 and (await resp.json())["duplicates"] == 1
            info = await js.stream_info("INBOUND", subjects_filter=f"sb.inbound.whatsapp.{cid}")
            assert sum((info.state.subjects or {}).values()) == 1

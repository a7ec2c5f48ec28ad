"""The webhook port bounds its clients: a request head trickled byte by byte (slowloris) or never sent is closed
after the header timeout, a body trickled too slowly gets 408, an oversized body 413 and oversized heads 400,
each in bounded memory. The app runs on the server options ``serve`` uses in production."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import tracemalloc
import uuid

import pytest
from aiohttp import web

from libs.core.intake import server_options
from libs.devstack import free_port
from services.channels.app import ADMIN_APP, create_app

from ..conftest import as_service


@pytest.fixture(scope="module")
async def ports(settings_for):
    """The public (webhooks) port and the admin port of one channels app."""
    app = create_app(settings_for(webhook_header_timeout_s=1.0, webhook_body_timeout_s=1.0, outbound_consumer=False,
                                  max_webhook_bytes=64 * 1024))
    runner = web.AppRunner(app, **server_options(app))  # as libs.core.service.serve builds it
    await runner.setup()
    admin = web.AppRunner(app[ADMIN_APP])
    await admin.setup()
    numbers = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", numbers[0]).start()
    await web.TCPSite(admin, "127.0.0.1", numbers[1]).start()
    yield numbers
    await admin.cleanup()
    await runner.cleanup()


@pytest.fixture(scope="module")
def port(ports):
    return ports[0]


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before closing, or ``None`` when it kept the connection open that long."""
    got = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await reader.read(65536):
                got += chunk
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return got


async def test_slowloris_heads_are_closed_after_the_header_timeout(port):
    tracemalloc.start()
    try:
        conns = [await _open(port) for _ in range(50)]
        for _, writer in conns:
            writer.write(b"POST /webhooks/whatsapp/x HTTP/1.1\r\nHost: a\r\n")

        async def trickle(writer: asyncio.StreamWriter) -> None:
            try:
                for _ in range(100):  # a byte every 0.1 s for 10 s: never a complete head
                    writer.write(b"X")
                    await writer.drain()
                    await asyncio.sleep(0.1)
            except ConnectionError:
                pass

        started = asyncio.get_running_loop().time()
        trickles = [asyncio.create_task(trickle(w)) for _, w in conns]
        outcomes = await asyncio.gather(*(_closed_within(r, 8.0) for r, _ in conns))
        elapsed = asyncio.get_running_loop().time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for t in trickles:
        t.cancel()
    print(f"\n50 slowloris clients closed after {elapsed:.1f} s; peak traced memory {peak / 1e6:.1f} MB")
    # Closed by the server while they were still sending (their 10 s of bytes), not by their giving up.
    assert all(o is not None for o in outcomes), "a trickling client was still connected after 8 s"
    assert peak < 16 * 1024 * 1024


async def test_a_connection_that_sends_nothing_is_closed(port):
    reader, _ = await _open(port)
    assert await _closed_within(reader, 3.0) == b""


async def test_a_body_trickled_too_slowly_gets_408(port):
    reader, writer = await _open(port)
    writer.write(b"POST /webhooks/whatsapp/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{")
    for _ in range(5):
        await asyncio.sleep(0.3)
        writer.write(b" ")
    answer = await _closed_within(reader, 4.0)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"field": "body"' in answer


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_body_gets_413_in_bounded_memory(port, chunked):
    reader, writer = await _open(port)
    head = b"POST /webhooks/whatsapp/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
    size = 8 * 1024 * 1024
    head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % size
    tracemalloc.start()
    try:
        writer.write(head)
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                await writer.drain()
        except ConnectionError:
            pass
        answer = await _closed_within(reader, 15.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer is not None and answer.startswith(b"HTTP/1.1 413"), answer[:200] if answer else answer
    assert peak < 4 * 1024 * 1024, peak


async def test_oversized_heads_get_400(port):
    for head in (b"GET /healthz?" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n"):
        reader, writer = await _open(port)
        writer.write(head)
        answer = await _closed_within(reader, 3.0)
        assert answer is not None and answer[:12] in (b"HTTP/1.1 400", b"HTTP/1.0 400"), (answer or b"")[:100]


async def test_an_ordinary_webhook_still_goes_through(ports):
    from aiohttp import ClientSession

    port, admin_port = ports
    async with ClientSession(**as_service("channels")) as http:
        cid = f"lim-{uuid.uuid4().hex[:8]}"
        async with http.post(f"http://127.0.0.1:{admin_port}/channels", json={"id": cid, "type": "whatsapp",
                                                                               "app_secret": "s"}) as resp:
            assert resp.status == 201, await resp.text()
        body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
        sig = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
        async with http.post(f"http://127.0.0.1:{port}/webhooks/whatsapp/{cid}", data=body,
                             headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"}) as resp:
            assert resp.status == 200, await resp.text()

"""SMTP intake is bounded: message size (and a line that never ends), recipients, concurrent sessions, idle
time, session time and commands per session. Each limit is met by a raw client, and memory stays bounded."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid

import pytest

from libs.devstack import free_port
from services.channels.app import create_app

from .conftest import ChannelsClient

LIMITS = {"max_email_bytes": 20_000, "smtp_max_recipients": 3, "smtp_max_sessions": 4, "smtp_idle_timeout_s": 1.0,
          "smtp_session_timeout_s": 3.0, "smtp_max_commands": 10}


@pytest.fixture(scope="module")
async def smtp(settings_for, tmp_path_factory):
    port = free_port()
    app = create_app(settings_for(smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=port, outbound_consumer=False,
                                  blob_dir=tmp_path_factory.mktemp("blobs"), **LIMITS))
    async with ChannelsClient(app) as client:
        address = f"limits-{uuid.uuid4().hex[:8]}@example.org"
        resp = await client.post("/channels", json={"id": f"mail-{uuid.uuid4().hex[:8]}", "type": "email",
                                                    "address": address})
        assert resp.status == 201, await resp.text()
        yield port, address


class Client:
    """A raw SMTP client: each line it sends, each reply it reads, and whether the server closed on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def reply(self, timeout: float = 5.0) -> str:
        line = b""
        while True:  # multi-line replies: "250-..." lines, then "250 ..."
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line or line[3:4] != b"-":
                return line.decode().strip()

    async def say(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self.reply()

    async def closed(self, timeout: float = 5.0) -> bool:
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
            return True
        except (ConnectionError, TimeoutError):
            return False

    def close(self) -> None:
        self.writer.close()


async def _ready(port: int) -> Client:
    c = await Client.open(port)
    assert (await c.reply()).startswith("220")
    assert (await c.say("EHLO tester")).startswith("250")
    return c


async def test_a_message_over_the_size_limit_is_refused(smtp):
    port, address = smtp
    c = await _ready(port)
    assert (await c.say("MAIL FROM:<a@example.net>")).startswith("250")
    assert (await c.say(f"RCPT TO:<{address}>")).startswith("250")
    assert (await c.say("DATA")).startswith("354")
    for _ in range(300):
        c.writer.write(b"x" * 100 + b"\r\n")
    assert (await c.say(".")).startswith("552")
    c.close()


async def test_a_line_that_never_ends_is_cut_at_the_limit_in_bounded_memory(smtp):
    port, address = smtp
    c = await _ready(port)
    await c.say("MAIL FROM:<a@example.net>")
    await c.say(f"RCPT TO:<{address}>")
    assert (await c.say("DATA")).startswith("354")
    tracemalloc.start()
    try:
        chunk = b"y" * 65536
        sent, reply = 0, ""
        try:
            while sent < 30 * 1024 * 1024:  # 30 MB without a CRLF: aiosmtpd alone would keep all of it
                c.writer.write(chunk)
                await c.writer.drain()
                sent += len(chunk)
            reply = await c.reply()
        except ConnectionError:  # closed on us while we were still sending (its 552 may be lost in the reset)
            reply = "closed"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\nsent {sent / 1e6:.1f} MB without a line end: {reply}; peak traced memory {peak / 1e6:.1f} MB")
    assert sent < 30 * 1024 * 1024 and reply in ("closed", "552 5.3.4 message too big, closing"), reply
    assert peak < 8 * 1024 * 1024


async def test_recipients_per_message_are_capped(smtp):
    port, address = smtp
    c = await _ready(port)
    await c.say("MAIL FROM:<a@example.net>")
    answers = [await c.say(f"RCPT TO:<{address}>") for _ in range(4)]
    assert [a[:3] for a in answers] == ["250", "250", "250", "452"]
    c.close()


async def test_an_idle_client_is_closed(smtp):
    port, _ = smtp
    c = await _ready(port)
    assert await c.closed(timeout=3.0)  # nothing sent for the idle timeout (1 s)


async def test_a_slow_but_busy_session_meets_its_deadline(smtp):
    port, _ = smtp
    c = await _ready(port)
    cut = False
    for _ in range(25):  # a command every 0.4 s for 10 s keeps the idle timer (1 s) happy; the deadline (3 s) not
        await asyncio.sleep(0.4)
        try:
            if not (await c.say("NOOP")).startswith("250"):
                cut = True
                break
        except (ConnectionError, TimeoutError, IndexError):
            cut = True
            break
    assert cut, "the session outlived its deadline"
    assert await c.closed(timeout=2.0)


async def test_each_command_is_capped_per_session(smtp):
    port, _ = smtp
    c = await _ready(port)
    answers = [await c.say("NOOP") for _ in range(11)]
    assert all(a.startswith("250") for a in answers[:10]) and answers[10].startswith("421"), answers
    assert await c.closed(timeout=2.0)


async def test_concurrent_sessions_are_capped(smtp):
    port, _ = smtp
    clients = [await _ready(port) for _ in range(4)]
    extra = await Client.open(port)
    assert (await extra.reply()).startswith("421")
    assert await extra.closed(timeout=2.0)
    for c in clients:
        await c.say("QUIT")
        c.close()
    await asyncio.sleep(0.2)
    again = await _ready(port)  # the slots are given back
    again.close()

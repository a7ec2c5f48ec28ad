"""Fixtures of the channels tests: the app on the real stack, local provider peers, and stream readers."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.channels.app import ADMIN_APP, create_app
from services.channels.settings import ChannelsSettings

from ..conftest import as_service

FIXTURES = Path("/work/shared/fixtures/providers")


class RouterPeer:
    """Plays the router's ``GET /channels/{id}/conversations`` (the conversations open on a channel, which keep
    it from being deleted); ``open[channel_id]`` lists them. Every channels app of these tests asks it. Like the
    router, it answers only channels' own service identity (``callers`` records who asked)."""

    url = ""
    open: dict[str, list[str]] = {}
    callers: list[str] = []

    @classmethod
    async def handle(cls, request: web.Request) -> web.Response:
        from libs.core.auth import Verifier, bearer
        from libs.core.settings import ServiceSettings

        caller = Verifier.from_settings(ServiceSettings(env="test"), "router").verify(bearer(request) or "")
        cls.callers.append(caller.subject)
        ids = cls.open.get(request.match_info["channel_id"], [])
        return web.json_response({"channel_id": request.match_info["channel_id"], "open": len(ids),
                                  "items": [{"id": i} for i in ids], "next_cursor": None})


@pytest.fixture(scope="session", autouse=True)
async def router_peer() -> AsyncIterator[type[RouterPeer]]:
    app = web.Application()
    app.router.add_get("/channels/{channel_id}/conversations", RouterPeer.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    RouterPeer.url = str(server.make_url("")).rstrip("/")
    yield RouterPeer
    await server.close()


def channels_settings(stack: Any, **overrides: Any) -> ChannelsSettings:
    values: dict[str, Any] = {
        "nats_url": stack.nats_url, "redis_url": stack.redis_url, "database_url": stack.database_url,
        "env": "test", "smtp_enabled": False, "graph_base_url": "http://127.0.0.1:9",
        "twilio_base_url": "http://127.0.0.1:9", "ari_base_url": "http://127.0.0.1:9",
        "provider_max_wait_s": 0.2, "provider_timeout_s": 5.0, "publish_timeout_s": 2.0,
        "blob_dir": Path(tempfile.mkdtemp(prefix="sb-blobs-")), "router_url": RouterPeer.url,
    }
    values.update(overrides)
    return ChannelsSettings(**values)


class ChannelsClient:
    """The channels service as its callers reach it: the provider webhooks (and health) on the public port,
    the admin API (``/channels``, ``/dead-letters``, ``/blobs``) on the admin port with a service token.
    Each request goes to the port that serves its path; ``public`` and ``admin`` are the two clients."""

    PUBLIC = ("/webhooks/", "/healthz", "/readyz")

    def __init__(self, app: web.Application) -> None:
        self.public = TestClient(TestServer(app))
        self.admin = TestClient(TestServer(app[ADMIN_APP]), **as_service("channels"))

    @property
    def app(self) -> web.Application:
        return self.public.app

    def make_url(self, path: str) -> Any:
        return self.public.make_url(path)

    async def __aenter__(self) -> ChannelsClient:
        await self.public.start_server()
        await self.admin.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()
        await self.public.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        client = self.public if path.startswith(self.PUBLIC) else self.admin
        return client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def settings_for(stack: Any) -> Callable[..., ChannelsSettings]:
    """Build app settings on the session stack: ``settings_for(**overrides)``."""
    return lambda **overrides: channels_settings(stack, **overrides)


@pytest.fixture(scope="module")
async def channels(stack: Any) -> AsyncIterator[ChannelsClient]:
    """The channels app on the session stack, shared by the tests of one module.

    Not for the whole session: its outbound consumer shares the durable ``channels-outbound`` with every
    channels process, so left running it would take other tests' sends (to its unreachable providers).
    """
    app = create_app(channels_settings(stack))
    async with ChannelsClient(app) as client:
        yield client


@pytest.fixture
def make_app(stack: Any) -> Callable[..., Any]:
    """Start another channels app with overridden settings: ``async with make_app(**overrides) as client``."""

    def factory(**overrides: Any) -> ChannelsClient:
        return ChannelsClient(create_app(channels_settings(stack, **overrides)))

    return factory


@dataclass
class Peer:
    """A local provider API: records each request and answers from a script, then with ``default``."""

    default: Callable[[web.Request, int], web.Response]
    script: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        ctype, body = request.content_type, None
        if ctype == "multipart/form-data":  # a media upload: each field's text, or a file's name, type and bytes
            raw, body = b"", {k: {"filename": v.filename, "content_type": v.content_type, "data": v.file.read()}
                              if isinstance(v, web.FileField) else v for k, v in (await request.post()).items()}
            form: list[Any] = []
        else:
            raw = await request.read()
            form = list((await request.post()).items()) if ctype == "application/x-www-form-urlencoded" else []
            body = json.loads(raw) if ctype == "application/json" else dict(form) if (
                ctype == "application/x-www-form-urlencoded") else raw.decode(errors="replace")
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "headers": dict(request.headers), "body": body, "form": form})
        self.arrived.set()
        if self.script:
            status, payload, headers = self.script.pop(0)
            return web.json_response(payload, status=status, headers=headers)
        return self.default(request, len(self.requests))

    async def wait_for(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        async def until() -> None:
            while len(self.requests) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)
        return self.requests


async def start_peer(default: Callable[[web.Request, int], web.Response]) -> tuple[Peer, TestServer]:
    """A local provider API recording every request (close the server when done)."""
    peer = Peer(default)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    server = TestServer(app)
    await server.start_server()
    peer.url = str(server.make_url("")).rstrip("/")
    return peer, server


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[..., Any]]:
    """Start local provider peers: ``await make_peer(default_responder)``; closed after the test."""
    servers: list[TestServer] = []

    async def factory(default: Callable[[web.Request, int], web.Response]) -> Peer:
        peer, server = await start_peer(default)
        servers.append(server)
        return peer

    yield factory
    for server in servers:
        await server.close()


@pytest.fixture
async def graph_peer(make_peer: Callable[..., Any]) -> Peer:
    """Meta's Graph API: ``POST /{version}/{phone_number_id}/messages`` answers with a new wamid."""

    def ok(request: web.Request, n: int) -> web.Response:
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": "x", "wa_id": "x"}],
                                  "messages": [{"id": f"wamid.peer.{id(request)}.{n}"}]})

    return await make_peer(ok)


class Streams:
    """Reads JetStream back, so tests assert what was really stored."""

    def __init__(self, js: Any) -> None:
        self.js = js

    async def count(self, stream: str, subject: str) -> int:
        info = await self.js.stream_info(stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())

    async def read(self, stream: str, subject: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """Every stored message of a subject, in order, as (headers, JSON payload)."""
        n = await self.count(stream, subject)
        if n == 0:
            return []
        sub = await self.js.subscribe(subject, stream=stream, ordered_consumer=True,
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        out = []
        try:
            for _ in range(n):
                m = await sub.next_msg(timeout=5.0)
                out.append((dict(m.headers or {}), json.loads(m.data)))
        finally:
            await sub.unsubscribe()
        return out

    async def wait_read(self, stream: str, subject: str, n: int = 1, timeout: float = 20.0,
                        where: Callable[[dict[str, Any]], bool] = lambda _: True
                        ) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """Wait until ``n`` messages of a subject match ``where``; return the matching ones."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [(h, d) for h, d in await self.read(stream, subject) if where(d)]
            if len(found) >= n or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.1)


@pytest.fixture
def streams(nats_js: Any) -> Streams:
    return Streams(nats_js[1])

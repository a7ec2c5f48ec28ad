"""Gateway fixtures: the gateway in-process on the real stack, and a local peer playing the router's API."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.devstack import StackInfo
from services.gateway.adapters.postgres import UsersRepo
from services.gateway.app import create_app
from services.gateway.handlers import Gateway
from services.gateway.keys import GATEWAY
from services.gateway.security import hash_password
from services.gateway.settings import GatewaySettings

PASSWORD = "test-password-1"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@dataclass
class ServicePeer:
    """Plays another service's internal HTTP API (architecture.md "As built") and records what it received.

    Conversations answer like the router; ``answers`` holds canned answers; anything else is echoed.
    """

    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # (method, path) -> (status, JSON body) to answer instead of the normal behaviour
    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    url: str = ""

    def received(self, method: str, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:  # a file, streamed through the gateway as it is
            body = {"bytes": len(raw), "content_type": request.content_type}
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "body": body, "authorization": request.headers.get("Authorization")})
        canned = self.answers.get((request.method, request.path))
        if canned is not None:
            return web.json_response(canned[1], status=canned[0])
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts == ["conversations"]:
            items = [c for c in self.conversations.values()
                     if all(c.get(k) == v for k, v in request.query.items() if k in ("agent_id", "campaign_id"))]
            return web.json_response({"items": items, "next_cursor": None})
        if parts[0] == "conversations" and len(parts) >= 2:
            conv = self.conversations.get(parts[1])
            if conv is None:
                return web.json_response({"error": {"code": "not_found", "message": "no such conversation"}},
                                         status=404)
            if request.method == "GET" and len(parts) == 2:
                return web.json_response(conv)
            return web.json_response({"conversation_id": parts[1], "action": parts[2], "accepted": True})
        if request.method == "PUT" and parts[0] == "agents":
            return web.json_response({"agent_id": parts[1], **(body or {})})
        return web.json_response({"echo": {"method": request.method, "path": request.path,
                                           "query": dict(request.query), "body": body}},
                                 status=201 if request.method == "POST" else 200)


async def _serve(peer: ServicePeer) -> TestServer:
    server = TestServer(peer.app(), host="127.0.0.1")
    await server.start_server()
    peer.url = str(server.make_url("")).rstrip("/")
    return server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def router_peer() -> AsyncIterator[ServicePeer]:
    """The router."""
    peer = ServicePeer()
    server = await _serve(peer)
    yield peer
    await server.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def services_peer() -> AsyncIterator[ServicePeer]:
    """Campaigns, CRM and channels (their paths do not overlap, except CRM's /conversations: the cases)."""
    peer = ServicePeer()
    server = await _serve(peer)
    yield peer
    await server.close()


def gateway_settings(stack: StackInfo, router_url: str, services_url: str, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        env="test", nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url,
        router_url=router_url, campaigns_url=services_url, crm_url=services_url, channels_url=services_url,
        demo_seed=True, login_max_failures=3,
        # One shared gateway, every test logging in from 127.0.0.1: the per-address limit is tested on its own.
        **{"login_ip_per_minute": 1_000_000, **overrides},
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gw_client(stack: StackInfo, router_peer: ServicePeer, services_peer: ServicePeer
                    ) -> AsyncIterator[TestClient]:
    app = create_app(gateway_settings(stack, router_peer.url, services_peer.url))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def gateway(gw_client: TestClient) -> Gateway:
    return gw_client.app[GATEWAY]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def password_hash() -> str:
    """One argon2 hash of PASSWORD, shared by the test users (hashing is deliberately slow)."""
    return await asyncio.to_thread(hash_password, PASSWORD)


@pytest.fixture
def make_user(gateway: Gateway, unique: str, password_hash: str) -> Callable[..., Any]:
    """Create a user with a unique id and username; returns the user id (password: PASSWORD)."""
    repo: UsersRepo = gateway.users
    counter = iter(range(1000))

    async def make(role: str = "agent") -> str:
        n = next(counter)
        user_id = f"u-{role}-{unique}-{n}"
        await repo.create(id=user_id, username=f"{role}{unique}{n}", display_name=f"Test {role}", role=role,
                          password_hash=password_hash)
        return user_id

    return make


async def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def login_as(gw_client: TestClient, gateway: Gateway) -> Callable[[str], Any]:
    """Log a user in by id; returns the access token."""

    async def do(user_id: str) -> str:
        user = await gateway.users.get(user_id)
        return (await login(gw_client, user.username))["access_token"]

    return do


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is missing: run scripts/install-browser.sh")
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield browser
    await browser.close()
    await pw.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def real_crm(stack: StackInfo, crm_blob_dir: Path) -> AsyncIterator[TestServer]:
    """The real CRM service in-process on the session stack."""
    from libs.core.service import LIFECYCLE
    from services.crm.app import create_app as create_crm
    from services.crm.settings import CrmSettings

    settings = CrmSettings(env="test", nats_url=stack.nats_url, redis_url=stack.redis_url,
                           database_url=stack.database_url, default_region="ES", job_poll_s=0.2,
                           blob_dir=str(crm_blob_dir),
                           webhook_backoff_s=0.05, webhook_poll_s=0.05, webhook_max_attempts=4)
    app = create_crm(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    app[LIFECYCLE].ready = True
    yield server
    await app[LIFECYCLE].drain(5)
    await server.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def crm_gw(stack: StackInfo, router_peer: ServicePeer, services_peer: ServicePeer, real_crm: TestServer
                 ) -> AsyncIterator[TestClient]:
    """A second gateway whose CRM is the real one (router, campaigns, channels: the local peers)."""
    crm_url = str(real_crm.make_url("")).rstrip("/")
    settings = gateway_settings(stack, router_peer.url, services_peer.url).model_copy(update={"crm_url": crm_url})
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def routed(stack: StackInfo, services_peer: ServicePeer, real_crm: TestServer) -> AsyncIterator[Any]:
    """A gateway whose router is the real one (one replica, in-process, for this test module), with the real
    CRM; campaigns and channels are the local peer. See ``routed_kit.Routed``."""
    from libs.messaging import nats_session
    from services.router.app import create_app as create_router
    from services.router.keys import ROUTER_READY
    from services.router.settings import RouterSettings

    from .routed_kit import Routed

    router_app = create_router(RouterSettings(nats_url=stack.nats_url, redis_url=stack.redis_url,
                                              database_url=stack.database_url, env="test", log_level="warning",
                                              crm_url=""))
    router = TestClient(TestServer(router_app, host="127.0.0.1"))
    await router.start_server()
    await asyncio.wait_for(router_app[ROUTER_READY].wait(), 20)
    from libs.core.service import LIFECYCLE

    router_app[LIFECYCLE].ready = True
    router_url = str(router.make_url("")).rstrip("/")
    crm_url = str(real_crm.make_url("")).rstrip("/")
    settings = gateway_settings(stack, router_url, services_peer.url).model_copy(update={"crm_url": crm_url})
    gw = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await gw.start_server()
    # The scheduler fires the router's timers (offers, maximum waits).
    from services.scheduler.app import create_app as create_scheduler
    from services.scheduler.settings import SchedulerSettings

    scheduler = TestClient(TestServer(create_scheduler(SchedulerSettings(
        nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url, env="test",
        log_level="warning"))))
    await scheduler.start_server()
    async with nats_session(stack.nats_url, "routed-test") as (nc, js):
        yield Routed(gw, router, nc, js, services_peer)
    await scheduler.close()
    await gw.close()
    await router.close()

"""Router test fixtures: in-process routers on the real stack, campaign snapshots in KV, and an event log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import CampaignSnapshot, Contract, InboundMessage, decode
from libs.core.service import LIFECYCLE
from libs.messaging import publish
from services.router.app import create_app
from services.router.keys import ROUTER_READY
from services.router.settings import RouterSettings

from ..conftest import as_service


@pytest.fixture
def router_settings(stack) -> RouterSettings:
    return RouterSettings(nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url,
                          env="test", log_level="warning", crm_url="")


async def _start(settings: RouterSettings) -> TestClient:
    app = create_app(settings)
    client = TestClient(TestServer(app), **as_service("router"))
    await client.start_server()
    try:
        await asyncio.wait_for(app[ROUTER_READY].wait(), 15)
    except BaseException:
        await client.close()
        raise
    app[LIFECYCLE].ready = True
    return client


@asynccontextmanager
async def running_routers(settings: RouterSettings, n: int) -> AsyncIterator[list[TestClient]]:
    """``n`` router replicas in-process, started and stopped together (a stop waits ~1 s for the fetch)."""
    clients = list(await asyncio.gather(*(_start(settings) for _ in range(n))))
    try:
        yield clients
    finally:
        await asyncio.gather(*(c.close() for c in clients))


@asynccontextmanager
async def running_router(settings: RouterSettings) -> AsyncIterator[TestClient]:
    """One router in-process; ready once its snapshots are loaded and its live state is intact."""
    async with running_routers(settings, 1) as [client]:
        yield client


@pytest.fixture
async def router(router_settings) -> AsyncIterator[TestClient]:
    """The router under test: three replicas share the work (every rule holds with several running);
    requests go to the first."""
    async with running_routers(router_settings, 3) as clients:
        yield clients[0]


@pytest.fixture
async def timers(stack) -> AsyncIterator[TestClient]:
    """The scheduler, in-process, so the router's timers (offers, inactivity, openings) fire."""
    from services.scheduler.app import create_app as create_scheduler
    from services.scheduler.settings import SchedulerSettings

    settings = SchedulerSettings(nats_url=stack.nats_url, redis_url=stack.redis_url,
                                 database_url=stack.database_url, env="test", log_level="warning")
    client = TestClient(TestServer(create_scheduler(settings)), **as_service("scheduler"))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def routers(router_settings) -> AsyncIterator[list[TestClient]]:
    """Three router replicas against the same NATS and Redis, each one addressed directly."""
    async with running_routers(router_settings, 3) as clients:
        yield clients


def opening_in(seconds: float) -> dict[str, Any]:
    """A UTC schedule that opens ``seconds`` from now, for an hour."""
    start = datetime.now(UTC) + timedelta(seconds=seconds)
    end = start + timedelta(hours=1)
    return {"timezone": "UTC",
            "weekly": {start.isoweekday(): [{"start": start.time().isoformat(), "end": end.time().isoformat()}]}}


async def close_ok(client: TestClient, cid: str, agent: str) -> dict[str, Any]:
    resp = await client.post(f"/conversations/{cid}/close",
                             json={"agent_id": agent, "typification_id": "sold", "fields": {"dni": "1"}})
    body = await resp.json()
    assert resp.status == 200, body
    return body


def campaign(unique: str, *, agents: list[str] | None = None, channel_type: str = "whatsapp",
             **overrides: Any) -> CampaignSnapshot:
    """A 24/7 campaign with one channel ``ch-<unique>`` and the given agents."""
    routing = overrides.pop("routing", {})
    # These tests close conversations nobody answered; tests/gateway/test_options_permissions.py proves the rule.
    permissions = {"close_without_reply": True, **overrides.pop("permissions", {})}
    data: dict[str, Any] = {
        "id": f"camp-{unique}", "name": f"Campaign {unique}",
        "channels": [{"id": f"ch-{unique}", "type": channel_type}],
        "typifications": [{"id": "sold", "category": "Venta"}, {"id": "no-sale", "category": "No venta"}],
        "custom_fields": [{"key": "dni", "label": "DNI", "required": True}],
        "agents": agents if agents is not None else [f"agent-{unique}"],
        "routing": {"agent_capacity": 2, **routing},
        "permissions": permissions,
        "transfer_typification": "no-sale",
        "inactivity_typification": "no-sale",
    }
    data.update(overrides)
    return CampaignSnapshot.model_validate(data)


async def put_campaign(js: Any, snap: CampaignSnapshot) -> None:
    kv = await js.key_value("campaigns")
    await kv.put(snap.id, snap.model_dump_json().encode())


def inbound(channel_id: str, contact: str, n: int | str, text: str = "hola", **kw: Any) -> InboundMessage:
    return InboundMessage(channel_id=channel_id, channel_type=kw.pop("channel_type", "whatsapp"),
                          contact_address=contact, provider_message_id=f"wamid.{channel_id}.{contact}.{n}",
                          text=text, **kw)


async def send(js: Any, msg: InboundMessage) -> None:
    await publish(js, msg)


class EventLog:
    """Every contract seen on the router's output subjects (core NATS subscription, set up first), once per
    ``Nats-Msg-Id`` as JetStream stores them."""

    SUBJECTS = ("sb.conv.>", "sb.outbound.>", "sb.agent.event.>", "sb.timer.cmd.>")

    def __init__(self) -> None:
        self.events: list[Contract] = []
        self._seen: set[str] = set()
        self._changed = asyncio.Event()
        self._subs: list[Any] = []

    async def start(self, nc: Any) -> None:
        for subject in self.SUBJECTS:
            self._subs.append(await nc.subscribe(subject, cb=self._on_msg))

    async def _on_msg(self, msg: Any) -> None:
        try:
            event = decode(msg.data)
        except ValueError:
            return
        # A re-published fact (the outbox sweeper, a redelivery) reaches core NATS again; JetStream keeps one.
        if event.msg_id() in self._seen:
            return
        self._seen.add(event.msg_id())
        self.events.append(event)
        self._changed.set()

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    def of(self, type_: str, **match: Any) -> list[Any]:
        return [e for e in self.events if e.type == type_
                and all(getattr(e, k, None) == v for k, v in match.items())]

    async def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy; fail the test with what was seen otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(e.type, getattr(e, "conversation_id", None), getattr(e, "agent_id", None))
                        for e in self.events[-30:]]
                raise AssertionError(f"condition not met in {timeout}s; last events: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Any]:
        return await self.wait(lambda: (found := self.of(type_, **match)) and len(found) >= count and found,
                               timeout)


@pytest.fixture
async def events(nats_js) -> AsyncIterator[EventLog]:
    nc, _ = nats_js
    log = EventLog()
    await log.start(nc)
    await nc.flush()
    yield log
    await log.stop()


async def status(client: TestClient, agent_id: str, value: str, **extra: Any) -> dict[str, Any]:
    resp = await client.put(f"/agents/{agent_id}/status", json={"status": value, **extra})
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def get_json(client: TestClient, path: str, expect: int = 200) -> Any:
    resp = await client.get(path)
    body = await resp.json()
    assert resp.status == expect, body
    return body


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(campaign=campaign, put_campaign=put_campaign, inbound=inbound, send=send,
                           status=status, get_json=get_json, opening_in=opening_in, close_ok=close_ok,
                           running_router=running_router, dumps=dumps)

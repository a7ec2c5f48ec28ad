"""Scheduler test fixtures: in-process schedulers on the real stack, and a reader of due events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import TimerDue, decode
from services.scheduler.app import create_app
from services.scheduler.settings import SchedulerSettings

from ..conftest import as_service


@pytest.fixture
def scheduler_settings(stack) -> SchedulerSettings:
    return SchedulerSettings(nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url,
                             env="test", log_level="warning")


@asynccontextmanager
async def running_scheduler(settings: SchedulerSettings) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(settings)), **as_service("scheduler"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def scheduler(scheduler_settings) -> AsyncIterator[TestClient]:
    async with running_scheduler(scheduler_settings) as client:
        yield client


async def stored_due(js: Any, owner: str, quiet_s: float = 1.0) -> list[TimerDue]:
    """Every due event stored in the TIMERS stream for ``owner`` (what a consumer would receive)."""
    sub = await js.subscribe(f"sb.timer.due.{owner}.>", stream="TIMERS", ordered_consumer=True)
    out: list[TimerDue] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=quiet_s)
            event = decode(msg.data)
            assert isinstance(event, TimerDue)
            out.append(event)
    except Exception:
        pass
    finally:
        await sub.unsubscribe()
    return out


@pytest.fixture
def skit() -> SimpleNamespace:
    return SimpleNamespace(stored_due=stored_due, running_scheduler=running_scheduler)

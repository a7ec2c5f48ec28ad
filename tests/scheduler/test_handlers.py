"""The scheduler's use cases on in-memory fakes: no server, milliseconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import TimerCancel, TimerSet
from libs.core.errors import Invalid
from libs.messaging import dispatch
from services.scheduler.handlers import HANDLERS, Scheduler
from services.scheduler.settings import SchedulerSettings
from services.scheduler.views import TimerViews

from .fakes import FakeDuePublisher, FakeTimerStore


def scheduler() -> tuple[Scheduler, FakeTimerStore, FakeDuePublisher]:
    store, publisher = FakeTimerStore(), FakeDuePublisher()
    return Scheduler(store, publisher, SchedulerSettings(replica_id="r1", max_sleep_s=0.05)), store, publisher


async def test_commands_are_dispatched_by_type_and_due_timers_fire_once():
    s, store, publisher = scheduler()
    handle = dispatch(s, HANDLERS)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await handle(TimerSet(owner="crm", timer_id="t1", purpose="callback", fire_at=past, data={"ref": "x"}))
    await handle(TimerSet(owner="crm", timer_id="t2", purpose="callback", fire_at=past + timedelta(hours=1)))
    await handle(TimerSet(owner="crm", timer_id="t3", purpose="callback", fire_at=past))
    await handle(TimerCancel(owner="crm", timer_id="t3"))
    stop = asyncio.Event()
    loop = asyncio.create_task(s.run(stop))
    for _ in range(100):
        if publisher.published:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await loop
    assert [(d.timer_id, d.data) for d in publisher.published] == [("t1", {"ref": "x"})]
    views = TimerViews(store)
    assert (await views.timer("crm", "t1"))["state"] == "fired"
    assert (await views.timer("crm", "t2"))["state"] == "pending"
    assert (await views.timer("crm", "t3"))["state"] == "cancelled"


async def test_a_timer_too_far_away_is_refused_naming_fire_at():
    s, store, _ = scheduler()
    with pytest.raises(Invalid) as bad:
        await s.set_timer(TimerSet(owner="crm", timer_id="far", purpose="x",
                                   fire_at=datetime.now(UTC) + timedelta(days=401)))
    assert bad.value.field == "fire_at" and store.rows == {}

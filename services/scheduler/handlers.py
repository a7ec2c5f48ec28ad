"""Scheduler use cases: set and cancel timers, and the firing loop every replica runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from libs.contracts import Contract, TimerCancel, TimerDue, TimerSet
from libs.core.logging import get_logger
from services.scheduler.adapters.ports import DuePublisher, TimerStore
from services.scheduler.domain import check_timer
from services.scheduler.settings import SchedulerSettings

log = get_logger(__name__)

PURGE_EVERY_S = 600.0


class Scheduler:
    """The scheduler's use cases: set and cancel timers (over HTTP or from the TIMERS stream), and the
    firing loop every replica runs."""

    def __init__(self, store: TimerStore, publisher: DuePublisher, settings: SchedulerSettings) -> None:
        self.store = store
        self.publisher = publisher
        self.settings = settings
        self.wake = asyncio.Event()

    async def set_timer(self, timer: TimerSet) -> None:
        """Set (or move) a timer; the firing loop wakes at once."""
        check_timer(timer)
        await self.store.upsert(timer)
        self.wake.set()

    async def cancel_timer(self, owner: str, timer_id: str) -> None:
        await self.store.cancel(owner, timer_id)

    async def on_cancel(self, cmd: TimerCancel) -> None:
        await self.cancel_timer(cmd.owner, cmd.timer_id)

    async def _publish(self, due: list[TimerDue]) -> None:
        await self.publisher.publish(due)
        for d in due:
            late_ms = (datetime.now(UTC) - d.fire_at).total_seconds() * 1000
            log.info("timer_fired", timer_id=d.timer_id, owner=d.owner, purpose=d.purpose, late_ms=round(late_ms))

    def on_notify(self, *_: Any) -> None:
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due timers until ``stop``: sleep until the next one, or until a new timer is notified."""
        last_purge = time.monotonic()
        while not stop.is_set():
            self.wake.clear()
            try:
                fired = await self.store.fire_due(self._publish, self.settings.replica_id, self.settings.batch)
                if fired:
                    continue
                nxt = await self.store.next_due()
                if time.monotonic() - last_purge > PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    await self.store.purge_finished()
            except Exception as exc:
                log.warning("timer_loop_failed", error=repr(exc))
                nxt = None
            delay = self.settings.max_sleep_s
            if nxt is not None:
                until = (nxt - datetime.now(UTC)).total_seconds()
                # Due but held by another replica: look again shortly, in case it dies holding them.
                delay = min(delay, until if until > 0 else self.settings.contended_retry_s)
            await _wait_any(self.wake, stop, delay)


# The use case of each message type on ``sb.timer.cmd.>`` (registered by ``consumers``).
HANDLERS: dict[type[Contract], Callable[[Scheduler, Any], Awaitable[None]]] = {
    TimerSet: Scheduler.set_timer,
    TimerCancel: Scheduler.on_cancel,
}


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

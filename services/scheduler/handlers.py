"""Scheduler use cases: set and cancel timers, and the firing loop every replica runs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from libs.contracts import Contract, TimerCancel, TimerDue, TimerSet
from libs.core.errors import NotFound
from libs.core.logging import get_logger
from libs.messaging import publish_many
from services.scheduler.adapters.postgres import TimerRepository
from services.scheduler.domain import check_timer
from services.scheduler.settings import SchedulerSettings

log = get_logger(__name__)

PURGE_EVERY_S = 600.0


class Scheduler:
    def __init__(self, repo: TimerRepository, js: JetStreamContext, settings: SchedulerSettings) -> None:
        self.repo = repo
        self.js = js
        self.settings = settings
        self.wake = asyncio.Event()

    async def set_timer(self, timer: TimerSet) -> dict[str, Any]:
        check_timer(timer)
        await self.repo.upsert(timer)
        self.wake.set()
        return await self.get_timer(timer.owner, timer.timer_id)

    async def cancel_timer(self, owner: str, timer_id: str) -> dict[str, Any]:
        await self.repo.cancel(owner, timer_id)
        return await self.get_timer(owner, timer_id)

    async def get_timer(self, owner: str, timer_id: str) -> dict[str, Any]:
        row = await self.repo.get(owner, timer_id)
        if row is None:
            raise NotFound(f"timer {owner}/{timer_id} not found", field="timer_id")
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}

    async def on_command(self, cmd: Contract) -> None:
        """Timer commands from the TIMERS stream (``sb.timer.cmd.>``)."""
        if isinstance(cmd, TimerSet):
            check_timer(cmd)
            await self.repo.upsert(cmd)
            self.wake.set()
        elif isinstance(cmd, TimerCancel):
            await self.repo.cancel(cmd.owner, cmd.timer_id)

    async def _publish(self, due: list[TimerDue]) -> None:
        await publish_many(self.js, list(due))
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
                fired = await self.repo.fire_due(self._publish, self.settings.replica_id, self.settings.batch)
                if fired:
                    continue
                nxt = await self.repo.next_due()
                if time.monotonic() - last_purge > PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    await self.repo.purge_finished()
            except Exception as exc:
                log.warning("timer_loop_failed", error=repr(exc))
                nxt = None
            delay = self.settings.max_sleep_s
            if nxt is not None:
                until = (nxt - datetime.now(UTC)).total_seconds()
                # Due but held by another replica: look again shortly, in case it dies holding them.
                delay = min(delay, until if until > 0 else self.settings.contended_retry_s)
            await _wait_any(self.wake, stop, delay)


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

"""What the scheduler's use cases need from the outside world, as interfaces (no driver imported here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from libs.contracts import TimerDue, TimerSet


class TimerStore(Protocol):
    """The durable timers (``adapters.postgres.TimerRepository``)."""

    async def upsert(self, t: TimerSet) -> None: ...

    async def cancel(self, owner: str, timer_id: str) -> bool: ...

    async def get(self, owner: str, timer_id: str) -> dict[str, Any] | None: ...

    async def fire_due(self, publish: Callable[[list[TimerDue]], Awaitable[Any]], replica: str, batch: int) -> int:
        ...

    async def next_due(self) -> datetime | None: ...

    async def purge_finished(self, older_than_days: int = 7) -> int: ...


class DuePublisher(Protocol):
    """Publishes due timers on the TIMERS stream and waits for the acks (``adapters.nats``)."""

    async def publish(self, due: list[TimerDue]) -> None: ...

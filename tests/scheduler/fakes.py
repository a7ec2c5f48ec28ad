"""In-memory stand-ins for the scheduler's ports: the same interfaces as the PostgreSQL and NATS adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from libs.contracts import TimerDue, TimerSet


class FakeTimerStore:
    """``TimerStore`` over a dict, with the PostgreSQL adapter's rules (a fired timer is not re-armed by a
    redelivered command; cancel only touches a pending timer)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    async def upsert(self, t: TimerSet) -> None:
        row = self.rows.get((t.owner, t.timer_id))
        if row is not None and row["state"] != "pending" and row["fire_at"] == t.fire_at:
            return
        self.rows[(t.owner, t.timer_id)] = {"owner": t.owner, "timer_id": t.timer_id, "purpose": t.purpose,
                                            "fire_at": t.fire_at, "data": t.data, "state": "pending",
                                            "fired_at": None, "fired_by": None}

    async def cancel(self, owner: str, timer_id: str) -> bool:
        row = self.rows.get((owner, timer_id))
        if row is None or row["state"] != "pending":
            return False
        row["state"] = "cancelled"
        return True

    async def get(self, owner: str, timer_id: str) -> dict[str, Any] | None:
        row = self.rows.get((owner, timer_id))
        return dict(row) if row else None

    async def fire_due(self, publish: Callable[[list[TimerDue]], Awaitable[Any]], replica: str, batch: int) -> int:
        now = datetime.now(UTC)
        due = sorted((r for r in self.rows.values() if r["state"] == "pending" and r["fire_at"] <= now),
                     key=lambda r: r["fire_at"])[:batch]
        if not due:
            return 0
        await publish([TimerDue(timer_id=r["timer_id"], owner=r["owner"], purpose=r["purpose"],
                                fire_at=r["fire_at"], data=r["data"]) for r in due])
        for r in due:
            r.update(state="fired", fired_at=now, fired_by=replica)
        return len(due)

    async def next_due(self) -> datetime | None:
        pending = [r["fire_at"] for r in self.rows.values() if r["state"] == "pending"]
        return min(pending) if pending else None

    async def purge_finished(self, older_than_days: int = 7) -> int:
        return 0


class FakeDuePublisher:
    """``DuePublisher`` that keeps what was published."""

    def __init__(self) -> None:
        self.published: list[TimerDue] = []

    async def publish(self, due: list[TimerDue]) -> None:
        self.published.extend(due)

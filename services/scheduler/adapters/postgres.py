"""All SQL of the scheduler: timers stored in PostgreSQL, claimed with row locks so each fires once."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from libs.contracts import TimerDue, TimerSet

NOTIFY_CHANNEL = "sb_scheduler_timers"

_UPSERT = """
INSERT INTO scheduler_timers (owner, timer_id, purpose, fire_at, data)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (owner, timer_id) DO UPDATE
   SET purpose = EXCLUDED.purpose, fire_at = EXCLUDED.fire_at, data = EXCLUDED.data,
       state = 'pending', fired_at = NULL, fired_by = NULL, updated_at = now()
 WHERE NOT (scheduler_timers.state <> 'pending' AND scheduler_timers.fire_at = EXCLUDED.fire_at)
"""

_CLAIM = """
SELECT owner, timer_id, purpose, fire_at, data FROM scheduler_timers
 WHERE state = 'pending' AND fire_at <= now()
 ORDER BY fire_at
 LIMIT $1
 FOR UPDATE SKIP LOCKED
"""

_MARK_FIRED = """
UPDATE scheduler_timers AS t SET state = 'fired', fired_at = now(), fired_by = $3, updated_at = now()
  FROM unnest($1::text[], $2::text[]) AS f(owner, timer_id)
 WHERE t.owner = f.owner AND t.timer_id = f.timer_id
"""


class TimerRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert(self, t: TimerSet) -> None:
        """Set (or move) a timer. A redelivered command for a timer that already fired changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_UPSERT, t.owner, t.timer_id, t.purpose, t.fire_at, json.dumps(t.data))
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, t.owner)

    async def cancel(self, owner: str, timer_id: str) -> bool:
        result = await self.pool.execute(
            "UPDATE scheduler_timers SET state = 'cancelled', updated_at = now() "
            "WHERE owner = $1 AND timer_id = $2 AND state = 'pending'", owner, timer_id)
        return bool(result.endswith(" 1"))

    async def get(self, owner: str, timer_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT owner, timer_id, purpose, fire_at, data, state, fired_at, fired_by FROM scheduler_timers "
            "WHERE owner = $1 AND timer_id = $2", owner, timer_id)
        if row is None:
            return None
        out = dict(row)
        out["data"] = json.loads(out["data"])
        return out

    async def fire_due(self, publish: Callable[[list[TimerDue]], Awaitable[Any]], replica: str,
                       batch: int) -> int:
        """Claim due timers (skipping those another replica holds), publish them, mark them fired.

        The row locks are held while publishing: if this replica dies, PostgreSQL releases them and
        another replica fires the timers; ``Nats-Msg-Id`` makes a second publish of the same due event a
        no-op, so each timer is delivered once.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, batch)
            if not rows:
                return 0
            due = [TimerDue(timer_id=r["timer_id"], owner=r["owner"], purpose=r["purpose"], fire_at=r["fire_at"],
                            data=json.loads(r["data"])) for r in rows]
            await publish(due)
            await conn.execute(_MARK_FIRED, [r["owner"] for r in rows], [r["timer_id"] for r in rows], replica)
            return len(rows)

    async def next_due(self) -> datetime | None:
        return await self.pool.fetchval("SELECT min(fire_at) FROM scheduler_timers WHERE state = 'pending'")

    async def purge_finished(self, older_than_days: int = 7) -> int:
        result = await self.pool.execute(
            "DELETE FROM scheduler_timers WHERE state <> 'pending' AND updated_at < now() - make_interval(days => $1)",
            older_than_days)
        return int(result.split()[-1])

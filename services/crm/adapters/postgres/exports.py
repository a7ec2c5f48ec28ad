"""The rows of an export, streamed from a server-side cursor: the SQL stays here, the caller gets the column
names and batches of rows (never the whole result at once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.crm.adapters.ports import RowStream
from services.crm.adapters.postgres import calls, contacts, jobs, tickets
from services.crm.domain.contacts import ContactFilter

BATCH = 2000
Batches = AsyncIterator[list[tuple[Any, ...]]]


class ExportRows:
    """``ExportSource`` over PostgreSQL: each export reads in one read-only, repeatable-read transaction."""

    def __init__(self, pool: asyncpg.Pool, batch: int = BATCH) -> None:
        self.pool = pool
        self.batch = batch

    def contacts(self, f: ContactFilter) -> RowStream:
        return self._stream(*contacts.export_query(f))

    def calls(self, f: dict[str, Any]) -> RowStream:
        return self._stream(*calls.export_query(f))

    def tickets(self, *, status: str | None, **f: Any) -> RowStream:
        return self._stream(*tickets.export_query(status=status, **f))

    def outcome(self, job_id: str) -> RowStream:
        return self._stream(*jobs.outcome_query(job_id))

    def update_template(self, f: ContactFilter, columns: list[str]) -> RowStream:
        """The contacts a search finds, with the columns an update import reads back."""
        return self._stream(*contacts.update_template_query(f, columns))

    @asynccontextmanager
    async def _stream(self, sql: str, args: list[Any]) -> AsyncIterator[tuple[list[str], Batches]]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            stmt = await conn.prepare(sql)
            header = [a.name for a in stmt.get_attributes()]

            async def batches() -> Batches:
                cursor = await stmt.cursor(*args)
                while rows := await cursor.fetch(self.batch):
                    yield [tuple(r.values()) for r in rows]

            yield header, batches()

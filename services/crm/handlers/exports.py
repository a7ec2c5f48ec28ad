"""Streamed exports: rows come from a server-side cursor in batches, never the whole result at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from libs.core.errors import Invalid
from services.crm.adapters.spreadsheets import chunks_for
from services.crm.handlers import Crm

BATCH = 2000
FORMATS = ("csv", "xlsx")


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise Invalid(f"format must be csv or xlsx, got {fmt!r}", field="format")
    return fmt


async def export(crm: Crm, sql: str, args: list[Any], fmt: str, title: str) -> AsyncIterator[bytes]:
    """The file's bytes, produced while the rows are read in one read-only, repeatable-read transaction."""
    async with crm.pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        stmt = await conn.prepare(sql)
        header = [a.name for a in stmt.get_attributes()]

        async def batches() -> AsyncIterator[list[tuple[Any, ...]]]:
            cursor = await stmt.cursor(*args)
            while rows := await cursor.fetch(BATCH):
                yield [tuple(r.values()) for r in rows]

        async for chunk in chunks_for(fmt, header, batches(), title):
            yield chunk

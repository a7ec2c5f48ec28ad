"""Streamed exports: the file's bytes, made while the repository streams the rows in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator

from libs.core.errors import Invalid
from services.crm.adapters.ports import RowStream
from services.crm.adapters.spreadsheets import chunks_for

FORMATS = ("csv", "xlsx")


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise Invalid(f"format must be csv or xlsx, got {fmt!r}", field="format")
    return fmt


async def export(rows: RowStream, fmt: str, title: str) -> AsyncIterator[bytes]:
    """The file's bytes (CSV or XLSX) from a repository's row stream (``ExportSource``)."""
    async with rows as (header, batches):
        async for chunk in chunks_for(fmt, header, batches, title):
            yield chunk

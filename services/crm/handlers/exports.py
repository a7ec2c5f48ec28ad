"""Streamed exports: the file's bytes, made while the repository streams the rows in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from libs.core.errors import Invalid
from services.crm.adapters.ports import RowStream
from services.crm.adapters.spreadsheets import chunks_for
from services.crm.domain.visibility import NumberMask

FORMATS = ("csv", "xlsx")


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "csv").lower()
    if fmt not in FORMATS:
        raise Invalid(f"format must be csv or xlsx, got {fmt!r}", field="format")
    return fmt


async def export(rows: RowStream, fmt: str, title: str, mask: NumberMask | None = None) -> AsyncIterator[bytes]:
    """The file's bytes (CSV or XLSX) from a repository's row stream (``ExportSource``); with ``mask``, contact
    numbers are masked as the caller may see them."""
    async with rows as (header, batches):
        if mask is not None:
            batches = _masked(mask, header, batches)
        async for chunk in chunks_for(fmt, header, batches, title):
            yield chunk


async def _masked(mask: NumberMask, header: list[str], batches: AsyncIterator[list[tuple[Any, ...]]]
                  ) -> AsyncIterator[list[tuple[Any, ...]]]:
    async for batch in batches:
        yield [mask.row(header, row) for row in batch]

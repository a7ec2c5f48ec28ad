"""Row helpers shared by the repositories: JSON columns, dynamic WHERE clauses, the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import asyncpg

from services.crm.domain.common import dumps  # the one jsonb encoder, for every repository

Conn: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def as_dict(row: asyncpg.Record | None, json_cols: Iterable[str] = ()) -> dict[str, Any] | None:
    """A record as a dict with its jsonb columns decoded."""
    if row is None:
        return None
    out = dict(row)
    for col in json_cols:
        if isinstance(out.get(col), str):
            out[col] = json.loads(out[col])
    return out


def as_dicts(rows: Iterable[asyncpg.Record], json_cols: Iterable[str] = ()) -> list[dict[str, Any]]:
    cols = tuple(json_cols)
    return [as_dict(r, cols) for r in rows]  # type: ignore[misc]


class Where:
    """Builds ``WHERE a AND b`` with numbered parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, sql: str, *values: Any) -> None:
        """Add a condition; ``{}`` placeholders in ``sql`` become the parameters of ``values``."""
        self.parts.append(sql.format(*(self.arg(v) for v in values)))

    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.parts)) if self.parts else ""


def contact_window(contact_id: str, campaigns: list[str] | None, since: Any, time_col: str,
                   alias: str) -> Where:
    """A contact's rows, optionally only some campaigns' and only since a time (a contact's history)."""
    w = Where()
    w.add(f"{alias}.contact_id = {{}}", contact_id)
    if campaigns is not None:
        w.add(f"{alias}.campaign_id = ANY({{}}::text[])", campaigns)
    if since is not None:
        w.add(f"{alias}.{time_col} >= {{}}", since)
    return w


async def audit(conn: Conn, entity: str, entity_id: str, action: str, actor: str,
                changes: Mapping[str, Any] | None = None) -> None:
    """Record who changed what."""
    await conn.execute(
        "INSERT INTO crm.audit_log (entity, entity_id, action, actor, changes) VALUES ($1, $2, $3, $4, $5::jsonb)",
        entity, entity_id, action, actor, dumps(dict(changes or {})),
    )


async def audit_entries(conn: Conn, entity: str, entity_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, action, actor, changes, at FROM crm.audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        entity, entity_id)
    return as_dicts(rows, ("changes",))

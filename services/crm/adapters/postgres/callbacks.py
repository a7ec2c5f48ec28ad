"""Callbacks (agendas): scheduled follow-ups owned by a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts

COLS = ("b.id, b.owner_id, b.due_at, b.contact_id, b.case_id, b.campaign_id, b.note, b.status, b.work_case_id, "
        "b.created_by, b.created_at, b.updated_at")


async def insert(conn: Conn, callback_id: str, d: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO crm.callbacks (id, owner_id, due_at, contact_id, case_id, campaign_id, note, created_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        callback_id, d["owner_id"], d["due_at"], d.get("contact_id"), d.get("case_id"), d.get("campaign_id"),
        d.get("note") or "", d["created_by"])


async def get(conn: Conn, callback_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {COLS}, c.name AS contact_name FROM crm.callbacks b "
        f"LEFT JOIN crm.contacts c ON c.id = b.contact_id WHERE b.id = $1"
        f"{' FOR UPDATE OF b' if for_update else ''}", callback_id)
    return as_dict(row)


async def update(conn: Conn, callback_id: str, fields: dict[str, Any]) -> None:
    sets = [f"{k} = ${i + 2}" for i, k in enumerate(fields)]
    await conn.execute(f"UPDATE crm.callbacks SET {', '.join(sets)}, updated_at = now() WHERE id = $1",
                       callback_id, *fields.values())


async def search(conn: Conn, *, owners: list[str] | None, status: str | None, start: datetime | None,
                 end: datetime | None, limit: int, after: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    """Callbacks in due order (the calendar and the owner's list)."""
    w = Where()
    if owners:
        w.add("b.owner_id = ANY({}::text[])", owners)
    if status:
        w.add("b.status = {}", status)
    if start:
        w.add("b.due_at >= {}", start)
    if end:
        w.add("b.due_at < {}", end)
    if after:
        w.add("(b.due_at, b.id) > ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {COLS}, c.name AS contact_name FROM crm.callbacks b LEFT JOIN crm.contacts c "
        f"ON c.id = b.contact_id {w.sql()} ORDER BY b.due_at, b.id LIMIT {int(limit)}", *w.args)
    return as_dicts(rows)


async def pending_of(conn: Conn, owners: list[str]) -> list[dict[str, Any]]:
    """Pending callbacks of some users, locked, for a reassignment."""
    rows = await conn.fetch(f"SELECT {COLS} FROM crm.callbacks b WHERE b.owner_id = ANY($1::text[]) "
                            f"AND b.status = 'pending' ORDER BY b.due_at, b.id FOR UPDATE", owners)
    return as_dicts(rows)


async def set_owners(conn: Conn, pairs: list[tuple[str, str]]) -> None:
    await conn.execute(
        "UPDATE crm.callbacks b SET owner_id = x.owner, updated_at = now() "
        "FROM unnest($1::text[], $2::text[]) AS x(id, owner) WHERE b.id = x.id",
        [p[0] for p in pairs], [p[1] for p in pairs])

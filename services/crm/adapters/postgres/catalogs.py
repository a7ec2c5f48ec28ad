"""The admins' catalogs in ``crm.catalog_items``: dispositions (scope: their campaign), ticket forms and action
types (scope ''), and what depends on an item (the delete guard)."""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.core.errors import Conflict
from services.crm.adapters.postgres.base import Conn, as_dict, as_dicts, dumps

COLS = "kind, scope, id, name, position, data, created_at, updated_at, created_by, updated_by"


async def items(conn: Conn, kind: str, scope: str = "") -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLS} FROM crm.catalog_items WHERE kind = $1 AND scope = $2 "
                            f"ORDER BY position, lower(name), id", kind, scope)
    return as_dicts(rows, ("data",))


async def get(conn: Conn, kind: str, key: str, scope: str = "", *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLS} FROM crm.catalog_items WHERE kind = $1 AND scope = $2 AND id = $3"
                              f"{' FOR UPDATE' if for_update else ''}", kind, scope, key)
    return as_dict(row, ("data",))


async def insert(conn: Conn, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                 actor: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            f"INSERT INTO crm.catalog_items (kind, scope, id, name, position, data, created_by, updated_by) "
            f"VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7) RETURNING {COLS}",
            kind, scope, key, name, position, dumps(data), actor)
    except asyncpg.UniqueViolationError as exc:
        field = "name" if "name" in (exc.constraint_name or "") else "id"
        raise Conflict(f"a {kind.replace('_', ' ')} with this {field} already exists", field=field) from exc
    return as_dict(row, ("data",))  # type: ignore[return-value]


async def update(conn: Conn, kind: str, scope: str, key: str, name: str, position: int, data: dict[str, Any],
                 actor: str) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            f"UPDATE crm.catalog_items SET name = $4, position = $5, data = $6::jsonb, updated_by = $7, "
            f"updated_at = now() WHERE kind = $1 AND scope = $2 AND id = $3 RETURNING {COLS}",
            kind, scope, key, name, position, dumps(data), actor)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"a {kind.replace('_', ' ')} with this name already exists", field="name") from exc
    return as_dict(row, ("data",))  # type: ignore[return-value]


async def delete(conn: Conn, kind: str, key: str, scope: str = "") -> bool:
    return await conn.execute("DELETE FROM crm.catalog_items WHERE kind = $1 AND scope = $2 AND id = $3",
                              kind, scope, key) == "DELETE 1"


async def referrers(conn: Conn, kind: str, key: str) -> dict[str, list[str]]:
    """What refers to a catalog item, by what it is: action types using a form; dispositions whose follow-up
    creates an action of a type; pending ticket actions of a type (their tickets)."""
    out: dict[str, list[str]] = {}
    if kind == "ticket_form":
        rows = await conn.fetch("SELECT id FROM crm.catalog_items WHERE kind = 'action_type' AND data->>'form_id' = $1 "
                                "ORDER BY id", key)
        out["action_types"] = [r["id"] for r in rows]
    if kind == "action_type":
        rows = await conn.fetch("SELECT scope || '/' || id AS ref FROM crm.catalog_items WHERE kind = 'disposition' "
                                "AND data->'follow_up'->>'action_type_id' = $1 ORDER BY 1", key)
        out["dispositions"] = [r["ref"] for r in rows]
        rows = await conn.fetch("SELECT DISTINCT ticket_id FROM crm.ticket_actions WHERE kind = $1 AND "
                                "status = 'pending' ORDER BY 1 LIMIT 20", key)
        out["tickets"] = [r["ticket_id"] for r in rows]
    return {k: v for k, v in out.items() if v}

"""A campaign's resource gallery (``crm.resources``)."""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.core.errors import Conflict
from services.crm.adapters.postgres.base import Conn, as_dict, as_dicts

COLS = "id, campaign_id, kind, name, text, sha256, mime_type, size, filename, created_at, updated_at, created_by"


async def insert(conn: Conn, d: dict[str, Any]) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            f"INSERT INTO crm.resources (id, campaign_id, kind, name, text, sha256, mime_type, size, filename, "
            f"created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLS}",
            d["id"], d["campaign_id"], d["kind"], d["name"], d.get("text"), d.get("sha256"), d.get("mime_type"),
            d.get("size"), d.get("filename"), d["created_by"])
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"the campaign's gallery already has a {d['kind'].replace('_', ' ')} named {d['name']!r}",
                       field="name") from exc
    return dict(row)


async def get(conn: Conn, resource_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow(f"SELECT {COLS} FROM crm.resources WHERE id = $1", resource_id))


async def of_campaign(conn: Conn, campaign_id: str, kind: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLS} FROM crm.resources WHERE campaign_id = $1 AND ($2::text IS NULL OR "
                            f"kind = $2) ORDER BY kind, lower(name), id", campaign_id, kind)
    return as_dicts(rows)


async def update(conn: Conn, resource_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    sets = [f"{k} = ${i + 2}" for i, k in enumerate(fields)]
    try:
        row = await conn.fetchrow(f"UPDATE crm.resources SET {', '.join(sets)}, updated_at = now() WHERE id = $1 "
                                  f"RETURNING {COLS}", resource_id, *fields.values())
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("the campaign's gallery already has one with that name", field="name") from exc
    return dict(row)


async def delete(conn: Conn, resource_id: str) -> None:
    await conn.execute("DELETE FROM crm.resources WHERE id = $1", resource_id)

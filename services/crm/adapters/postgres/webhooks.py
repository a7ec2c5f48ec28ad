"""Webhooks and their delivery queue (``crm.webhooks``, ``crm.webhook_deliveries``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, as_dict, as_dicts, dumps

HOOK_COLS = "id, campaign_id, url, secret_sealed, events, active, created_at, updated_at, created_by"
DELIVERY_COLS = ("id, webhook_id, event_id, event_type, payload, status, attempts, next_at, last_status, last_error, "
                 "delivered_at, created_at")


async def insert(conn: Conn, d: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"INSERT INTO crm.webhooks (id, campaign_id, url, secret_sealed, events, active, created_by) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {HOOK_COLS}",
        d["id"], d["campaign_id"], d["url"], d["secret_sealed"], d["events"], d["active"], d["created_by"])
    return dict(row)


async def get(conn: Conn, hook_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {HOOK_COLS} FROM crm.webhooks WHERE id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", hook_id)
    return as_dict(row)


async def update(conn: Conn, hook_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    sets = [f"{k} = ${i + 2}" for i, k in enumerate(fields)]
    row = await conn.fetchrow(f"UPDATE crm.webhooks SET {', '.join(sets)}, updated_at = now() WHERE id = $1 "
                              f"RETURNING {HOOK_COLS}", hook_id, *fields.values())
    return dict(row)


async def delete(conn: Conn, hook_id: str) -> bool:
    return await conn.execute("DELETE FROM crm.webhooks WHERE id = $1", hook_id) == "DELETE 1"


async def of_campaign(conn: Conn, campaign_id: str | None, *, active_only: bool = False) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {HOOK_COLS} FROM crm.webhooks WHERE ($1::text IS NULL OR campaign_id = $1) "
        f"{'AND active' if active_only else ''} ORDER BY created_at, id", campaign_id)
    return as_dicts(rows)


async def enqueue(conn: Conn, hook_id: str, event_id: str, event_type: str, payload: dict[str, Any]) -> None:
    """One delivery per (webhook, event): a redelivered event queues nothing new."""
    await conn.execute(
        "INSERT INTO crm.webhook_deliveries (webhook_id, event_id, event_type, payload) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (webhook_id, event_id) DO NOTHING", hook_id, event_id, event_type, dumps(payload))


async def claim_due(conn: Conn, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
    """Due pending deliveries, each leased (its ``next_at`` pushed to ``lease_until``) so another replica leaves
    it alone while it is being sent; a sender that dies lets the lease run out and the delivery is tried again."""
    rows = await conn.fetch(
        f"""UPDATE crm.webhook_deliveries d SET next_at = $2
            FROM (SELECT id FROM crm.webhook_deliveries WHERE status = 'pending' AND next_at <= $1
                  ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
            WHERE d.id = due.id
            RETURNING {', '.join('d.' + c.strip() for c in DELIVERY_COLS.split(','))}""", now, lease_until, limit)
    return as_dicts(rows, ("payload",))


async def settle(conn: Conn, delivery_id: int, *, status: str, attempts: int, next_at: datetime | None,
                 last_status: int | None, last_error: str | None, at: datetime) -> None:
    await conn.execute(
        "UPDATE crm.webhook_deliveries SET status = $2, attempts = $3, next_at = coalesce($4, next_at), "
        "last_status = $5, last_error = $6, delivered_at = CASE WHEN $2 = 'delivered' THEN $7::timestamptz END "
        "WHERE id = $1",
        delivery_id, status, attempts, next_at, last_status, last_error, at)


async def deliveries(conn: Conn, hook_id: str, status: str | None, limit: int, after: int | None
                     ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {DELIVERY_COLS} FROM crm.webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR "
        f"status = $2) AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT {int(limit)}",
        hook_id, status, after)
    return as_dicts(rows, ("payload",))


async def delivery(conn: Conn, delivery_id: int, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {DELIVERY_COLS} FROM crm.webhook_deliveries WHERE id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", delivery_id)
    return as_dict(row, ("payload",))


async def requeue(conn: Conn, delivery_id: int, at: datetime) -> None:
    await conn.execute("UPDATE crm.webhook_deliveries SET status = 'pending', attempts = 0, next_at = $2, "
                       "last_error = NULL WHERE id = $1", delivery_id, at)

"""The preview dialer's queries: the lists of a campaign with what is left to call, and the next member."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, as_dict, as_dicts


async def lists_of(conn: Conn, campaign_id: str, now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT l.id, l.name, l.campaign_id, count(m.*) FILTER (WHERE m.status = 'pending') AS pending, "
        "count(m.*) AS members FROM crm.lists l LEFT JOIN crm.list_members m ON m.list_id = l.id "
        "WHERE l.campaign_id = $1 GROUP BY l.id ORDER BY l.created_at, l.id", campaign_id)
    return as_dicts(rows)


async def get_list(conn: Conn, list_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow("SELECT id, name, campaign_id FROM crm.lists WHERE id = $1", list_id))


async def claim_next(conn: Conn, list_id: str, user: str, now: datetime, until: datetime) -> dict[str, Any] | None:
    """The next pending member (the caller's own claim first, then fewest attempts, never tried first, oldest in
    the list) not held by another agent; held for ``user`` until ``until``."""
    row = await conn.fetchrow(
        """UPDATE crm.list_members m SET claimed_by = $3, claimed_until = $4
           FROM (SELECT list_id, contact_id FROM crm.list_members
                 WHERE list_id = $1 AND status = 'pending'
                   AND (claimed_until IS NULL OR claimed_until < $2 OR claimed_by = $3)
                 ORDER BY (claimed_by = $3 AND claimed_until >= $2) DESC NULLS LAST, attempts,
                          last_contact_at NULLS FIRST, added_at, contact_id
                 LIMIT 1 FOR UPDATE SKIP LOCKED) nxt
           WHERE m.list_id = nxt.list_id AND m.contact_id = nxt.contact_id
           RETURNING m.list_id, m.contact_id, m.batch_id, m.status, m.attempts, m.last_contact_at, m.last_user,
                     m.last_typification, m.claimed_until""", list_id, now, user, until)
    return as_dict(row)


async def open_case(conn: Conn, campaign_id: str, contact_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow(
        "SELECT id, assigned_user FROM crm.cases WHERE campaign_id = $1 AND contact_id = $2 AND status <> 'closed' "
        "ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE", campaign_id, contact_id))

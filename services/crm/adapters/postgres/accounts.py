"""Accounts (a customer's loan, plan...) in a campaign, and lists / batches with their members."""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.core.errors import Conflict
from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, dumps

ACCOUNT_COLS = "id, contact_id, campaign_id, number, product, fields, assigned_user, created_at, updated_at"


async def insert_account(conn: Conn, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"INSERT INTO crm.accounts (id, contact_id, campaign_id, number, product, fields, assigned_user) "
        f"VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (campaign_id, number) DO NOTHING "
        f"RETURNING {ACCOUNT_COLS}",
        account_id, data["contact_id"], data["campaign_id"], data["number"], data.get("product"),
        dumps(data.get("fields") or {}), data.get("assigned_user"))
    return as_dict(row, ("fields",))  # type: ignore[return-value]


async def get_account(conn: Conn, account_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {ACCOUNT_COLS} FROM crm.accounts WHERE id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", account_id)
    return as_dict(row, ("fields",))


async def update_account(conn: Conn, account_id: str, data: dict[str, Any]) -> None:
    """Change an account.

    Raises:
        Conflict: its new number is another account's in the campaign.
    """
    sets, args = [], [account_id]
    for key in ("number", "product", "fields", "assigned_user"):
        if key in data:
            args.append(dumps(data[key]) if key == "fields" else data[key])
            sets.append(f"{key} = ${len(args)}{'::jsonb' if key == 'fields' else ''}")
    if not sets:
        return
    try:
        await conn.execute(f"UPDATE crm.accounts SET {', '.join(sets)}, updated_at = now() WHERE id = $1", *args)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"account {data.get('number')} already exists in the campaign", field="number") from None


async def delete_account(conn: Conn, account_id: str) -> bool:
    return await conn.execute("DELETE FROM crm.accounts WHERE id = $1", account_id) == "DELETE 1"


async def list_accounts(conn: Conn, contact_id: str | None, campaign_id: str | None, limit: int,
                        after: tuple[Any, ...] | None, campaigns: list[str] | None = None) -> list[dict[str, Any]]:
    """``campaigns``: only these campaigns' accounts (a caller's scope)."""
    w = Where()
    if campaigns is not None:
        w.add("campaign_id = ANY({}::text[])", campaigns)
    if contact_id:
        w.add("contact_id = {}", contact_id)
    if campaign_id:
        w.add("campaign_id = {}", campaign_id)
    if after:
        w.add("(created_at, id) < ({}, {})", *after)
    rows = await conn.fetch(f"SELECT {ACCOUNT_COLS} FROM crm.accounts {w.sql()} "
                            f"ORDER BY created_at DESC, id DESC LIMIT {int(limit)}", *w.args)
    return as_dicts(rows, ("fields",))


async def insert_group(conn: Conn, table: str, group_id: str, name: str, campaign_id: str | None
                       ) -> dict[str, Any]:
    assert table in ("lists", "batches")
    row = await conn.fetchrow(f"INSERT INTO crm.{table} (id, name, campaign_id) VALUES ($1, $2, $3) "
                              f"RETURNING id, name, campaign_id, created_at", group_id, name, campaign_id)
    return dict(row)


async def get_group(conn: Conn, table: str, group_id: str) -> dict[str, Any] | None:
    assert table in ("lists", "batches")
    members = "list_members" if table == "lists" else "batch_members"
    key = "list_id" if table == "lists" else "batch_id"
    row = await conn.fetchrow(
        f"SELECT g.id, g.name, g.campaign_id, g.created_at, "
        f"(SELECT count(*) FROM crm.{members} m WHERE m.{key} = g.id) AS members "
        f"FROM crm.{table} g WHERE g.id = $1", group_id)
    return as_dict(row)


async def list_groups(conn: Conn, table: str, campaign_id: str | None, limit: int,
                      after: tuple[Any, ...] | None, campaigns: list[str] | None = None) -> list[dict[str, Any]]:
    """Lists or batches, newest first, those older than ``after`` (``created_at``, ``id``); ``campaigns``:
    only these campaigns' (a caller's scope)."""
    assert table in ("lists", "batches")
    at, last = after or (None, None)
    rows = await conn.fetch(f"SELECT id, name, campaign_id, created_at FROM crm.{table} "
                            "WHERE ($1::text IS NULL OR campaign_id = $1) "
                            "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
                            "AND ($5::text[] IS NULL OR campaign_id = ANY($5)) "
                            "ORDER BY created_at DESC, id DESC LIMIT $4", campaign_id, at, last, limit, campaigns)
    return as_dicts(rows)


async def missing_contacts(conn: Conn, contact_ids: list[str]) -> list[str]:
    """The ids that are not contacts. The others stay locked (``FOR KEY SHARE``) until the transaction ends:
    none of them can be deleted under the rows written for it (those tables have no foreign keys)."""
    rows = await conn.fetch("SELECT id FROM crm.contacts WHERE id = ANY($1::text[]) FOR KEY SHARE", contact_ids)
    found = {r["id"] for r in rows}
    return [c for c in contact_ids if c not in found]


async def add_members(conn: Conn, table: str, group_id: str, contact_ids: list[str],
                      batch_id: str | None = None) -> int:
    """Add contacts to a list or a batch; returns how many were new."""
    if table == "lists":
        status = await conn.execute(
            "INSERT INTO crm.list_members (list_id, contact_id, batch_id) SELECT $1, x, $3 "
            "FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING", group_id, contact_ids, batch_id)
    else:
        status = await conn.execute(
            "INSERT INTO crm.batch_members (batch_id, contact_id) SELECT $1, x FROM unnest($2::text[]) AS x "
            "ON CONFLICT DO NOTHING", group_id, contact_ids)
    return int(status.split()[-1])


async def remove_member(conn: Conn, table: str, group_id: str, contact_id: str) -> bool:
    members, key = ("list_members", "list_id") if table == "lists" else ("batch_members", "batch_id")
    status = await conn.execute(f"DELETE FROM crm.{members} WHERE {key} = $1 AND contact_id = $2",
                                group_id, contact_id)
    return status == "DELETE 1"


async def list_members(conn: Conn, list_id: str, limit: int, after: tuple[Any, ...] | None
                       ) -> list[dict[str, Any]]:
    w = Where()
    w.add("m.list_id = {}", list_id)
    if after:
        w.add("m.contact_id > {}", after[0])
    rows = await conn.fetch(
        f"SELECT m.contact_id, c.name, m.batch_id, m.status, m.attempts, m.last_contact_at, m.last_user, "
        f"m.last_typification FROM crm.list_members m JOIN crm.contacts c ON c.id = m.contact_id {w.sql()} "
        f"ORDER BY m.contact_id LIMIT {int(limit)}", *w.args)
    return as_dicts(rows)

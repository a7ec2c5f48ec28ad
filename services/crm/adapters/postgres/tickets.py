"""Tickets and their actions (seed 001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, dumps

TICKET_COLS = ("t.id, t.contact_id, t.subject, t.description, t.status, t.priority, t.agent_id, t.group_name, "
               "t.forms, t.call_id, t.case_id, t.created_by, t.created_at, t.updated_at, t.closed_at")
ACTION_COLS = ("a.id, a.ticket_id, a.kind, a.subject, a.status, a.priority, a.agent_id, a.group_name, a.forms, "
               "a.due_at, a.created_at, a.updated_at, a.done_at")
PENDING = "EXISTS (SELECT 1 FROM crm.ticket_actions p WHERE p.ticket_id = t.id AND p.status = 'pending')"


async def insert_ticket(conn: Conn, ticket_id: str, d: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO crm.tickets (id, contact_id, subject, description, priority, agent_id, group_name, forms, "
        "call_id, case_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)",
        ticket_id, d["contact_id"], d["subject"], d.get("description") or "", d["priority"], d.get("agent_id"),
        d.get("group"), dumps(d.get("forms") or {}), d.get("call_id"), d.get("case_id"), d["created_by"])


async def insert_action(conn: Conn, action_id: str, ticket_id: str, d: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO crm.ticket_actions (id, ticket_id, kind, subject, status, priority, agent_id, group_name, "
        "forms, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)",
        action_id, ticket_id, d["kind"], d.get("subject") or "", d.get("status") or "pending", d["priority"],
        d.get("agent_id"), d.get("group"), dumps(d.get("forms") or {}), d.get("due_at"))


async def get_ticket(conn: Conn, ticket_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {TICKET_COLS}, {PENDING} AS pending FROM crm.tickets t WHERE t.id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", ticket_id)
    return as_dict(row, ("forms",))


async def get_action(conn: Conn, action_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {ACTION_COLS} FROM crm.ticket_actions a WHERE a.id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", action_id)
    return as_dict(row, ("forms",))


async def actions_of(conn: Conn, ticket_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {ACTION_COLS} FROM crm.ticket_actions a WHERE a.ticket_id = $1 "
                            f"ORDER BY a.created_at, a.id", ticket_id)
    return as_dicts(rows, ("forms",))


def _set(table: str, fields: dict[str, Any]) -> tuple[str, list[Any]]:
    sets, args = [], []
    for key, value in fields.items():
        args.append(dumps(value) if key == "forms" else value)
        sets.append(f"{key} = ${len(args) + 1}{'::jsonb' if key == 'forms' else ''}")
    return f"UPDATE crm.{table} SET {', '.join(sets)}, updated_at = now() WHERE id = $1", args


async def update_ticket(conn: Conn, ticket_id: str, fields: dict[str, Any]) -> None:
    sql, args = _set("tickets", fields)
    await conn.execute(sql, ticket_id, *args)


async def update_action(conn: Conn, action_id: str, fields: dict[str, Any]) -> None:
    sql, args = _set("ticket_actions", fields)
    await conn.execute(sql, action_id, *args)


def _common(w: Where, alias: str, *, start: datetime | None, end: datetime | None, contact_id: str | None,
            agent_id: str | None, company: str | None, priority: int | None, agents: list[str] | None = None
            ) -> None:
    if start:
        w.add(f"{alias}.created_at >= {{}}", start)
    if end:
        w.add(f"{alias}.created_at < {{}}", end)
    if contact_id:
        w.add("t.contact_id = {}", contact_id)
    if agent_id:
        w.add(f"{alias}.agent_id = {{}}", agent_id)
    if company:
        w.add("lower(c.company) = lower({})", company)
    if priority is not None:
        w.add(f"{alias}.priority = {{}}", priority)
    if agents is not None:  # the caller's scope: these agents' items and nobody's
        w.add(f"({alias}.agent_id IS NULL OR {alias}.agent_id = ANY({{}}::text[]))", agents)


async def search_tickets(conn: Conn, *, status: str | None, pending: bool | None, limit: int,
                         after: tuple[Any, ...] | None, **common: Any) -> list[dict[str, Any]]:
    w = Where()
    if status:
        w.add("t.status = {}", status)
    if pending is not None:
        w.add(PENDING if pending else f"NOT {PENDING}")
    _common(w, "t", **common)
    if after:
        w.add("(t.created_at, t.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {TICKET_COLS}, {PENDING} AS pending, c.name AS contact_name, c.company FROM crm.tickets t "
        f"JOIN crm.contacts c ON c.id = t.contact_id {w.sql()} ORDER BY t.created_at DESC, t.id DESC "
        f"LIMIT {int(limit)}", *w.args)
    return as_dicts(rows, ("forms",))


async def search_actions(conn: Conn, *, status: str | None, limit: int, after: tuple[Any, ...] | None,
                         **common: Any) -> list[dict[str, Any]]:
    w = Where()
    if status:
        w.add("a.status = {}", status)
    _common(w, "a", **common)
    if after:
        w.add("(a.created_at, a.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {ACTION_COLS}, t.subject AS ticket_subject, t.contact_id, c.name AS contact_name, c.company "
        f"FROM crm.ticket_actions a JOIN crm.tickets t ON t.id = a.ticket_id "
        f"JOIN crm.contacts c ON c.id = t.contact_id {w.sql()} ORDER BY a.created_at DESC, a.id DESC "
        f"LIMIT {int(limit)}", *w.args)
    return as_dicts(rows, ("forms",))


def export_query(*, status: str | None, **common: Any) -> tuple[str, list[Any]]:
    w = Where()
    if status:
        w.add("t.status = {}", status)
    _common(w, "t", **common)
    return (f"SELECT t.id, t.subject, t.status, {PENDING} AS pending, t.priority, t.agent_id, t.group_name, "
            f"c.name AS contact, c.company, t.created_at, t.closed_at, t.description FROM crm.tickets t "
            f"JOIN crm.contacts c ON c.id = t.contact_id {w.sql()} ORDER BY t.created_at DESC, t.id DESC", w.args)

"""Cases (gestiones), their history and attachments; the operator panel's queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, contact_window, dumps

CASE_COLS = ("id, campaign_id, contact_id, account_id, conversation_id, title, status, priority, assigned_user, "
             "result, fields, attempts, created_at, updated_at, attended_at, attended_by, closed_at, closed_by, "
             "combined_into")
# Case events that record work done on it (a "gestión", seed 002): not opening it, not its result.
WORK_KINDS = ("comment", "action", "email", "attachment", "call", "combined")


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in CASE_COLS.split(","))


async def insert(conn: Conn, case_id: str, data: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"INSERT INTO crm.cases (id, campaign_id, contact_id, account_id, conversation_id, title, priority, "
        f"assigned_user) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CASE_COLS}",
        case_id, data["campaign_id"], data["contact_id"], data.get("account_id"), data.get("conversation_id"),
        data.get("title") or "", data.get("priority", 0), data.get("assigned_user"))
    return as_dict(row, ("fields",))  # type: ignore[return-value]


async def get(conn: Conn, case_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {CASE_COLS} FROM crm.cases WHERE id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", case_id)
    return as_dict(row, ("fields",))


async def update(conn: Conn, case_id: str, **fields: Any) -> None:
    sets, args = [], [case_id]
    for key, value in fields.items():
        args.append(dumps(value) if key == "fields" else value)
        sets.append(f"{key} = ${len(args)}{'::jsonb' if key == 'fields' else ''}")
    await conn.execute(f"UPDATE crm.cases SET {', '.join(sets)}, updated_at = now() WHERE id = $1", *args)


async def add_event(conn: Conn, case_id: str, kind: str, actor: str, body: str | None = None,
                    data: dict[str, Any] | None = None) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO crm.case_events (case_id, kind, actor, body, data) VALUES ($1, $2, $3, $4, $5::jsonb) "
        "RETURNING id, kind, actor, body, data, at", case_id, kind, actor, body, dumps(data or {}))
    return as_dict(row, ("data",))  # type: ignore[return-value]


async def events(conn: Conn, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT id, kind, actor, body, data, at FROM crm.case_events WHERE case_id = $1 "
                            "ORDER BY id", case_id)
    return as_dicts(rows, ("data",))


async def search(conn: Conn, *, campaign_id: str | None, contact_id: str | None, status: str | None,
                 assigned_user: str | None, priority: int | None, limit: int, after: tuple[Any, ...] | None
                 ) -> list[dict[str, Any]]:
    w = Where()
    for col, value in (("campaign_id", campaign_id), ("contact_id", contact_id), ("status", status),
                       ("assigned_user", assigned_user), ("priority", priority)):
        if value is not None:
            w.add(f"k.{col} = {{}}", value)
    if after:
        w.add("(k.created_at, k.id) < ({}, {})", *after)
    rows = await conn.fetch(f"SELECT {_cols('k')} FROM crm.cases k {w.sql()} "
                            f"ORDER BY k.created_at DESC, k.id DESC LIMIT {int(limit)}", *w.args)
    return as_dicts(rows, ("fields",))


# An open work item's latest result (seed 003 "Resultado de la Gestión", the panel's filter): its own, else the
# latest its contact got in the campaign: a closed case's result, or the last typification of an attempt in one of
# the campaign's lists (a reprocessed member keeps it).
LAST_RESULT = (
    "coalesce(k.result, (SELECT x.result FROM (SELECT k2.result, k2.closed_at AS at FROM crm.cases k2 "
    "WHERE k2.contact_id = k.contact_id AND k2.campaign_id = k.campaign_id AND k2.result IS NOT NULL "
    "UNION ALL SELECT m.last_typification, m.last_contact_at FROM crm.list_members m JOIN crm.lists l "
    "ON l.id = m.list_id WHERE m.contact_id = k.contact_id AND l.campaign_id = k.campaign_id "
    "AND m.last_typification IS NOT NULL) x ORDER BY x.at DESC NULLS LAST LIMIT 1))")


def _panel_where(campaign_id: str, agent_id: str | None, all_items: bool, q: str | None, result: str | None,
                 exclude: str | None = None) -> Where:
    """Open items of a campaign: the agent's and the unassigned ones (every one when ``all_items``),
    filtered by the panel's local filter (name, result)."""
    w = Where()
    w.add("k.campaign_id = {}", campaign_id)
    w.add("k.status <> 'closed'")
    if not all_items:
        w.add("(k.assigned_user = {} OR k.assigned_user IS NULL)", agent_id)
    if q:
        w.add("lower(c.name) LIKE {}", f"%{q.lower()}%")
    if result:
        w.add(f"{LAST_RESULT} = {{}}", result)
    if exclude:
        w.add("k.id <> {}", exclude)
    return w


async def panel(conn: Conn, campaign_id: str, agent_id: str | None, all_items: bool, q: str | None,
                result: str | None, limit: int, after: tuple[Any, ...] | None, *, exclude: str | None = None,
                lock: bool = False) -> list[dict[str, Any]]:
    """Work items with their contact and plan, highest priority first, then oldest: the open items of a
    campaign, the agent's and the unassigned ones (every one when ``all_items``), filtered by the panel's local
    filter (name, result); ``lock`` takes them ``FOR UPDATE SKIP LOCKED``."""
    w = _panel_where(campaign_id, agent_id, all_items, q, result, exclude)
    if after:
        w.add("(-k.priority, k.created_at, k.id) > ({}, {}, {})", -after[0], after[1], after[2])
    rows = await conn.fetch(
        f"SELECT {_cols('k')}, c.name AS contact_name, c.document AS contact_document, c.company, "
        f"{LAST_RESULT} AS last_result, "
        f"(SELECT coalesce(json_agg(a.value ORDER BY a.position), '[]') FROM crm.contact_addresses a "
        f" WHERE a.contact_id = c.id AND a.kind = 'phone') AS phones, "
        f"(SELECT row_to_json(x) FROM (SELECT ac.number, ac.product, ac.fields FROM crm.accounts ac "
        f" WHERE ac.id = k.account_id) x) AS account "
        f"FROM crm.cases k JOIN crm.contacts c ON c.id = k.contact_id {w.sql()} "
        f"ORDER BY k.priority DESC, k.created_at, k.id LIMIT {int(limit)}"
        f"{' FOR UPDATE OF k SKIP LOCKED' if lock else ''}", *w.args)
    return as_dicts(rows, ("fields", "phones", "account"))


async def for_contact(conn: Conn, contact_id: str, campaigns: list[str] | None, since: datetime | None
                      ) -> list[dict[str, Any]]:
    w = contact_window(contact_id, campaigns, since, "created_at", "k")
    rows = await conn.fetch(f"SELECT {_cols('k')} FROM crm.cases k {w.sql()} ORDER BY k.created_at DESC LIMIT 500",
                            *w.args)
    return as_dicts(rows, ("fields",))


async def bump_list_member(conn: Conn, contact_id: str, campaign_id: str | None, list_id: str | None, user: str,
                           typification: str | None, at: datetime) -> None:
    """An attempt on a contact counts in its lists (the given one, or the campaign's lists)."""
    await conn.execute(
        "UPDATE crm.list_members m SET attempts = attempts + 1, last_contact_at = $4, last_user = $5, "
        "last_typification = coalesce($6, last_typification), status = 'worked' "
        "WHERE m.contact_id = $1 AND (m.list_id = $3 OR ($3::text IS NULL AND m.list_id IN "
        "(SELECT id FROM crm.lists WHERE campaign_id = $2)))",
        contact_id, campaign_id, list_id, at, user, typification)


async def add_attachment(conn: Conn, data: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO crm.attachments (id, owner_kind, owner_id, filename, mime_type, size, sha256, blob_key, "
        "uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "RETURNING id, owner_kind, owner_id, filename, mime_type, size, sha256, uploaded_by, at",
        data["id"], data["owner_kind"], data["owner_id"], data["filename"], data["mime_type"], data["size"],
        data["sha256"], data["blob_key"], data["uploaded_by"])
    return dict(row)


async def attachments(conn: Conn, owner_kind: str, owner_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, owner_kind, owner_id, filename, mime_type, size, sha256, uploaded_by, at FROM crm.attachments "
        "WHERE owner_kind = $1 AND owner_id = $2 ORDER BY at", owner_kind, owner_id)
    return as_dicts(rows)


async def attachment(conn: Conn, attachment_id: str) -> dict[str, Any] | None:
    return as_dict(await conn.fetchrow("SELECT * FROM crm.attachments WHERE id = $1", attachment_id))


_OWNERS = {
    "case": "SELECT assigned_user AS agent_id, campaign_id FROM crm.cases WHERE id = $1",
    "ticket": "SELECT agent_id, NULL::text AS campaign_id FROM crm.tickets WHERE id = $1",
    "call": "SELECT agent_id, campaign_id FROM crm.calls WHERE id = $1",
}


async def attachment_owner(conn: Conn, owner_kind: str, owner_id: str) -> dict[str, Any]:
    """``{agent_id, campaign_id}`` of the item an attachment belongs to (both ``None`` when it is gone)."""
    row = await conn.fetchrow(_OWNERS[owner_kind], owner_id) if owner_kind in _OWNERS else None
    return dict(row) if row is not None else {"agent_id": None, "campaign_id": None}


async def account_summary(conn: Conn, account_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT id, number, product, fields FROM crm.accounts WHERE id = $1", account_id)
    return as_dict(row, ("fields",))


async def account_of_contact(conn: Conn, account_id: str, contact_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM crm.accounts WHERE id = $1 AND contact_id = $2",
                                    account_id, contact_id))


async def open_cases_of(conn: Conn, contact_ids: list[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {CASE_COLS} FROM crm.cases WHERE contact_id = ANY($1::text[]) "
                            f"AND status <> 'closed' ORDER BY priority DESC, created_at LIMIT 200", contact_ids)
    return as_dicts(rows, ("fields",))


async def owner_exists(conn: Conn, owner_kind: str, owner_id: str) -> bool:
    table = {"case": "cases", "ticket": "tickets", "call": "calls"}[owner_kind]
    return bool(await conn.fetchval(f"SELECT true FROM crm.{table} WHERE id = $1", owner_id))


async def has_work_record(conn: Conn, case_id: str) -> bool:
    """Whether anything was done on the case: a comment, action, e-mail, attachment or call in its history."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM crm.case_events WHERE case_id = $1 AND kind = ANY($2::text[]))",
        case_id, list(WORK_KINDS)))


async def move_into(conn: Conn, source_id: str, target_id: str) -> int:
    """Combine: the source case's history and attachments become the target's (each event keeps its time and
    author, and says where it came from); returns how many events moved."""
    moved = await conn.execute(
        "UPDATE crm.case_events SET case_id = $2, data = data || jsonb_build_object('combined_from', $1::text) "
        "WHERE case_id = $1", source_id, target_id)
    await conn.execute("UPDATE crm.attachments SET owner_id = $2 WHERE owner_kind = 'case' AND owner_id = $1",
                       source_id, target_id)
    return int(moved.split()[-1])


async def latest_result(conn: Conn, case_id: str, contact_id: str, campaign_id: str) -> dict[str, Any] | None:
    """The most recent result given to this case, else to the contact's latest closed case or conversation of
    the campaign: ``{result, fields, at, case_id | conversation_id}`` (autocomplete)."""
    row = await conn.fetchrow(
        "SELECT body AS result, data->'fields' AS fields, at, case_id FROM crm.case_events "
        "WHERE case_id = $1 AND kind = 'result' ORDER BY id DESC LIMIT 1", case_id)
    if row is None:
        row = await conn.fetchrow(
            "SELECT result, fields, closed_at AS at, id AS case_id FROM crm.cases WHERE contact_id = $1 "
            "AND campaign_id = $2 AND status = 'closed' AND result IS NOT NULL AND id <> $3 "
            "ORDER BY closed_at DESC LIMIT 1", contact_id, campaign_id, case_id)
    conv = await conn.fetchrow(
        "SELECT cl.typification_id AS result, cl.fields, cl.closed_at AS at, cl.conversation_id "
        "FROM crm.closures cl JOIN crm.conversations c ON c.id = cl.conversation_id "
        "WHERE c.contact_id = $1 AND cl.campaign_id = $2 AND cl.typification_id IS NOT NULL "
        "ORDER BY cl.closed_at DESC LIMIT 1", contact_id, campaign_id)
    best = row if conv is None or (row is not None and row["at"] >= conv["at"]) else conv
    return as_dict(best, ("fields",))


async def emails_of_others(conn: Conn, addresses: list[str], contact_id: str | None) -> set[str]:
    """The addresses among ``addresses`` that belong to a contact other than ``contact_id``."""
    rows = await conn.fetch(
        "SELECT DISTINCT value FROM crm.contact_addresses WHERE kind = 'email' AND value = ANY($1::text[]) "
        "AND contact_id IS DISTINCT FROM $2", [a.lower() for a in addresses], contact_id)
    return {r["value"] for r in rows}


COMMENT_COLS = ("e.id, e.case_id, e.kind, e.actor, e.body, e.data, e.at, k.campaign_id, k.contact_id, k.assigned_user, "
                "k.title, c.name AS contact_name")


async def comments_for_contact(conn: Conn, contact_id: str, campaigns: list[str] | None, since: datetime | None
                               ) -> list[dict[str, Any]]:
    """The comments (and e-mailed comments) on a contact's cases, newest first."""
    w = contact_window(contact_id, campaigns, None, "created_at", "k")
    if since is not None:
        w.add("e.at >= {}", since)
    rows = await conn.fetch(
        f"SELECT {COMMENT_COLS} FROM crm.case_events e JOIN crm.cases k ON k.id = e.case_id "
        f"JOIN crm.contacts c ON c.id = k.contact_id {w.sql()} AND e.kind IN ('comment', 'email') "
        f"ORDER BY e.at DESC LIMIT 500", *w.args)
    return as_dicts(rows, ("data",))


async def comments(conn: Conn, f: dict[str, Any], limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """Comments on cases (Historial, seed 001 5): by contact, author, assigned user, campaign, company, time."""
    w = Where()
    w.add("e.kind IN ('comment', 'email')")
    for key, col in (("contact_id", "k.contact_id"), ("agent_id", "e.actor"), ("assigned_user", "k.assigned_user"),
                     ("campaign_id", "k.campaign_id")):
        if f.get(key):
            w.add(f"{col} = {{}}", f[key])
    if f.get("company"):
        w.add("lower(c.company) = lower({})", f["company"])
    if f.get("start"):
        w.add("e.at >= {}", f["start"])
    if f.get("end"):
        w.add("e.at < {}", f["end"])
    if f.get("campaigns") is not None:
        w.add("k.campaign_id = ANY({}::text[])", f["campaigns"])
    if after:
        w.add("(e.at, e.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {COMMENT_COLS} FROM crm.case_events e JOIN crm.cases k ON k.id = e.case_id "
        f"JOIN crm.contacts c ON c.id = k.contact_id {w.sql()} ORDER BY e.at DESC, e.id DESC LIMIT {int(limit)}",
        *w.args)
    return as_dicts(rows, ("data",))

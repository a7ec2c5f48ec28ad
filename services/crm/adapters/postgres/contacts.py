"""Contacts, their addresses, lists and batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, dumps
from services.crm.domain.contacts import EDITABLE, Address, ContactFilter

CONTACT_COLS = ("id, name, document, company, assigned_user, custom, tags, disposition, last_activity_at, "
                "created_at, updated_at")


async def insert(conn: Conn, contact_id: str, fields: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO crm.contacts (id, name, document, company, assigned_user, custom, tags) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
        contact_id, fields.get("name") or "", fields.get("document"), fields.get("company"),
        fields.get("assigned_user"), dumps(fields.get("custom") or {}), fields.get("tags") or [],
    )


async def update(conn: Conn, contact_id: str, fields: dict[str, Any]) -> None:
    """Set the given editable fields (``custom`` is replaced whole)."""
    sets, args = [], [contact_id]
    for key in EDITABLE:
        if key in fields:
            args.append(dumps(fields[key]) if key == "custom" else fields[key])
            sets.append(f"{key} = ${len(args)}{'::jsonb' if key == 'custom' else ''}")
    if sets:
        await conn.execute(f"UPDATE crm.contacts SET {', '.join(sets)}, updated_at = now() WHERE id = $1", *args)


async def delete(conn: Conn, contact_id: str) -> bool:
    return await conn.execute("DELETE FROM crm.contacts WHERE id = $1", contact_id) == "DELETE 1"


async def replace_addresses(conn: Conn, contact_id: str, kinds: Sequence[str], addresses: Sequence[Address]) -> None:
    """Replace the contact's addresses of ``kinds`` by ``addresses`` (in their order)."""
    await conn.execute("DELETE FROM crm.contact_addresses WHERE contact_id = $1 AND kind = ANY($2::text[])",
                       contact_id, list(kinds))
    await add_addresses(conn, contact_id, addresses)


async def add_addresses(conn: Conn, contact_id: str, addresses: Sequence[Address]) -> None:
    if not addresses:
        return
    await conn.executemany(
        "INSERT INTO crm.contact_addresses (contact_id, kind, network, value, raw, label, position) "
        "VALUES ($1, $2, $3, $4, $5, $6, (SELECT count(*) FROM crm.contact_addresses "
        "WHERE contact_id = $1 AND kind = $2)) ON CONFLICT DO NOTHING",
        [(contact_id, a.kind, a.network, a.value, a.raw, a.label) for a in addresses],
    )


async def get(conn: Conn, contact_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {CONTACT_COLS} FROM crm.contacts WHERE id = $1{' FOR UPDATE' if for_update else ''}", contact_id)
    if row is None:
        return None
    return (await _with_addresses(conn, [as_dict(row, ("custom",))]))[0]  # type: ignore[list-item]


async def get_many(conn: Conn, ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {CONTACT_COLS} FROM crm.contacts WHERE id = ANY($1::text[])", list(ids))
    by_id = {r["id"]: r for r in as_dicts(rows, ("custom",))}
    return await _with_addresses(conn, [by_id[i] for i in ids if i in by_id])


async def _with_addresses(conn: Conn, contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not contacts:
        return contacts
    rows = await conn.fetch(
        "SELECT contact_id, kind, network, value, raw, label FROM crm.contact_addresses "
        "WHERE contact_id = ANY($1::text[]) ORDER BY contact_id, kind, position",
        [c["id"] for c in contacts])
    by_id = {c["id"]: c for c in contacts}
    for c in contacts:
        c["phones"], c["emails"], c["handles"] = [], [], []
    for r in rows:
        a = Address(r["kind"], r["value"], r["raw"], r["network"], r["label"])
        by_id[r["contact_id"]][f"{r['kind']}s" if r["kind"] != "handle" else "handles"].append(a.as_dict())
    for c in contacts:
        c["tags"] = list(c["tags"])
    return contacts


async def find_by_address(conn: Conn, kind: str, value: str, network: str = "", limit: int = 20) -> list[str]:
    """Ids of the contacts holding an address (at most ``limit``)."""
    rows = await conn.fetch(
        "SELECT DISTINCT contact_id FROM crm.contact_addresses WHERE kind = $1 AND value = $2 AND network = $3 "
        "LIMIT $4", kind, value, network, limit)
    return [r["contact_id"] for r in rows]


async def find_by_handle(conn: Conn, handle: str, limit: int = 20) -> list[str]:
    """Ids of the contacts holding a handle on any network."""
    rows = await conn.fetch("SELECT DISTINCT contact_id FROM crm.contact_addresses WHERE kind = 'handle' "
                            "AND value = $1 LIMIT $2", handle, limit)
    return [r["contact_id"] for r in rows]


def where_of(f: ContactFilter, w: Where | None = None) -> Where:
    """The WHERE clause of a contact filter over ``crm.contacts c``."""
    w = w or Where()
    if f.q:
        like = f"%{f.q.lower()}%"
        w.add("(lower(c.name) LIKE {} OR c.document = {} OR lower(c.company) LIKE {})", like, f.q, like)
    exists = "EXISTS (SELECT 1 FROM crm.contact_addresses a WHERE a.contact_id = c.id AND a.kind = {} AND a.value = {}"
    for kind, value in (("phone", f.phone), ("email", f.email), ("handle", f.handle)):
        if value and kind == "handle" and f.network:
            w.add(exists + " AND a.network = {})", kind, value, f.network)
        elif value:
            w.add(exists + ")", kind, value)
    if f.company:
        w.add("lower(c.company) = lower({})", f.company)
    if f.tag:
        w.add("c.tags @> ARRAY[{}]::text[]", f.tag)
    if f.assigned_user:
        w.add("c.assigned_user = {}", f.assigned_user)
    if f.disposition:
        w.add("c.disposition = {}", f.disposition)
    if f.list_id:
        w.add("EXISTS (SELECT 1 FROM crm.list_members m WHERE m.contact_id = c.id AND m.list_id = {})", f.list_id)
    if f.batch_id:
        w.add("EXISTS (SELECT 1 FROM crm.batch_members b WHERE b.contact_id = c.id AND b.batch_id = {})",
              f.batch_id)
    if f.activity_from:
        w.add("c.last_activity_at >= {}", f.activity_from)
    if f.activity_to:
        w.add("c.last_activity_at < {}", f.activity_to)
    if f.campaigns is not None:
        w.add("(EXISTS (SELECT 1 FROM crm.accounts x WHERE x.contact_id = c.id AND x.campaign_id = ANY({0}::text[]))"
              " OR EXISTS (SELECT 1 FROM crm.cases x WHERE x.contact_id = c.id AND x.campaign_id = ANY({0}::text[]))"
              " OR EXISTS (SELECT 1 FROM crm.conversations x WHERE x.contact_id = c.id"
              " AND x.campaign_id = ANY({0}::text[]))"
              " OR EXISTS (SELECT 1 FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id"
              " WHERE m.contact_id = c.id AND l.campaign_id = ANY({0}::text[])))", f.campaigns)
    return w


async def search(conn: Conn, f: ContactFilter, limit: int, after: tuple[datetime, str] | None
                 ) -> list[dict[str, Any]]:
    """A page of contacts, newest first, after the keyset ``(created_at, id)``."""
    w = where_of(f)
    if after is not None:
        w.add("(c.created_at, c.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {CONTACT_COLS} FROM crm.contacts c {w.sql()} ORDER BY c.created_at DESC, c.id DESC "
        f"LIMIT {int(limit)}", *w.args)
    return await _with_addresses(conn, as_dicts(rows, ("custom",)))


def export_query(f: ContactFilter) -> tuple[str, list[Any]]:
    """The export's SELECT: one row per contact with its first phone, e-mail and handle."""
    w = where_of(f)
    sql = (
        "SELECT c.id, c.name, c.document, c.company, c.assigned_user, array_to_string(c.tags, ',') AS tags, "
        "c.disposition, c.last_activity_at, c.created_at, "
        "(SELECT string_agg(a.value, ' ' ORDER BY a.position) FROM crm.contact_addresses a "
        " WHERE a.contact_id = c.id AND a.kind = 'phone') AS phones, "
        "(SELECT string_agg(a.value, ' ' ORDER BY a.position) FROM crm.contact_addresses a "
        " WHERE a.contact_id = c.id AND a.kind = 'email') AS emails, "
        "c.custom::text AS custom "
        f"FROM crm.contacts c {w.sql()} ORDER BY c.created_at DESC, c.id DESC")
    return sql, w.args


async def memberships(conn: Conn, contact_id: str) -> dict[str, list[dict[str, Any]]]:
    lists = await conn.fetch(
        "SELECT m.list_id, l.name, m.batch_id, m.status, m.attempts, m.last_contact_at, m.last_typification "
        "FROM crm.list_members m JOIN crm.lists l ON l.id = m.list_id WHERE m.contact_id = $1 ORDER BY l.name",
        contact_id)
    batches = await conn.fetch(
        "SELECT b.id AS batch_id, b.name FROM crm.batch_members m JOIN crm.batches b ON b.id = m.batch_id "
        "WHERE m.contact_id = $1 ORDER BY b.created_at", contact_id)
    return {"lists": as_dicts(lists), "batches": as_dicts(batches)}


async def touch_activity(conn: Conn, contact_id: str, at: datetime, disposition: str | None = None) -> None:
    """Move the contact's last activity forward (never back); set its last disposition if given."""
    await conn.execute(
        "UPDATE crm.contacts SET last_activity_at = GREATEST(coalesce(last_activity_at, $2), $2), "
        "disposition = coalesce($3, disposition) WHERE id = $1", contact_id, at, disposition)


# The column expression of each field an update template can show (``domain.contacts.UPDATE_FIELDS``).
UPDATE_COLUMNS = {
    "name": "c.name", "document": "c.document", "company": "c.company", "assigned_user": "c.assigned_user",
    "tags": "array_to_string(c.tags, ',')",
    "phone": "(SELECT a.raw FROM crm.contact_addresses a WHERE a.contact_id = c.id AND a.kind = 'phone' "
             "ORDER BY a.position LIMIT 1)",
    "email": "(SELECT a.value FROM crm.contact_addresses a WHERE a.contact_id = c.id AND a.kind = 'email' "
             "ORDER BY a.position LIMIT 1)",
}


def update_template_query(f: ContactFilter, columns: list[str]) -> tuple[str, list[Any]]:
    """One row per contact the search finds, with the named columns (import field names, ``custom.<key>`` too)."""
    w = where_of(f)
    select = []
    for name in columns:
        if name.startswith("custom."):
            select.append(f'c.custom ->> {w.arg(name[7:])} AS "{name}"')
        else:
            select.append(f'{UPDATE_COLUMNS[name]} AS "{name}"')
    sql = f"SELECT {', '.join(select)} FROM crm.contacts c {w.sql()} ORDER BY c.created_at DESC, c.id DESC"
    return sql, w.args


async def list_from_search(conn: Conn, list_id: str, name: str, campaign_id: str, f: ContactFilter) -> int:
    """A new list holding every contact the filter finds, in one statement; how many joined it."""
    await conn.execute("INSERT INTO crm.lists (id, name, campaign_id) VALUES ($1, $2, $3)", list_id, name, campaign_id)
    w = Where()
    w.arg(list_id)  # $1
    where_of(f, w)
    status = await conn.execute(f"INSERT INTO crm.list_members (list_id, contact_id) SELECT $1, c.id "
                                f"FROM crm.contacts c {w.sql()} ON CONFLICT DO NOTHING", *w.args)
    return int(status.split()[-1])

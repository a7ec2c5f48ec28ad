"""Set-based statements of the list and callback processes."""

from __future__ import annotations

from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, dumps


def recycle_where(p: Any) -> Where:
    """Members of a list chosen by the recycle filters (seed 000)."""
    w = Where()
    w.add("m.list_id = {}", p.list_id)
    if p.attempts_lt is not None:
        w.add("m.attempts < {}", p.attempts_lt)
    if p.attempts_gt is not None:
        w.add("m.attempts > {}", p.attempts_gt)
    if p.users:
        w.add("m.last_user = ANY({}::text[])", p.users)
    if p.last_contact_from:
        w.add("m.last_contact_at >= {}", p.last_contact_from)
    if p.last_contact_to:
        w.add("m.last_contact_at < {}", p.last_contact_to)
    if p.typifications:
        w.add("m.last_typification = ANY({}::text[])", p.typifications)
    return w


async def count_recyclable(conn: Conn, p: Any) -> int:
    """How many members of a list the recycle filters choose."""
    w = recycle_where(p)
    return await conn.fetchval(f"SELECT count(*) FROM crm.list_members m {w.sql()}", *w.args)


async def lock_recyclable(conn: Conn, p: Any) -> list[str]:
    """The members the recycle filters choose, locked, by contact id."""
    w = recycle_where(p)
    rows = await conn.fetch(f"SELECT m.contact_id FROM crm.list_members m {w.sql()} ORDER BY m.contact_id "
                            f"FOR UPDATE", *w.args)
    return [r["contact_id"] for r in rows]


async def delete_list_calls(conn: Conn, list_id: str, contact_ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch("DELETE FROM crm.calls WHERE list_id = $1 AND contact_id = ANY($2::text[]) "
                            "RETURNING contact_id", list_id, contact_ids)
    out: dict[str, int] = {}
    for r in rows:
        out[r["contact_id"]] = out.get(r["contact_id"], 0) + 1
    return out


async def reset_members(conn: Conn, list_id: str, contact_ids: list[str], *, forget: bool) -> None:
    """Put members back to be worked; ``forget`` (recycle) also clears their attempts and last result."""
    extra = ", attempts = 0, last_contact_at = NULL, last_user = NULL, last_typification = NULL" if forget else ""
    await conn.execute(f"UPDATE crm.list_members SET status = 'pending'{extra} WHERE list_id = $1 "
                       f"AND contact_id = ANY($2::text[])", list_id, contact_ids)


async def group_exists(conn: Conn, table: str, group_id: str) -> bool:
    assert table in ("lists", "batches")
    return bool(await conn.fetchval(f"SELECT true FROM crm.{table} WHERE id = $1", group_id))


async def associate_batch(conn: Conn, list_id: str, batch_id: str) -> tuple[list[str], list[str]]:
    """Add a batch's contacts to a list: ``(added, already there)``. The contacts are locked while the
    transaction lasts, so none is deleted under its new membership."""
    members = [r["contact_id"] for r in await conn.fetch(
        "SELECT m.contact_id FROM crm.batch_members m JOIN crm.contacts c ON c.id = m.contact_id "
        "WHERE m.batch_id = $1 ORDER BY m.contact_id FOR KEY SHARE OF c", batch_id)]
    added = {r["contact_id"] for r in await conn.fetch(
        "INSERT INTO crm.list_members (list_id, contact_id, batch_id) SELECT $1, x, $2 FROM unnest($3::text[]) "
        "AS x ON CONFLICT DO NOTHING RETURNING contact_id", list_id, batch_id, members)}
    return [m for m in members if m in added], [m for m in members if m not in added]


async def dissociate(conn: Conn, list_id: str, batch_id: str | None, typifications: list[str]) -> list[str]:
    w = Where()
    w.add("list_id = {}", list_id)
    if batch_id:
        w.add("batch_id = {}", batch_id)
    if typifications:
        w.add("last_typification = ANY({}::text[])", typifications)
    rows = await conn.fetch(f"DELETE FROM crm.list_members {w.sql()} RETURNING contact_id", *w.args)
    return sorted(r["contact_id"] for r in rows)


async def audit_json(conn: Conn, entity: str, entity_id: str, action: str, actor: str, changes: dict[str, Any]
                     ) -> None:
    await conn.execute("INSERT INTO crm.audit_log (entity, entity_id, action, actor, changes) "
                       "VALUES ($1, $2, $3, $4, $5::jsonb)", entity, entity_id, action, actor, dumps(changes))

"""Call history: inbound and outbound calls, their classification, and voice conversations as calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, contact_window

CALL_COLS = ("k.id, k.direction, k.started_at, k.duration_s, k.agent_id, k.contact_id, k.phone, k.phone_raw, "
             "k.disposition, k.comment, k.campaign_id, k.list_id, k.conversation_id, k.classified_at, "
             "k.classified_by, k.created_at, k.channel_id, k.provider_call_id, k.status, k.answered_at, k.ended_at")


async def insert(conn: Conn, call_id: str, d: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO crm.calls (id, direction, started_at, duration_s, agent_id, contact_id, phone, phone_raw, "
        "disposition, comment, campaign_id, list_id, conversation_id, classified_at, classified_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
        # A voice conversation's events may be handled out of order (CRM replicas share the consumer): the
        # call starts when its conversation opened, whichever event came first.
        "ON CONFLICT (conversation_id) DO UPDATE SET started_at = LEAST(crm.calls.started_at, EXCLUDED.started_at)",
        call_id, d["direction"], d["started_at"], d.get("duration_s") or 0, d.get("agent_id"), d.get("contact_id"),
        d.get("phone"), d.get("phone_raw"), d.get("disposition"), d.get("comment"), d.get("campaign_id"),
        d.get("list_id"), d.get("conversation_id"), d.get("classified_at"), d.get("classified_by"))


async def placed(conn: Conn, call_id: str, *, channel_id: str, provider_call_id: str) -> None:
    """A click-to-call the provider accepted: its channel and call id; it is dialing."""
    await conn.execute("UPDATE crm.calls SET channel_id = $2, provider_call_id = $3, status = 'dialing' "
                       "WHERE id = $1", call_id, channel_id, provider_call_id)


async def set_status(conn: Conn, call_id: str, status: str) -> None:
    await conn.execute("UPDATE crm.calls SET status = $2 WHERE id = $1", call_id, status)


# The order of a placed call's states: an event never moves a call back (events may arrive out of order).
_STAGE_RANK = "CASE {} WHEN 'dialing' THEN 0 WHEN 'ringing' THEN 1 WHEN 'answered' THEN 2 ELSE 3 END"
_NEW_RANK, _OLD_RANK = _STAGE_RANK.format("$2"), _STAGE_RANK.format("coalesce(status, 'dialing')")


async def progress(conn: Conn, call_id: str, stage: str, at: datetime, duration_s: int | None) -> bool:
    """A stage of a placed call (ringing, answered, ended, missed); False when the call is unknown or already
    further along. A stage that arrives late (answered after ended: a redelivery) never moves the call back,
    but still fills the time it alone knows."""
    status = await conn.fetchval(
        f"UPDATE crm.calls SET status = CASE WHEN {_NEW_RANK} > {_OLD_RANK} THEN $2 ELSE status END, "
        "answered_at = CASE WHEN $2 = 'answered' THEN coalesce(answered_at, $3) ELSE answered_at END, "
        "ended_at = CASE WHEN $2 IN ('ended', 'missed') THEN coalesce(ended_at, $3) ELSE ended_at END, "
        "duration_s = CASE WHEN $2 = 'ended' AND ended_at IS NULL THEN coalesce($4::int, GREATEST(0, extract(epoch "
        "             FROM $3::timestamptz - coalesce(answered_at, started_at)))::int) ELSE duration_s END "
        "WHERE id = $1 RETURNING status", call_id, stage, at, duration_s)
    return status == stage


async def get(conn: Conn, call_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {CALL_COLS} FROM crm.calls k WHERE k.id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", call_id)
    return as_dict(row)


async def classify(conn: Conn, call_id: str, *, disposition: str, comment: str | None, contact_id: str | None,
                   actor: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE crm.calls SET disposition = $2, comment = coalesce($3, comment), "
        "contact_id = coalesce($4, contact_id), classified_at = $6, classified_by = $5 WHERE id = $1",
        call_id, disposition, comment, contact_id, actor, at)


async def on_voice_event(conn: Conn, conversation_id: str, *, agent_id: str | None, contact_id: str | None,
                         closed_at: datetime | None, disposition: str | None) -> None:
    """Keep the call of a voice conversation up to date: agent, contact, and on close its end, duration and
    disposition. The duration is counted again by any later event (its opening, handled after the close)."""
    await conn.execute(
        "UPDATE crm.calls SET agent_id = coalesce($2, agent_id), contact_id = coalesce(contact_id, $3), "
        "ended_at = coalesce(ended_at, $4::timestamptz), "
        "duration_s = CASE WHEN coalesce(ended_at, $4::timestamptz) IS NULL THEN duration_s "
        "                  ELSE GREATEST(0, extract(epoch FROM coalesce(ended_at, $4::timestamptz) - started_at))::int "
        "             END, "
        "disposition = coalesce($5, disposition), "
        "classified_at = CASE WHEN $5::text IS NOT NULL THEN coalesce(classified_at, $4) ELSE classified_at END "
        "WHERE conversation_id = $1", conversation_id, agent_id, contact_id, closed_at, disposition)


def where_of(f: dict[str, Any]) -> Where:
    w = Where()
    if f.get("direction"):
        w.add("k.direction = {}", f["direction"])
    if f.get("start"):
        w.add("k.started_at >= {}", f["start"])
    if f.get("end"):
        w.add("k.started_at < {}", f["end"])
    for key in ("contact_id", "disposition", "agent_id", "campaign_id", "list_id"):
        if f.get(key):
            w.add(f"k.{key} = {{}}", f[key])
    if f.get("company"):
        w.add("lower(c.company) = lower({})", f["company"])
    if f.get("scope"):  # a supervisor's: their campaigns' calls and their agents' calls
        campaigns, agents = f["scope"]
        w.add("(k.campaign_id = ANY({}::text[]) OR k.agent_id = ANY({}::text[]))", campaigns, agents)
    if f.get("unclassified_since"):
        w.add("k.classified_at IS NULL AND k.started_at >= {}", f["unclassified_since"])
    return w


async def search(conn: Conn, f: dict[str, Any], limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    w = where_of(f)
    if after:
        w.add("(k.started_at, k.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {CALL_COLS}, c.name AS contact_name, c.company FROM crm.calls k "
        f"LEFT JOIN crm.contacts c ON c.id = k.contact_id {w.sql()} ORDER BY k.started_at DESC, k.id DESC "
        f"LIMIT {int(limit)}", *w.args)
    return as_dicts(rows)


def export_query(f: dict[str, Any]) -> tuple[str, list[Any]]:
    w = where_of(f)
    return (f"SELECT k.id, k.direction, k.started_at, k.duration_s, k.agent_id, c.name AS contact, c.company, "
            f"k.phone, k.disposition, k.comment, k.campaign_id, k.list_id FROM crm.calls k "
            f"LEFT JOIN crm.contacts c ON c.id = k.contact_id {w.sql()} ORDER BY k.started_at DESC, k.id DESC",
            w.args)


async def for_contact(conn: Conn, contact_id: str, campaigns: list[str] | None, since: datetime | None
                      ) -> list[dict[str, Any]]:
    w = contact_window(contact_id, campaigns, since, "started_at", "k")
    rows = await conn.fetch(f"SELECT {CALL_COLS} FROM crm.calls k {w.sql()} ORDER BY k.started_at DESC LIMIT 500",
                            *w.args)
    return as_dicts(rows)

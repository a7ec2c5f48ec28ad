"""Conversations, their events, messages and closures, persisted idempotently from the router's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn, Where, as_dict, as_dicts, dumps

CONV_COLS = ("id, campaign_id, channel_id, channel_type, contact_address, contact_id, match_state, agent_id, "
             "status, last_seq, opened_at, updated_at, closed_at")


async def record_event(conn: Conn, event_id: str, conversation_id: str, type_: str, seq: int,
                       occurred_at: datetime, agent_id: str | None, payload: str) -> bool:
    """Store an event once; ``False`` when its id was seen before (a redelivery)."""
    inserted = await conn.fetchval(
        "INSERT INTO crm.conversation_events (event_id, conversation_id, type, seq, occurred_at, agent_id, payload) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING true",
        event_id, conversation_id, type_, seq, occurred_at, agent_id, payload)
    return bool(inserted)


async def upsert(conn: Conn, *, conversation_id: str, campaign_id: str | None, channel_id: str, channel_type: str,
                 contact_address: str, agent_id: str | None, status: str | None, seq: int, at: datetime
                 ) -> dict[str, Any]:
    """Create the conversation or move it forward. A closed conversation stays closed; an older state event
    (lower ``seq``) does not overwrite the state of a newer one, and a message (no state) never makes a state
    event look old: the status follows ``state_seq``, the state events' own order."""
    row = await conn.fetchrow(
        f"""INSERT INTO crm.conversations AS c (id, campaign_id, channel_id, channel_type, contact_address,
                agent_id, status, last_seq, state_seq, opened_at, closed_at)
            VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::text, 'opened'), $8,
                    CASE WHEN $7::text IS NULL THEN 0 ELSE $8 END, $9::timestamptz,
                    CASE WHEN $7::text = 'closed' THEN $9::timestamptz END)
            ON CONFLICT (id) DO UPDATE SET
                campaign_id = coalesce(EXCLUDED.campaign_id, c.campaign_id),
                agent_id = CASE WHEN EXCLUDED.last_seq >= c.last_seq AND EXCLUDED.agent_id IS NOT NULL
                                THEN EXCLUDED.agent_id ELSE c.agent_id END,
                status = CASE WHEN c.status = 'closed' OR $7 = 'closed' THEN 'closed'
                              WHEN $7 IS NOT NULL AND EXCLUDED.state_seq >= c.state_seq THEN $7
                              ELSE c.status END,
                state_seq = GREATEST(c.state_seq, EXCLUDED.state_seq),
                closed_at = CASE WHEN $7 = 'closed' THEN coalesce(c.closed_at, $9) ELSE c.closed_at END,
                last_seq = GREATEST(c.last_seq, EXCLUDED.last_seq),
                opened_at = LEAST(c.opened_at, EXCLUDED.opened_at),
                updated_at = now()
            RETURNING {CONV_COLS}""",
        conversation_id, campaign_id, channel_id, channel_type, contact_address, agent_id, status, seq, at)
    return dict(row)


async def link_contact(conn: Conn, conversation_id: str, contact_id: str | None, match_state: str) -> None:
    await conn.execute("UPDATE crm.conversations SET contact_id = $2, match_state = $3, updated_at = now() "
                       "WHERE id = $1", conversation_id, contact_id, match_state)


async def insert_message(conn: Conn, *, message_id: str, conversation_id: str, event_id: str, direction: str,
                         kind: str, text: str | None, media: list[Any], provider_message_id: str | None, seq: int,
                         at: datetime) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO crm.messages (id, conversation_id, event_id, direction, kind, text, media, "
        "provider_message_id, seq, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) "
        "ON CONFLICT DO NOTHING RETURNING true",
        message_id, conversation_id, event_id, direction, kind, text, dumps(media), provider_message_id, seq, at)
    return bool(inserted)


async def insert_closure(conn: Conn, *, conversation_id: str, campaign_id: str | None, typification_id: str | None,
                         fields: dict[str, Any], reason: str, closed_by: str | None, closed_at: datetime,
                         source: str, event_id: str | None = None) -> bool:
    """Record the one closure of a conversation; ``False`` if it already has one."""
    inserted = await conn.fetchval(
        "INSERT INTO crm.closures (conversation_id, campaign_id, typification_id, fields, reason, closed_by, "
        "closed_at, source, event_id) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9) "
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING true",
        conversation_id, campaign_id, typification_id, dumps(fields), reason, closed_by, closed_at, source, event_id)
    return bool(inserted)


async def mark_closed(conn: Conn, conversation_id: str, at: datetime) -> None:
    await conn.execute("UPDATE crm.conversations SET status = 'closed', closed_at = coalesce(closed_at, $2), "
                       "updated_at = now() WHERE id = $1", conversation_id, at)


async def get(conn: Conn, conversation_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {CONV_COLS} FROM crm.conversations WHERE id = $1"
                              f"{' FOR UPDATE' if for_update else ''}", conversation_id)
    return as_dict(row)


async def messages(conn: Conn, conversation_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, direction, kind, text, media, provider_message_id, seq, occurred_at FROM crm.messages "
        "WHERE conversation_id = $1 ORDER BY seq, occurred_at, id", conversation_id)
    return as_dicts(rows, ("media",))


async def media_in_messages(conn: Conn, conversation_id: str, url: str) -> dict[str, Any] | None:
    """The first media entry with this ``url`` among the conversation's messages (its type and file name), or
    ``None`` when no message of it carries that file."""
    row = await conn.fetchrow(
        "SELECT m.item AS media FROM crm.messages, jsonb_array_elements(media) AS m(item) "
        "WHERE conversation_id = $1 AND media @> $2::jsonb AND m.item->>'url' = $3 "
        "ORDER BY seq, occurred_at, id LIMIT 1", conversation_id, dumps([{"url": url}]), url)
    found = as_dict(row, ("media",))
    return found["media"] if found and isinstance(found["media"], dict) else None


async def count_outbound(conn: Conn, conversation_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM crm.messages WHERE conversation_id = $1 AND direction = 'out'", conversation_id)


async def closure(conn: Conn, conversation_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT typification_id, fields, reason, closed_by, closed_at, source FROM crm.closures "
        "WHERE conversation_id = $1", conversation_id)
    return as_dict(row, ("fields",))


async def search(conn: Conn, *, contact_id: str | None, campaign_id: str | None, agent_id: str | None,
                 status: str | None, since: datetime | None, campaigns: list[str] | None, limit: int,
                 after: tuple[datetime, str] | None) -> list[dict[str, Any]]:
    w = Where()
    for col, value in (("contact_id", contact_id), ("campaign_id", campaign_id), ("agent_id", agent_id),
                       ("status", None if status == "open" else status)):
        if value:
            w.add(f"c.{col} = {{}}", value)
    if status == "open":  # every state but closed (the router's rebuild asks for these)
        w.add("c.status <> {}", "closed")
    if campaigns is not None:
        w.add("c.campaign_id = ANY({}::text[])", campaigns)
    if since is not None:
        w.add("c.opened_at >= {}", since)
    if after is not None:
        w.add("(c.opened_at, c.id) < ({}, {})", *after)
    rows = await conn.fetch(
        f"SELECT {', '.join('c.' + x.strip() for x in CONV_COLS.split(','))}, cl.typification_id, "
        f"cl.closed_by FROM crm.conversations c LEFT JOIN crm.closures cl ON cl.conversation_id = c.id "
        f"{w.sql()} ORDER BY c.opened_at DESC, c.id DESC LIMIT {int(limit)}", *w.args)
    return as_dicts(rows)

"""Transcripts and notifications, each recorded once (the record is what makes a retry send nothing twice)."""

from __future__ import annotations

from typing import Any

from services.crm.adapters.postgres.base import Conn, as_dicts


async def record_transcript(conn: Conn, conversation_id: str, campaign_id: str | None, status: str, *,
                            reason: str | None = None, outbound_id: str | None = None,
                            recipient: str | None = None) -> bool:
    """``False`` when the conversation's transcript was already recorded."""
    return bool(await conn.fetchval(
        "INSERT INTO crm.transcripts (conversation_id, campaign_id, status, reason, outbound_id, recipient) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
        conversation_id, campaign_id, status, reason, outbound_id, recipient))


async def transcript(conn: Conn, conversation_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM crm.transcripts WHERE conversation_id = $1", conversation_id)
    return dict(row) if row else None


async def record_notification(conn: Conn, key: str, kind: str, user_id: str, status: str, *,
                              reason: str | None = None, outbound_id: str | None = None) -> bool:
    return bool(await conn.fetchval(
        "INSERT INTO crm.notifications (id, kind, user_id, status, reason, outbound_id) VALUES ($1, $2, $3, $4, $5, "
        "$6) ON CONFLICT DO NOTHING RETURNING true", key, kind, user_id, status, reason, outbound_id))


async def notifications(conn: Conn, user_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM crm.notifications WHERE user_id = $1 ORDER BY at DESC LIMIT $2",
                            user_id, limit)
    return as_dicts(rows)

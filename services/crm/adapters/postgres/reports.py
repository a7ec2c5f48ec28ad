"""Reads of the reports: a window's conversation events and agents' status changes; agent events recorded."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.crm.adapters.postgres.base import Conn

# Conversations opened this long before a window can still arrive in it (an out-of-hours backlog released).
LOOKBACK = "1 day"


async def record_agent_event(conn: Conn, event_id: str, agent_id: str, status: str, reason: str | None,
                             at: datetime) -> bool:
    """Store one status change once; ``False`` for a redelivery."""
    inserted = await conn.fetchval(
        "INSERT INTO crm.agent_events (event_id, agent_id, status, reason, occurred_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING true", event_id, agent_id, status, reason, at)
    return bool(inserted)


async def conversation_events(conn: Conn, start: datetime, end: datetime, campaigns: list[str] | None
                              ) -> list[dict[str, Any]]:
    """The events of every conversation that may have arrived in ``[start, end)``, by conversation then seq."""
    rows = await conn.fetch(
        f"""SELECT e.conversation_id, e.type, e.seq, e.occurred_at, e.agent_id, e.payload,
                   c.campaign_id, c.channel_type
              FROM crm.conversations c
              JOIN crm.conversation_events e ON e.conversation_id = c.id
             WHERE c.opened_at >= $1::timestamptz - interval '{LOOKBACK}' AND c.opened_at < $2
               AND ($3::text[] IS NULL OR c.campaign_id = ANY($3::text[]))
               AND e.type <> 'conversation.message'
             ORDER BY e.conversation_id, e.seq, e.occurred_at""", start, end, campaigns)
    out = []
    for r in rows:
        d = dict(r)
        if isinstance(d["payload"], str):
            d["payload"] = json.loads(d["payload"])
        out.append(d)
    return out


async def agent_events(conn: Conn, agents: list[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Each agent's last status change before ``start`` and every change up to ``end``, in time order."""
    rows = await conn.fetch(
        """SELECT agent_id, status, occurred_at FROM (
               SELECT DISTINCT ON (agent_id) agent_id, status, occurred_at FROM crm.agent_events
                WHERE agent_id = ANY($1::text[]) AND occurred_at < $2
                ORDER BY agent_id, occurred_at DESC) before
           UNION ALL
           SELECT agent_id, status, occurred_at FROM crm.agent_events
            WHERE agent_id = ANY($1::text[]) AND occurred_at >= $2 AND occurred_at < $3
           ORDER BY agent_id, occurred_at""", agents, start, end)
    return [dict(r) for r in rows]

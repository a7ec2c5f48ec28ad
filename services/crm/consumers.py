"""JetStream subscriptions of the CRM: conversation events, due callback timers, and the campaigns KV watch."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.service import LIFECYCLE
from libs.messaging import JETSTREAM, dispatch, start_consumer, watch_kv, watch_snapshots
from services.crm.handlers import Crm
from services.crm.handlers.events import HANDLERS

CONVERSATIONS_DURABLE = "crm-conversations"
TIMERS_DURABLE = "crm-timers"
AGENTS_DURABLE = "crm-agents"
USERS_BUCKET = "users"


def start(app: web.Application, crm: Crm) -> None:
    """Start the campaign snapshot watch and the conversation consumer as lifecycle tasks."""
    lc = app[LIFECYCLE]
    watch_snapshots(app, crm.campaigns)

    def on_user(key: str, value: Any) -> None:
        if isinstance(value, dict):
            crm.users[key] = value
        else:
            crm.users.pop(key, None)

    # The gateway's user directory: who to e-mail a transfer notification to.
    lc.spawn(watch_kv(app[JETSTREAM], USERS_BUCKET, on_user, stop=lc.stopping), name=f"watch:{USERS_BUCKET}")

    handle = dispatch(crm, HANDLERS)
    start_consumer(app, stream="CONVERSATIONS", durable=CONVERSATIONS_DURABLE, handler=handle,
                   filter_subject="sb.conv.>")
    start_consumer(app, stream="TIMERS", durable=TIMERS_DURABLE, handler=handle,
                   filter_subject="sb.timer.due.crm.>")
    # The agents' status changes: the reports' logged-in time (occupancy).
    start_consumer(app, stream="AGENTS", durable=AGENTS_DURABLE, handler=handle,
                   filter_subject="sb.agent.event.status.>")

    async def snapshots_loaded() -> bool:
        return crm.campaigns.ready.is_set()

    lc.checks.append(snapshots_loaded)

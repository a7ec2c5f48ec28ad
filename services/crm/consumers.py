"""JetStream subscriptions of the CRM: conversation events, due callback timers, and the campaigns KV watch."""

from __future__ import annotations

from aiohttp import web

from libs.contracts import AgentStatusChanged, Contract, TimerDue
from libs.core.service import LIFECYCLE
from libs.messaging import start_consumer, watch_snapshots
from services.crm.handlers import Crm, callbacks, conversations, reports

CONVERSATIONS_DURABLE = "crm-conversations"
TIMERS_DURABLE = "crm-timers"
AGENTS_DURABLE = "crm-agents"


def start(app: web.Application, crm: Crm) -> None:
    """Start the campaign snapshot watch and the conversation consumer as lifecycle tasks."""
    lc = app[LIFECYCLE]
    watch_snapshots(app, crm.campaigns)

    async def on_conversation(event: Contract) -> None:
        await conversations.on_event(crm, event)

    start_consumer(app, stream="CONVERSATIONS", durable=CONVERSATIONS_DURABLE, handler=on_conversation,
                   filter_subject="sb.conv.>")

    async def on_timer(event: Contract) -> None:
        if isinstance(event, TimerDue):
            await callbacks.on_due(crm, event)

    start_consumer(app, stream="TIMERS", durable=TIMERS_DURABLE, handler=on_timer,
                   filter_subject="sb.timer.due.crm.>")

    async def on_agent(event: Contract) -> None:
        if isinstance(event, AgentStatusChanged):
            await reports.on_agent_event(crm, event)

    # The agents' status changes: the reports' logged-in time (occupancy).
    start_consumer(app, stream="AGENTS", durable=AGENTS_DURABLE, handler=on_agent,
                   filter_subject="sb.agent.event.status.>")

    async def snapshots_loaded() -> bool:
        return crm.campaigns.ready.is_set()

    lc.checks.append(snapshots_loaded)

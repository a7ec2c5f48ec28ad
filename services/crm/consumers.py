"""JetStream subscriptions of the CRM: the router's conversation events, and the campaigns KV watch."""

from __future__ import annotations

from aiohttp import web

from libs.contracts import Contract
from libs.core.service import LIFECYCLE
from libs.messaging import JETSTREAM, start_consumer, watch_kv
from services.crm.handlers import Crm, conversations

CONVERSATIONS_DURABLE = "crm-conversations"


def start(app: web.Application, crm: Crm) -> None:
    """Start the campaign snapshot watch and the conversation consumer as lifecycle tasks."""
    lc = app[LIFECYCLE]
    lc.spawn(watch_kv(app[JETSTREAM], "campaigns", crm.campaigns.on_change, stop=lc.stopping,
                      ready=crm.campaigns.ready), name="watch:campaigns")

    async def on_conversation(event: Contract) -> None:
        await conversations.on_event(crm, event)

    start_consumer(app, stream="CONVERSATIONS", durable=CONVERSATIONS_DURABLE, handler=on_conversation,
                   filter_subject="sb.conv.>")

    async def snapshots_loaded() -> bool:
        return crm.campaigns.ready.is_set()

    lc.checks.append(snapshots_loaded)

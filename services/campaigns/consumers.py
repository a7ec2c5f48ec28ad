"""JetStream subscription of the campaigns service: conversation events, dispatched by ``HANDLERS``."""

from __future__ import annotations

from aiohttp import web

from libs.messaging import dispatch, start_consumer
from services.campaigns.handlers import HANDLERS
from services.campaigns.keys import CAMPAIGNS_SETTINGS, SERVICE

CONVERSATIONS_STREAM = "CONVERSATIONS"
CONVERSATIONS_FILTER = "sb.conv.>"


def start_consumers(app: web.Application) -> None:
    """The open-conversation count follows the router's conversation events (deactivation needs it)."""
    settings = app[CAMPAIGNS_SETTINGS]
    if settings.conversation_consumer:
        start_consumer(app, stream=CONVERSATIONS_STREAM, durable=settings.conversation_durable,
                       handler=dispatch(app[SERVICE], HANDLERS), filter_subject=CONVERSATIONS_FILTER)

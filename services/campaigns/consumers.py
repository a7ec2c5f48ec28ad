"""JetStream subscriptions: fold the router's conversation events into the open-conversation count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from libs.contracts import Contract, ConversationClosed, ConversationEvent
from services.campaigns.handlers import CampaignsService

CONVERSATIONS_STREAM = "CONVERSATIONS"
CONVERSATIONS_FILTER = "sb.conv.>"


def conversation_handler(svc: CampaignsService) -> Callable[[Contract], Awaitable[None]]:
    """Deactivation needs to know whether a campaign has active conversations; delivery statuses and other
    messages on the stream are not conversation events and are skipped."""

    async def handle(event: Contract) -> None:
        if not isinstance(event, ConversationEvent):
            return
        await svc.track_conversation(event.conversation_id, event.campaign_id, event.seq,
                                     closed=isinstance(event, ConversationClosed))

    return handle

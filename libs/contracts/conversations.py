"""Conversation events published by the router on ``sb.conv.<event>``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from libs.contracts.base import Contract, register
from libs.contracts.messages import ChannelType


class ConversationEvent(Contract):
    """Common fields of every conversation event."""

    conversation_id: str
    campaign_id: str | None = None
    channel_id: str
    channel_type: ChannelType
    contact_address: str
    agent_id: str | None = None
    seq: int = 0

    def subject(self) -> str:
        return f"sb.conv.{self.TYPE.split('.', 1)[1]}.{self.conversation_id}"

    def msg_id(self) -> str:
        return f"{self.conversation_id}:{self.TYPE}:{self.seq}"


@register
class ConversationOpened(ConversationEvent):
    TYPE = "conversation.opened"
    contact_name: str | None = None


@register
class ConversationQueued(ConversationEvent):
    """Waiting in the campaign queue (``reason``: waiting, out_of_hours, released, offer_timeout, ...)."""

    TYPE = "conversation.queued"
    reason: str = "waiting"
    position: int | None = None
    release_at: datetime | None = None


@register
class ConversationOffered(ConversationEvent):
    """Offered to ``agent_id``, who must accept before ``expires_at`` or it goes to the next agent."""

    TYPE = "conversation.offered"
    expires_at: datetime | None = None
    explanation: dict[str, object] = Field(default_factory=dict)


@register
class ConversationTransferred(ConversationEvent):
    """Moved to another agent or campaign; ``typification_id`` is the campaign's transfer typification."""

    TYPE = "conversation.transferred"
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    from_campaign_id: str | None = None
    to_campaign_id: str | None = None
    typification_id: str | None = None


@register
class ConversationAssigned(ConversationEvent):
    TYPE = "conversation.assigned"
    explanation: dict[str, object] = Field(default_factory=dict)


@register
class ConversationMessage(ConversationEvent):
    """A customer's message appended to a conversation, in order (``seq``)."""

    TYPE = "conversation.message"
    direction: Literal["in", "out"] = "in"
    message_id: str
    provider_message_id: str | None = None
    text: str | None = None
    media: list[dict[str, object]] = Field(default_factory=list)
    kind: str = "message"


@register
class ConversationClosed(ConversationEvent):
    TYPE = "conversation.closed"
    reason: str = "agent"
    typification_id: str | None = None
    fields: dict[str, object] = Field(default_factory=dict)


# Every conversation event type, for a consumer that folds them all (``HANDLERS`` tables).
CONVERSATION_EVENTS: tuple[type[ConversationEvent], ...] = (
    ConversationOpened, ConversationQueued, ConversationOffered, ConversationTransferred, ConversationAssigned,
    ConversationMessage, ConversationClosed,
)

"""Inbound and outbound message contracts, and delivery statuses."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from libs.contracts.base import Contract, register

ChannelType = Literal["whatsapp", "instagram", "sms", "email", "voice"]
InboundKind = Literal["message", "comment", "call", "unsupported"]


class MediaRef(BaseModel):
    """A reference to media held by the provider or our blob store; never the bytes themselves."""

    kind: str = "file"
    url: str | None = None
    provider_id: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    caption: str | None = None


@register
class InboundMessage(Contract):
    """A message, comment or call event from a customer, normalized from any provider."""

    TYPE = "inbound.message"

    channel_id: str
    channel_type: ChannelType
    contact_address: str = Field(min_length=1)
    contact_name: str | None = None
    provider_message_id: str = Field(min_length=1)
    kind: InboundKind = "message"
    text: str | None = None
    media: list[MediaRef] = Field(default_factory=list)
    reply_to: str | None = None
    sent_at: datetime | None = None
    unsupported_type: str | None = None
    thread_ref: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    def subject(self) -> str:
        return f"sb.inbound.{self.channel_type}.{self.channel_id}"

    def msg_id(self) -> str:
        return f"in:{self.channel_id}:{self.provider_message_id}"


_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TemplateMessage(BaseModel):
    """A WhatsApp template message: an approved template of the channel, in one language, with its body's
    parameters in order (sent as Meta's ``type: template`` with one ``body`` component)."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=10)
    parameters: list[str] = Field(default_factory=list, max_length=20)


@register
class OutboundMessage(Contract):
    """A command to deliver a message to a customer through a channel."""

    TYPE = "outbound.message"

    conversation_id: str | None = None
    channel_id: str
    channel_type: ChannelType
    to: str = Field(min_length=1)
    text: str | None = None
    media: list[MediaRef] = Field(default_factory=list)
    reply_to: str | None = None
    agent_id: str | None = None
    subject_line: str | None = None
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    template: TemplateMessage | None = None

    def subject(self) -> str:
        """One subject per conversation (``sb.outbound.<type>.<channel>.<key>``): channels sends the replies of
        a conversation in the order they were published, even across replicas and retries."""
        return f"sb.outbound.{self.channel_type}.{self.channel_id}.{self.order_key()}"

    def order_key(self) -> str:
        """The conversation's id when it is a plain token, else a hash of it (or of the recipient)."""
        key = self.conversation_id or f"to:{self.to}"
        if _TOKEN.fullmatch(key):
            return key
        return hashlib.sha256(key.encode()).hexdigest()[:24]


@register
class DeliveryStatus(Contract):
    """A delivery status of an outbound message: from our own send or from a provider callback."""

    TYPE = "message.status"

    channel_id: str
    outbound_id: str | None = None
    provider_message_id: str | None = None
    conversation_id: str | None = None
    agent_id: str | None = None
    status: Literal["sent", "delivered", "read", "failed"]
    error: str | None = None

    def subject(self) -> str:
        return f"sb.conv.status.{self.channel_id}"

    def msg_id(self) -> str:
        return f"st:{self.channel_id}:{self.provider_message_id or self.outbound_id}:{self.status}"


CallStage = Literal["ringing", "answered", "ended", "missed"]


@register
class CallProgress(Contract):
    """A stage of a call we placed (click-to-call): the provider's event, linked back to the CRM's call record
    (``call_id``) and its agent, so the CRM keeps the call's state and the agent's console shows it."""

    TYPE = "call.progress"

    channel_id: str
    call_id: str
    provider_call_id: str
    agent_id: str | None = None
    stage: CallStage
    duration_s: int | None = None
    cause: str | None = None

    def subject(self) -> str:
        return f"sb.conv.call.{self.channel_id}"

    def msg_id(self) -> str:
        return f"call:{self.channel_id}:{self.provider_call_id}:{self.stage}"

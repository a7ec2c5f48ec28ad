"""Versioned pydantic contracts of every event and command, with their subjects."""

from libs.contracts.agents import (
    AgentCommand,
    AgentStatusChanged,
    CloseConversation,
    Presence,
    SendReply,
    SetPresence,
)
from libs.contracts.base import Contract, decode, new_id, utcnow
from libs.contracts.conversations import (
    ConversationAssigned,
    ConversationClosed,
    ConversationEvent,
    ConversationMessage,
    ConversationOffered,
    ConversationOpened,
    ConversationQueued,
    ConversationTransferred,
)
from libs.contracts.messages import CallProgress, ChannelType, DeliveryStatus, InboundMessage, MediaRef, OutboundMessage

__all__ = [
    "AgentCommand",
    "AgentStatusChanged",
    "CallProgress",
    "ChannelType",
    "CloseConversation",
    "Contract",
    "ConversationAssigned",
    "ConversationClosed",
    "ConversationEvent",
    "ConversationMessage",
    "ConversationOffered",
    "ConversationOpened",
    "ConversationQueued",
    "ConversationTransferred",
    "DeliveryStatus",
    "InboundMessage",
    "MediaRef",
    "OutboundMessage",
    "Presence",
    "SendReply",
    "SetPresence",
    "decode",
    "new_id",
    "utcnow",
]

from libs.contracts.campaigns import (
    CampaignSnapshot,
    CaseOptions,
    ChannelSnapshot,
    CustomField,
    Permissions,
    Routing,
    Typification,
)
from libs.contracts.schedule import DateException, Schedule, TimeInterval

__all__ += [
    "CampaignSnapshot",
    "CaseOptions",
    "ChannelSnapshot",
    "CustomField",
    "DateException",
    "Permissions",
    "Routing",
    "Schedule",
    "TimeInterval",
    "Typification",
]
from libs.contracts.timers import TimerCancel, TimerDue, TimerSet, subject_token  # noqa: E402

__all__ += ["TimerCancel", "TimerDue", "TimerSet", "subject_token"]

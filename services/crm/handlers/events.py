"""The CRM's use case for each message type it consumes (registered by ``consumers`` through ``dispatch``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from libs.contracts import AgentStatusChanged, CallProgress, Contract, TimerDue
from libs.contracts.conversations import CONVERSATION_EVENTS
from services.crm.handlers import Crm, callbacks, calls, conversations, reports

HANDLERS: dict[type[Contract], Callable[[Crm, Any], Awaitable[None]]] = {
    **{kind: conversations.on_event for kind in CONVERSATION_EVENTS},  # delivery statuses are not recorded
    TimerDue: callbacks.on_due,
    AgentStatusChanged: reports.on_agent_event,
    CallProgress: calls.on_progress,  # a click-to-call's events, linked to its call record
}

"""Agent commands (from the gateway) and agent events (from the router), on ``sb.agent.>``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from libs.contracts.base import Contract, register
from libs.contracts.messages import MediaRef

Presence = Literal["available", "break", "after_call_work", "offline"]


class AgentCommand(Contract):
    agent_id: str

    def subject(self) -> str:
        return f"sb.agent.cmd.{self.TYPE.split('.', 1)[1]}.{self.agent_id}"


@register
class SetPresence(AgentCommand):
    TYPE = "agent.presence"
    status: Presence
    reason: str | None = None
    campaigns: list[str] = Field(default_factory=list)


@register
class CloseConversation(AgentCommand):
    TYPE = "agent.close"
    conversation_id: str
    typification_id: str | None = None
    fields: dict[str, object] = Field(default_factory=dict)


@register
class SendReply(AgentCommand):
    """An agent's reply to a conversation sent as a command (integrations): the router applies the same rules
    as to a reply through its API (the campaign's media and emoji permissions, the owner of the conversation).
    A redelivered command sends nothing new (``client_message_id`` defaults to the command's id)."""

    TYPE = "agent.reply"
    conversation_id: str
    text: str | None = None
    media: list[MediaRef] = Field(default_factory=list)
    client_message_id: str | None = None


@register
class AgentStatusChanged(Contract):
    """Published by the router when an agent's presence or load changes."""

    TYPE = "agent.status"
    agent_id: str
    status: Presence
    reason: str | None = None
    load: int = 0

    def subject(self) -> str:
        return f"sb.agent.event.status.{self.agent_id}"

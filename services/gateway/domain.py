"""Pure rules of the gateway: roles, who may see or act on what, and who receives which live event."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from libs.contracts import CampaignSnapshot

Role = Literal["admin", "supervisor", "agent"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "agent")

# Fields of an event that name an agent who must see it (a transfer names both ends).
AGENT_FIELDS = ("agent_id", "from_agent_id", "previous_agent_id", "to_agent_id")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: str
    username: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class CampaignDirectory:
    """Campaign snapshots by id, kept current from the ``campaigns`` KV bucket."""

    campaigns: dict[str, CampaignSnapshot] = field(default_factory=dict)

    def put(self, campaign_id: str, value: Mapping[str, Any] | None) -> None:
        if value is None:
            self.campaigns.pop(campaign_id, None)
        else:
            self.campaigns[campaign_id] = CampaignSnapshot.model_validate(value)

    def get(self, campaign_id: str | None) -> CampaignSnapshot | None:
        return self.campaigns.get(campaign_id) if campaign_id else None

    def supervised_by(self, user_id: str) -> set[str]:
        return {c.id for c in self.campaigns.values() if user_id in c.supervisors}

    def of_agent(self, user_id: str) -> set[str]:
        return {c.id for c in self.campaigns.values() if user_id in c.agents}

    def agents_of(self, campaign_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for cid in campaign_ids:
            snap = self.campaigns.get(cid)
            if snap is not None:
                out.update(snap.agents)
        return out

    def visible_campaigns(self, p: Principal) -> set[str] | None:
        """The campaigns a principal may see; ``None`` means every campaign (admin)."""
        if p.is_admin:
            return None
        if p.role == "supervisor":
            return self.supervised_by(p.user_id)
        return self.of_agent(p.user_id)


def event_agents(event: Mapping[str, Any]) -> set[str]:
    """The agents an event is about."""
    return {str(event[f]) for f in AGENT_FIELDS if event.get(f)}


def can_view_conversation(p: Principal, conv: Mapping[str, Any], directory: CampaignDirectory) -> bool:
    """Admins see all; supervisors their campaigns'; agents their own, or the campaign's with "view all"."""
    if p.is_admin:
        return True
    campaign_id = conv.get("campaign_id")
    if p.role == "supervisor":
        return campaign_id in directory.supervised_by(p.user_id)
    if conv.get("agent_id") == p.user_id:
        return True
    snap = directory.get(campaign_id)
    return snap is not None and p.user_id in snap.agents and snap.permissions.view_all_cases


def can_manage_conversation(p: Principal, conv: Mapping[str, Any], directory: CampaignDirectory) -> bool:
    """Reply, transfer, close: the assigned agent, a supervisor of the campaign, or an admin."""
    if p.is_admin:
        return True
    if p.role == "supervisor":
        return conv.get("campaign_id") in directory.supervised_by(p.user_id)
    return conv.get("agent_id") == p.user_id


class ConversationOwners:
    """Which agent holds each conversation, learnt from the live events, for events that name no agent.

    Bounded: the oldest entries are forgotten first.
    """

    TAKES = ("conversation.assigned", "conversation.offered", "conversation.transferred")
    RELEASES = ("conversation.queued",)

    def __init__(self, limit: int = 100_000) -> None:
        self._owners: dict[str, str] = {}
        self._limit = limit

    def learn(self, event: Mapping[str, Any]) -> None:
        conv = event.get("conversation_id")
        if not conv:
            return
        kind = event.get("type")
        holder = event.get("to_agent_id") or event.get("agent_id")
        if kind in self.TAKES and holder:
            self._owners.pop(conv, None)
            self._owners[conv] = str(holder)
            if len(self._owners) > self._limit:
                self._owners.pop(next(iter(self._owners)))
        elif kind in self.RELEASES:
            self._owners.pop(conv, None)

    def audience(self, event: Mapping[str, Any]) -> set[str]:
        """The agents an event is for: those it names, else the conversation's holder."""
        agents = event_agents(event)
        if not agents and event.get("conversation_id") in self._owners:
            agents = {self._owners[event["conversation_id"]]}
        return agents


def receives_event(p: Principal, event: Mapping[str, Any], agents: set[str], directory: CampaignDirectory) -> bool:
    """Whether a live event whose audience is ``agents`` goes to this principal's WebSocket.

    Agents get the events addressed to them. Supervisors also get every event of the campaigns they
    supervise and the events of those campaigns' agents. Admins get everything.
    """
    if p.is_admin or p.user_id in agents:
        return True
    if p.role != "supervisor":
        return False
    supervised = directory.supervised_by(p.user_id)
    if any(event.get(f) in supervised for f in ("campaign_id", "from_campaign_id", "to_campaign_id")):
        return True
    return bool(agents & directory.agents_of(supervised))


# Pictographs, dingbats, flags, skin tones and the variation selector that turns a symbol into an emoji.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f1e6-\U0001f1ff]")


def has_emoji(text: str) -> bool:
    return bool(_EMOJI.search(text))

"""Pure rules of the gateway: roles, who may see or act on what, and who receives which live event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from libs.messaging.snapshots import SnapshotDirectory

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


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: Role
    password_hash: str
    active: bool
    email: str | None = None
    token_version: int = 0

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.id, username=self.username, role=self.role)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "active": self.active,
            "email": self.email,
        }

    def directory_entry(self) -> dict[str, Any]:
        """What other services may know of a user (KV ``users``): never the password hash."""
        return {"id": self.id, "display_name": self.display_name or self.username, "email": self.email,
                "role": self.role, "active": self.active}


def visible_campaigns(p: Principal, directory: SnapshotDirectory) -> set[str] | None:
    """The campaigns a principal may see; ``None`` means every campaign (admin)."""
    if p.is_admin:
        return None
    if p.role == "supervisor":
        return directory.supervised_by(p.user_id)
    return set(directory.campaigns_of(p.user_id))


def event_agents(event: Mapping[str, Any]) -> set[str]:
    """The agents an event is about."""
    return {str(event[f]) for f in AGENT_FIELDS if event.get(f)}


def can_view_conversation(p: Principal, conv: Mapping[str, Any], directory: SnapshotDirectory) -> bool:
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


# The fields of an event or a conversation that name its campaign (a transfer names both ends).
CAMPAIGN_FIELDS = ("campaign_id", "from_campaign_id", "to_campaign_id")


def shown_to(p: Principal, item: Mapping[str, Any], directory: SnapshotDirectory) -> Mapping[str, Any]:
    """A conversation, queue item or event as the caller may see it: for an agent, the contact's number
    masked when a campaign it belongs to hides numbers (``CampaignSnapshot.contact_shown_to``); supervisors and
    admins see it whole. The item itself when nothing changes."""
    if p.role != "agent":
        return item
    for name in CAMPAIGN_FIELDS:
        snap = directory.get(item.get(name))
        if snap is not None and snap.hides_numbers_from(p.role):
            return snap.contact_shown_to(item, p.role)
    return item


def can_manage_conversation(p: Principal, conv: Mapping[str, Any], directory: SnapshotDirectory) -> bool:
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


def receives_event(p: Principal, event: Mapping[str, Any], agents: set[str], directory: SnapshotDirectory) -> bool:
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

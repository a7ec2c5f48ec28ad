"""The REST facade over campaigns, CRM, channels and router: which role may do what, and what is scoped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.gateway.domain import CampaignDirectory, Principal, Role, can_view_conversation

Scope = Literal["none", "campaign", "queue", "agent", "case", "owned"]
ALL: frozenset[Role] = frozenset({"admin", "supervisor", "agent"})
STAFF: frozenset[Role] = frozenset({"admin", "supervisor"})
ADMIN: frozenset[Role] = frozenset({"admin"})
NOBODY: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Rule:
    """``/api/v1/<public>[/...]`` is forwarded to ``<upstream>`` at ``/<target>[/...]``.

    ``read`` roles may GET, ``write`` roles may POST/PUT/PATCH, ``delete`` roles may DELETE. ``scope``
    narrows what a supervisor or agent sees inside what their role may read.
    """

    public: str
    upstream: Literal["router", "campaigns", "crm", "channels"]
    target: str
    read: frozenset[Role]
    write: frozenset[Role]
    delete: frozenset[Role]
    scope: Scope = "none"
    summary: str = ""

    def allowed(self, method: str) -> frozenset[Role]:
        if method == "GET":
            return self.read
        return self.delete if method == "DELETE" else self.write


RULES: tuple[Rule, ...] = (
    Rule(
        "campaigns",
        "campaigns",
        "campaigns",
        ALL,
        ADMIN,
        ADMIN,
        "campaign",
        "Campaigns (supervisors: those they supervise; agents: those they work in)",
    ),
    Rule("clients", "campaigns", "clients", STAFF, ADMIN, ADMIN, summary="Clients"),
    Rule("projects", "campaigns", "projects", STAFF, ADMIN, ADMIN, summary="Projects"),
    Rule("schedules", "campaigns", "schedules", STAFF, ADMIN, ADMIN, summary="Business-hours schedules"),
    Rule("typifications", "campaigns", "typifications", ALL, ADMIN, ADMIN, summary="Typification catalog"),
    Rule("fields", "campaigns", "fields", ALL, ADMIN, ADMIN, summary="Custom-field catalog"),
    Rule("channels", "channels", "channels", STAFF, ADMIN, ADMIN, summary="Channels and their credentials"),
    Rule("contacts", "crm", "contacts", ALL, ALL, STAFF, summary="Contacts: search, match, edit, history"),
    Rule("accounts", "crm", "accounts", ALL, ALL, STAFF, summary="Accounts"),
    Rule("lists", "crm", "lists", STAFF, STAFF, STAFF, summary="Contact lists and batches"),
    Rule(
        "cases",
        "crm",
        "conversations",
        ALL,
        ALL,
        STAFF,
        "case",
        "Cases (CRM conversations): agents see their own unless the campaign allows viewing all",
    ),
    Rule("tickets", "crm", "tickets", ALL, ALL, STAFF, "owned", "Tickets and their actions"),
    Rule("calls", "crm", "calls", ALL, ALL, STAFF, "owned", "Call history and click-to-call"),
    Rule("callbacks", "crm", "callbacks", ALL, ALL, STAFF, "owned", "Scheduled callbacks"),
    Rule("work-items", "crm", "work-items", ALL, ALL, STAFF, "owned", "Operator panel work items"),
    Rule("imports", "crm", "imports", STAFF, STAFF, STAFF, summary="Imports with progress"),
    Rule("exports", "crm", "exports", STAFF, STAFF, STAFF, summary="Exports"),
    Rule("processes", "crm", "processes", STAFF, STAFF, STAFF, summary="Bulk processes"),
    Rule(
        "queues",
        "router",
        "queues",
        STAFF,
        NOBODY,
        NOBODY,
        "queue",
        "Live queue of a campaign: waiting, longest wait, agents by state",
    ),
    Rule("agents", "router", "agents", ALL, NOBODY, NOBODY, "agent", "An agent's live status and load"),
)


def first_segment(tail: str) -> str:
    return tail.split("/", 1)[0] if tail else ""


def may_see_campaign(p: Principal, campaign_id: str, directory: CampaignDirectory) -> bool:
    visible = directory.visible_campaigns(p)
    return visible is None or campaign_id in visible


def may_see_agent(p: Principal, agent_id: str, directory: CampaignDirectory) -> bool:
    if p.is_admin or agent_id == p.user_id:
        return True
    return p.role == "supervisor" and agent_id in directory.agents_of(directory.supervised_by(p.user_id))


def may_see_item(p: Principal, rule: Rule, item: Mapping[str, Any], directory: CampaignDirectory) -> bool:
    """Whether one item of a scoped list (or a fetched item) is visible to the caller."""
    if p.is_admin:
        return True
    if rule.scope == "campaign":
        return may_see_campaign(p, str(item.get("id", "")), directory)
    if rule.scope in ("case", "owned"):
        if rule.scope == "owned" and not item.get("agent_id") and not item.get("campaign_id"):
            return True  # not tied to anybody: e.g. a ticket of the contact, visible to who may read tickets
        if p.role == "supervisor" and item.get("agent_id") in directory.agents_of(directory.supervised_by(p.user_id)):
            return True
        return can_view_conversation(p, item, directory)
    return True


def agent_filter(p: Principal, rule: Rule, query: Mapping[str, str], directory: CampaignDirectory) -> dict[str, str]:
    """Query parameters to add so an agent's list is narrowed at the source (their own items)."""
    if p.role != "agent" or rule.scope not in ("case", "owned"):
        return {}
    campaign = query.get("campaign_id")
    snap = directory.get(campaign)
    if snap is not None and p.user_id in snap.agents and snap.permissions.view_all_cases:
        return {}
    return {"agent_id": p.user_id}

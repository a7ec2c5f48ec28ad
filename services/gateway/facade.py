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
    # GET of the collection itself goes here instead of ``target`` (the operator panel lists /panel).
    list_target: str | None = None
    # "owned" items: the field naming their owner, and the query parameter that narrows a list to one.
    owner_field: str = "agent_id"
    owner_param: str = "agent_id"
    # First path segments that are views of the collection (lists, calendars), not item ids.
    views: frozenset[str] = frozenset()
    # Actions on an item (its second path segment) an agent may take only on their own items, even on
    # items they may see (nobody's of their campaign, the whole campaign's when it allows viewing all).
    own_only: frozenset[str] = frozenset()

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
    Rule(
        "tickets",
        "crm",
        "tickets",
        ALL,
        ALL,
        STAFF,
        "owned",
        "Tickets and their actions",
        views=frozenset({"export"}),
    ),
    Rule(
        "calls",
        "crm",
        "calls",
        ALL,
        ALL,
        STAFF,
        "owned",
        "Call history, click-to-call and classification (agents: their own calls only)",
        views=frozenset({"pending", "export"}),
        own_only=frozenset({"classification"}),
    ),
    Rule(
        "callbacks",
        "crm",
        "callbacks",
        ALL,
        ALL,
        STAFF,
        "owned",
        "Scheduled callbacks and their calendar (`/callbacks/calendar?users=&view=&date=&tz=`)",
        owner_field="owner_id",
        owner_param="users",
        views=frozenset({"calendar"}),
    ),
    Rule(
        "work-items",
        "crm",
        "cases",
        ALL,
        ALL,
        STAFF,
        "owned",
        "Operator panel: work items (CRM cases) of a campaign (`?campaign_id=`), attend, save",
        list_target="panel",
        owner_field="assigned_user",
    ),
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


def owner_of(rule: Rule, item: Mapping[str, Any]) -> str | None:
    owner = item.get(rule.owner_field)
    return str(owner) if owner else None


def may_see_item(p: Principal, rule: Rule, item: Mapping[str, Any], directory: CampaignDirectory) -> bool:
    """Whether one item of a scoped list (or a fetched item) is visible to the caller."""
    if p.is_admin:
        return True
    if rule.scope == "campaign":
        return may_see_campaign(p, str(item.get("id", "")), directory)
    if rule.scope == "case":
        if p.role == "supervisor" and item.get("agent_id") in directory.agents_of(directory.supervised_by(p.user_id)):
            return True
        return can_view_conversation(p, item, directory)
    if rule.scope == "owned":
        return _may_see_owned(p, owner_of(rule, item), item.get("campaign_id"), directory)
    return True


def _may_see_owned(p: Principal, owner: str | None, campaign_id: Any, directory: CampaignDirectory) -> bool:
    """Owned items (tickets, calls, callbacks, work items): the owner; nobody's item of one of the caller's
    campaigns (work waiting to be attended); supervisors: their campaigns' and their agents'; agents: the
    whole campaign when it allows viewing all cases."""
    if owner is None and not campaign_id:
        return True  # not tied to anybody: e.g. a ticket of the contact, visible to who may read tickets
    if owner == p.user_id:
        return True
    if p.role == "supervisor":
        return campaign_id in directory.supervised_by(p.user_id) or (
            owner is not None and owner in directory.agents_of(directory.supervised_by(p.user_id))
        )
    snap = directory.get(campaign_id)
    if snap is None or p.user_id not in snap.agents:
        return False
    return owner is None or snap.permissions.view_all_cases


def must_own(p: Principal, rule: Rule, tail: str, item: Mapping[str, Any]) -> bool:
    """Whether an agent is refused an own-only action (``PUT /calls/{id}/classification``) on this item."""
    parts = [x for x in tail.split("/") if x]
    return p.role == "agent" and len(parts) > 1 and parts[1] in rule.own_only and owner_of(rule, item) != p.user_id


def agent_filter(p: Principal, rule: Rule, query: Mapping[str, str], directory: CampaignDirectory) -> dict[str, str]:
    """Query parameters to add so an agent's list is narrowed at the source (their own items)."""
    if p.role != "agent" or rule.scope not in ("case", "owned"):
        return {}
    campaign = query.get("campaign_id")
    snap = directory.get(campaign)
    if snap is not None and p.user_id in snap.agents and snap.permissions.view_all_cases:
        return {}
    return {rule.owner_param if rule.scope == "owned" else "agent_id": p.user_id}


def foreign_owners(p: Principal, rule: Rule, query: Mapping[str, str], directory: CampaignDirectory) -> list[str]:
    """The owners a supervisor names in a list query (``agent_id=``, ``users=a,b``) who are neither
    themself nor an agent of a campaign they supervise."""
    if p.role != "supervisor" or rule.scope != "owned" or not query.get(rule.owner_param):
        return []
    mine = directory.agents_of(directory.supervised_by(p.user_id)) | {p.user_id}
    named = [x.strip() for x in query[rule.owner_param].split(",") if x.strip()]
    return [x for x in named if x not in mine]

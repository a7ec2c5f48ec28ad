"""A contact's history: its changes, conversations, calls and cases, newest first."""

from __future__ import annotations

from typing import Any

from libs.contracts import utcnow
from libs.core.errors import NotFound
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.visibility import EVERYTHING, Window, visible, widest, windows_for
from services.crm.handlers import Actor, Crm
from services.crm.handlers.conversations import history_window


def _windows(crm: Crm, actor: Actor, campaign_id: str | None) -> tuple[Window, ...]:
    """What part of a contact's history the caller sees. An agent: the windows of their campaigns
    (``history_hours``, 0 = none; other campaigns only with ``show_other_campaigns_info``), whatever they
    asked. A supervisor: the campaigns they supervise (within the campaign's window when they look from one).
    Admins: everything, or the campaign's window when they look from one (``campaign_id``)."""
    if actor.role == "agent":
        return windows_for(actor.id, crm.campaigns, utcnow(), campaign_id)
    if actor.role == "supervisor" and actor.campaigns is not None:  # only ever the campaigns they supervise
        scope = frozenset(actor.campaigns)
        if campaign_id:
            campaigns, since = history_window(crm.campaigns.get(campaign_id))
            return (Window(scope if campaigns is None else frozenset(campaigns) & scope, since),)
        return (Window(scope, None),)
    if campaign_id:
        campaigns, since = history_window(crm.campaigns.get(campaign_id))
        return (Window(None if campaigns is None else frozenset(campaigns), since),)
    return EVERYTHING


async def contact_history(crm: Crm, contact_id: str, campaign_id: str | None = None, actor: Actor | None = None
                          ) -> dict[str, Any]:
    """Everything that happened to a contact that the caller may see (see ``_windows``), newest first."""
    windows = _windows(crm, actor or Actor(), campaign_id)
    bounds = widest(windows)
    if bounds is None:  # an agent whose campaigns show no history (or who works in none)
        async with crm.uow(readonly=True) as uow:
            if await uow.contacts.get(contact_id) is None:
                raise NotFound(f"contact {contact_id} not found", field="contact_id")
        return {"contact_id": contact_id, "items": [], "next_cursor": None}
    campaigns = None if bounds.campaigns is None else sorted(bounds.campaigns)
    since = bounds.since
    async with crm.uow(readonly=True) as uow:
        if await uow.contacts.get(contact_id) is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        items: list[dict[str, Any]] = [
            {"kind": "change", "at": e["at"], "action": e["action"], "actor": e["actor"], "changes": e["changes"]}
            for e in await uow.audit.audit_entries("contact", contact_id)]
        items += await _conversations(uow, contact_id, campaigns, since)
        items += [{"kind": "call", "at": c["started_at"], "call_id": c["id"], "direction": c["direction"],
                   "agent_id": c["agent_id"], "duration_s": c["duration_s"], "disposition": c["disposition"],
                   "comment": c["comment"], "campaign_id": c["campaign_id"]}
                  for c in await uow.calls.for_contact(contact_id, campaigns, since)]
        items += [{"kind": "case", "at": k["created_at"], "case_id": k["id"], "campaign_id": k["campaign_id"],
                   "status": k["status"], "result": k["result"], "assigned_user": k["assigned_user"],
                   "closed_at": k["closed_at"]}
                  for k in await uow.cases.for_contact(contact_id, campaigns, since)]
        items += [{"kind": "comment", "at": e["at"], "case_id": e["case_id"], "campaign_id": e["campaign_id"],
                   "actor": e["actor"], "text": e["body"], "emailed": e["kind"] == "email"}
                  for e in await uow.cases.comments_for_contact(contact_id, campaigns, since)]
    items = [i for i in items if visible(windows, i.get("campaign_id"), i["at"])]
    items.sort(key=lambda i: i["at"], reverse=True)
    # The history merges four sources within the campaign's window: one page (no cursor yet).
    return {"contact_id": contact_id, "items": items, "next_cursor": None}


async def _conversations(uow: UnitOfWork, contact_id: str, campaigns: list[str] | None, since: Any
                         ) -> list[dict[str, Any]]:
    rows = await uow.conversations.search(contact_id=contact_id, campaign_id=None, agent_id=None, status=None,
                                  since=since, campaigns=campaigns, limit=500, after=None)
    return [{"kind": "conversation", "at": r["opened_at"], "conversation_id": r["id"],
             "campaign_id": r["campaign_id"], "channel_type": r["channel_type"], "status": r["status"],
             "agent_id": r["agent_id"], "typification_id": r["typification_id"], "closed_at": r["closed_at"]}
            for r in rows]

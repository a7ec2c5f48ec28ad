"""A preview dialer (issue 13): recycled and reprocessed list members (seed 000) become work. The agent asks for
the next contact of one of their campaign's lists, sees it (its work item, phones, history) and calls it; the call
(with the list) or the item's result counts the attempt and marks the member worked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from libs.contracts import new_id, utcnow
from libs.core.errors import Forbidden, NotFound
from services.crm.handlers import Actor, Crm
from services.crm.handlers.cases import get_case

CLAIM = timedelta(minutes=15)


def _works_in(crm: Crm, actor: Actor, campaign_id: str | None) -> None:
    snapshot = crm.campaigns.get(campaign_id)
    if actor.role in ("admin", "system"):
        return
    if snapshot is None or (actor.id not in snapshot.agents and actor.id not in snapshot.supervisors):
        raise Forbidden(f"campaign {campaign_id!r} is not one you work in", field="campaign_id")


async def lists(crm: Crm, campaign_id: str, actor: Actor) -> list[dict[str, Any]]:
    """The campaign's lists with how many members are still to call."""
    _works_in(crm, actor, campaign_id)
    async with crm.uow(readonly=True) as uow:
        return await uow.dialer.lists_of(campaign_id, utcnow())


async def next_contact(crm: Crm, list_id: str, actor: Actor) -> dict[str, Any]:
    """The list's next member for the caller, held for them 15 minutes, with the work item to record the attempt
    on (the contact's open item of the campaign, now theirs, or a new one): ``{member, case}``; ``member`` is
    null when nobody is left to call.

    Raises:
        NotFound: no such list, or one of no campaign (``list_id``).
        Forbidden: a campaign the caller does not work in.
    """
    now = utcnow()
    async with crm.uow() as uow:
        found = await uow.dialer.get_list(list_id)
        if found is None or not found["campaign_id"]:
            raise NotFound(f"list {list_id} not found (or of no campaign)", field="list_id")
        _works_in(crm, actor, found["campaign_id"])
        member = await uow.dialer.claim_next(list_id, actor.id, now, now + CLAIM)
        if member is None:
            return {"list": found, "member": None, "case": None}
        case = await uow.dialer.open_case(found["campaign_id"], member["contact_id"])
        if case is None:
            created = await uow.cases.insert(new_id(), {
                "campaign_id": found["campaign_id"], "contact_id": member["contact_id"],
                "title": f"Lista {found['name']}", "assigned_user": actor.id})
            await uow.cases.add_event(created["id"], "created", actor.id,
                                      data={"list_id": list_id, "assigned_user": actor.id})
            case_id = created["id"]
        else:
            case_id = case["id"]
            if case["assigned_user"] is None:
                await uow.cases.update(case_id, assigned_user=actor.id)
    return {"list": found, "member": member, "case": await get_case(crm, case_id)}

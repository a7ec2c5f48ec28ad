"""A contacts search turned into a call list (seed 001 2.1: "generar una campaña de llamado para esos
contactos"): every contact the search finds becomes a member of a list of the campaign, which seed 000's list
processes (recycle, reprocess, associate, dissociate) and the preview dialer then work on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from libs.contracts import new_id
from libs.core.errors import Forbidden, Invalid, NotFound
from libs.core.validation import Strict, parse_body
from services.crm.domain.contacts import ContactFilter
from services.crm.handlers import Actor, Crm
from services.crm.handlers.contacts import normalize_filter_addresses


class SearchFilters(Strict):
    """The contact search's filters (``GET /contacts``)."""

    q: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=254)
    company: str | None = Field(None, max_length=200)
    tag: str | None = Field(None, max_length=100)
    assigned_user: str | None = Field(None, max_length=128)
    disposition: str | None = Field(None, max_length=128)
    list_id: str | None = Field(None, max_length=64)
    batch_id: str | None = Field(None, max_length=64)
    activity_from: datetime | None = None
    activity_to: datetime | None = None


class FromSearchIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    campaign_id: str = Field(min_length=1, max_length=128)
    filters: SearchFilters = Field(default_factory=SearchFilters)


async def from_search(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """A new list of the campaign holding every contact the filters find (at least one filter: not the whole base).

    Raises:
        Invalid: no filter (``filters``), a bad address filter (named).
        NotFound: the campaign (``campaign_id``).
        Forbidden: an agent, or a supervisor of another campaign.
    """
    data = parse_body(FromSearchIn, body)
    snapshot = crm.campaigns.get(data.campaign_id)
    if snapshot is None:
        raise NotFound(f"campaign {data.campaign_id!r} not found", field="campaign_id")
    if actor.role == "agent" or (actor.role == "supervisor" and actor.id not in snapshot.supervisors):
        raise Forbidden(f"a {actor.role} may not make call lists of campaign {data.campaign_id!r}",
                        field="campaign_id")
    given = {k: v for k, v in data.filters.model_dump().items() if v not in (None, "")}
    if not given:
        raise Invalid("give at least one filter: a call list is made from a search", field="filters")
    f = normalize_filter_addresses(crm, ContactFilter(**given))
    list_id = new_id()
    async with crm.uow() as uow:
        added = await uow.contacts.list_from_search(list_id, data.name, data.campaign_id, f)
        await uow.audit.audit("list", list_id, "created_from_search", actor.id,
                              {"filters": [None, {k: str(v) for k, v in given.items()}], "added": [None, added]})
    return {"list": {"id": list_id, "name": data.name, "campaign_id": data.campaign_id}, "added": added}

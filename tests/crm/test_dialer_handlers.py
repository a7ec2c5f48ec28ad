"""The preview dialer's use cases on the in-memory unit of work (tests/crm/fakes.py): who may dial a list, the
next member held for its caller, and the work item the attempt is recorded on, no server. The SQL and the HTTP
paths are in tests/crm/test_dialer.py."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import CampaignSnapshot
from libs.core.errors import Forbidden, NotFound
from services.crm.handlers import Actor, dialer

from .fakes import fake_crm

ANA, BRUNO = Actor("ana", "agent", frozenset({"k"})), Actor("bruno", "agent", frozenset({"k"}))
OUTSIDER = Actor("olga", "agent", frozenset({"other"}))


def _crm() -> tuple[Any, Any]:
    crm, state = fake_crm()
    crm.campaigns.put(CampaignSnapshot(id="k", name="Cobranzas", agents=["ana", "bruno"], supervisors=["carla"]))
    state.groups[("lists", "L")] = {"id": "L", "name": "Recuperar", "campaign_id": "k"}
    state.groups[("lists", "loose")] = {"id": "loose", "name": "Sin campaña", "campaign_id": None}
    state.members[("lists", "L")] = {"p1": None, "p2": None}
    for cid in ("p1", "p2"):
        state.contacts[cid] = {"id": cid, "name": cid.upper()}
    return crm, state


async def test_each_agent_gets_their_own_next_contact_with_a_work_item_to_record_it_on() -> None:
    crm, state = _crm()
    # p2 already has an open item of the campaign, nobody's: the dialer gives it to its caller.
    state.cases["old"] = {"id": "old", "campaign_id": "k", "contact_id": "p2", "title": "Deuda", "priority": 0,
                          "assigned_user": None, "status": "open", "account_id": None}
    assert await dialer.lists(crm, "k", ANA) == [{"id": "L", "name": "Recuperar", "campaign_id": "k", "members": 2,
                                                   "pending": 2}]
    first = await dialer.next_contact(crm, "L", ANA)
    assert first["member"]["contact_id"] == "p1" and first["case"]["contact"]["name"] == "P1"
    made = first["case"]
    assert (made["campaign_id"], made["assigned_user"], made["title"]) == ("k", "ana", "Lista Recuperar")
    assert [e["kind"] for e in made["history"]] == ["created"]
    assert made["history"][0]["data"] == {"list_id": "L", "assigned_user": "ana"}

    # Ana asking again gets the member she holds, not a second one; Bruno gets the other, on its old item.
    assert (await dialer.next_contact(crm, "L", ANA))["case"]["id"] == made["id"]
    assert len(state.cases) == 2
    second = await dialer.next_contact(crm, "L", BRUNO)
    assert second["member"]["contact_id"] == "p2" and second["case"]["id"] == "old"
    assert state.cases["old"]["assigned_user"] == "bruno"
    # Both held: nobody is left for a third caller of the campaign.
    assert (await dialer.next_contact(crm, "L", Actor("carla", "supervisor", frozenset({"k"})))) == {
        "list": {"id": "L", "name": "Recuperar", "campaign_id": "k"}, "member": None, "case": None}


async def test_a_list_of_another_campaign_or_of_none_is_refused_and_nothing_is_held() -> None:
    crm, state = _crm()
    with pytest.raises(Forbidden) as outsider:
        await dialer.next_contact(crm, "L", OUTSIDER)
    assert outsider.value.field == "campaign_id"
    with pytest.raises(Forbidden):
        await dialer.lists(crm, "k", OUTSIDER)
    with pytest.raises(NotFound) as loose:
        await dialer.next_contact(crm, "loose", ANA)
    assert loose.value.field == "list_id"
    with pytest.raises(NotFound):
        await dialer.next_contact(crm, "missing", ANA)
    assert state.dial == {} and state.cases == {}
    assert (await dialer.next_contact(crm, "L", Actor("root", "admin")))["member"]["contact_id"] == "p1"

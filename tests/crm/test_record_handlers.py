"""CRM use cases on the in-memory unit of work (tests/crm/fakes.py): accounts, lists and callbacks, no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.contracts import TimerCancel, TimerDue, TimerSet
from libs.core.errors import Conflict, Invalid, NotFound
from services.crm.handlers import Actor, accounts, callbacks

from .fakes import fake_crm

SOFIA = Actor("sofia", "supervisor")
DUE = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def test_an_account_number_is_taken_once_per_campaign_and_its_fields_merge() -> None:
    crm, state = fake_crm()
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    with pytest.raises(NotFound) as ghost:
        await accounts.create_account(crm, {"contact_id": "ghost", "campaign_id": "k", "number": "1"}, SOFIA)
    assert ghost.value.field == "contact_id" and state.accounts == {} and state.audit == []
    first = await accounts.create_account(crm, {"contact_id": "c1", "campaign_id": "k", "number": "1",
                                                "fields": {"plan": "oro", "deuda": 10}}, SOFIA)
    with pytest.raises(Conflict) as taken:
        await accounts.create_account(crm, {"contact_id": "c1", "campaign_id": "k", "number": "1"}, SOFIA)
    assert taken.value.field == "number" and len(state.accounts) == 1
    other = await accounts.create_account(crm, {"contact_id": "c1", "campaign_id": "k2", "number": "1"}, SOFIA)
    assert other["id"] != first["id"]
    after = await accounts.update_account(crm, first["id"], {"fields": {"deuda": None, "cuotas": 3}}, SOFIA)
    assert after["fields"] == {"plan": "oro", "cuotas": 3}
    assert [e["action"] for e in state.audit if e["entity_id"] == first["id"]] == ["created", "updated"]
    with pytest.raises(Invalid) as removed:
        await accounts.update_account(crm, first["id"], {"number": None}, SOFIA)
    assert removed.value.field == "number"


async def test_list_members_are_added_all_or_none() -> None:
    crm, state = fake_crm()
    state.contacts.update({c: {"id": c, "name": c} for c in ("c1", "c2")})
    group = await accounts.create_group(crm, "lists", {"name": "Morosos", "campaign_id": "k"}, SOFIA)
    with pytest.raises(Invalid) as unknown:
        await accounts.add_members(crm, "lists", group["id"], {"contact_ids": ["c1", "ghost", "c2"]}, SOFIA)
    assert unknown.value.field == "contact_ids[1]" and state.members.get(("lists", group["id"]), {}) == {}
    assert await accounts.add_members(crm, "lists", group["id"], {"contact_ids": ["c1", "c2"]}, SOFIA) == {"added": 2}
    assert await accounts.add_members(crm, "lists", group["id"], {"contact_ids": ["c2"]}, SOFIA) == {"added": 0}
    await accounts.remove_member(crm, "lists", group["id"], "c1", SOFIA)
    with pytest.raises(NotFound) as gone:
        await accounts.remove_member(crm, "lists", group["id"], "c1", SOFIA)
    assert gone.value.field == "contact_id"
    assert [m["contact_id"] for m in await accounts.list_members(crm, group["id"], 10, None)] == ["c2"]
    with pytest.raises(NotFound) as no_list:
        await accounts.list_members(crm, "nope", 10, None)
    assert no_list.value.field == "list_id"


async def test_a_callback_asks_for_its_timer_and_moves_or_cancels_it() -> None:
    crm, state = fake_crm()
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    state.cases["k1"] = {"id": "k1", "campaign_id": "ventas", "contact_id": "c1", "status": "open",
                         "assigned_user": None, "priority": 0}
    with pytest.raises(Invalid) as nothing:
        await callbacks.create(crm, {"owner_id": "ana", "due_at": DUE.isoformat()}, SOFIA)
    assert nothing.value.field == "contact_id"
    cb = await callbacks.create(crm, {"owner_id": "ana", "due_at": DUE.isoformat(), "case_id": "k1"}, SOFIA)
    assert (cb["contact_id"], cb["campaign_id"], cb["contact_name"]) == ("c1", "ventas", "Ana")
    sent = crm.publisher.sent  # type: ignore[attr-defined]
    assert [type(m) for m in sent] == [TimerSet] and sent[0].fire_at == DUE and sent[0].timer_id == cb["id"]
    await callbacks.update(crm, cb["id"], {"note": "llamar"}, SOFIA)
    assert len(sent) == 1  # the time and owner did not change: no new timer
    later = DUE + timedelta(hours=2)
    await callbacks.update(crm, cb["id"], {"due_at": later.isoformat()}, SOFIA)
    assert isinstance(sent[-1], TimerSet) and sent[-1].fire_at == later
    await callbacks.update(crm, cb["id"], {"status": "cancelled"}, SOFIA)
    assert isinstance(sent[-1], TimerCancel) and sent[-1].timer_id == cb["id"]
    week = await callbacks.calendar(crm, ["ana", "bruno"], "week", date(2026, 3, 4), "UTC")
    assert list(week["users"]["ana"]) == ["2026-03-02"] and week["users"]["bruno"] == {}


async def test_a_due_callback_becomes_its_owners_case_once() -> None:
    crm, state = fake_crm()
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    cb = await callbacks.create(crm, {"owner_id": "ana", "due_at": DUE.isoformat(), "contact_id": "c1",
                                      "campaign_id": "ventas", "note": "volver a llamar"}, SOFIA)
    stale = TimerDue(timer_id=cb["id"], owner="crm", purpose="callback", fire_at=DUE - timedelta(minutes=5))
    await callbacks.on_due(crm, stale)
    assert state.callbacks[cb["id"]]["status"] == "pending" and state.cases == {}
    due = TimerDue(timer_id=cb["id"], owner="crm", purpose="callback", fire_at=DUE)
    await callbacks.on_due(crm, due)
    await callbacks.on_due(crm, due)  # a redelivery
    [case] = state.cases.values()
    assert (case["assigned_user"], case["priority"], case["campaign_id"]) == ("ana", 2, "ventas")
    assert state.callbacks[cb["id"]]["status"] == "due" and state.callbacks[cb["id"]]["work_case_id"] == case["id"]
    assert [e["kind"] for e in state.case_events] == ["callback_due"]

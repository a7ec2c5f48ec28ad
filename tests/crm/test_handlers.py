"""CRM use cases on the in-memory unit of work (tests/crm/fakes.py): tickets and their actions, no server."""

from __future__ import annotations

import pytest

from libs.core.errors import Conflict, Invalid, NotFound
from services.crm.handlers import Actor, tickets

from .fakes import fake_crm

ANA = Actor("ana", "agent")
SOFIA = Actor("sofia", "supervisor")


async def test_a_ticket_with_actions_closes_only_when_none_is_pending() -> None:
    crm, state = fake_crm()
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    state.action_types("visit", "call")
    ticket = await tickets.create_ticket(crm, {"contact_id": "c1", "subject": "Router caído", "priority": "high",
                                              "actions": [{"kind": "visit", "agent_id": "ana"}]}, ANA)
    assert ticket["priority"] == "high" and [a["status"] for a in ticket["actions"]] == ["pending"]
    assert [e["action"] for e in ticket["log"]] == ["created", "action_added"]
    with pytest.raises(Conflict) as pending:
        await tickets.update_ticket(crm, ticket["id"], {"status": "closed"}, SOFIA)
    assert pending.value.field == "status" and state.tickets[ticket["id"]]["status"] == "open"
    action_id = ticket["actions"][0]["id"]
    done = await tickets.update_action(crm, action_id, {"status": "done", "comment": "listo"}, ANA)
    assert done["status"] == "done" and done["done_at"] is not None
    closed = await tickets.update_ticket(crm, ticket["id"], {"status": "closed"}, SOFIA)
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    with pytest.raises(Conflict):
        await tickets.add_action(crm, ticket["id"], {"kind": "call"}, SOFIA)  # closed: no new pending action


async def test_refusals_name_the_field_and_write_nothing() -> None:
    crm, state = fake_crm()
    state.action_types("visit", "k")
    with pytest.raises(NotFound) as ghost:
        await tickets.create_ticket(crm, {"contact_id": "ghost", "subject": "x",
                                          "actions": [{"kind": "visit"}]}, ANA)
    assert ghost.value.field == "contact_id" and state.tickets == {} and state.actions == {} and state.audit == []
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    with pytest.raises(Invalid) as bad:
        await tickets.create_ticket(crm, {"contact_id": "c1", "subject": "x", "actions": [{"kind": "k",
                                                                                          "status": "later"}]}, ANA)
    assert bad.value.field == "actions[0].status" and state.tickets == {}
    ticket = await tickets.create_ticket(crm, {"contact_id": "c1", "subject": "x"}, ANA)
    with pytest.raises(Invalid) as empty:
        await tickets.update_ticket(crm, ticket["id"], {}, ANA)
    assert empty.value.field == "body"


async def test_an_agent_reaches_only_their_own_and_nobody_s_actions() -> None:
    crm, state = fake_crm()
    state.contacts["c1"] = {"id": "c1", "name": "Ana"}
    state.action_types("visit", "call")
    ticket = await tickets.create_ticket(crm, {"contact_id": "c1", "subject": "x", "actions": [
        {"kind": "visit", "agent_id": "bruno"}, {"kind": "call"}]}, SOFIA)
    brunos, nobodys = (a["id"] for a in ticket["actions"])
    with pytest.raises(NotFound):
        await tickets.get_action(crm, brunos, ANA)
    assert (await tickets.get_action(crm, nobodys, ANA))["ticket_subject"] == "x"
    assert (await tickets.get_action(crm, brunos, SOFIA))["agent_id"] == "bruno"

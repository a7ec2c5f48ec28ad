"""Tickets and actions (seed 001): pending / done / cancelled, priority, agent, group, forms, change log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import new_id, utcnow
from libs.core.errors import Conflict, Invalid, NotFound
from libs.core.validation import parse_body, problems_error
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.common import diff
from services.crm.domain.work import PriorityName, priority_name, priority_value
from services.crm.handlers import Actor, Crm, catalogs

ActionStatus = Literal["pending", "done", "cancelled"]


class ActionIn(BaseModel):
    """An action of a ticket: ``kind`` is an action type of the catalog (``/action-types``), ``forms`` the
    values of that type's form."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=100)
    subject: str = Field("", max_length=300)
    status: ActionStatus = "pending"
    priority: PriorityName = "medium"
    agent_id: str | None = None
    group: str | None = Field(None, max_length=100)
    forms: dict[str, Any] = Field(default_factory=dict)
    due_at: datetime | None = None


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20000)
    priority: PriorityName = "medium"
    agent_id: str | None = None
    group: str | None = Field(None, max_length=100)
    forms: dict[str, Any] = Field(default_factory=dict)
    call_id: str | None = None
    case_id: str | None = None
    actions: list[ActionIn] = Field(default_factory=list, max_length=50)


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=20000)
    priority: PriorityName | None = None
    agent_id: str | None = None
    group: str | None = Field(None, max_length=100)
    forms: dict[str, Any] | None = None
    status: Literal["open", "closed"] | None = None
    comment: str | None = Field(None, max_length=20000)


class ActionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(None, max_length=300)
    status: ActionStatus | None = None
    priority: PriorityName | None = None
    agent_id: str | None = None
    group: str | None = Field(None, max_length=100)
    forms: dict[str, Any] | None = None
    due_at: datetime | None = None
    comment: str | None = Field(None, max_length=20000)


def _present(row: dict[str, Any]) -> dict[str, Any]:
    row["priority"] = priority_name(row["priority"])
    if "group_name" in row:
        row["group"] = row.pop("group_name")
    return row


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """API names to columns: ``group`` -> ``group_name``, priority names -> numbers."""
    out = {("group_name" if k == "group" else k): v for k, v in fields.items()}
    if "priority" in out:
        if out["priority"] is None:
            raise Invalid("priority must be low, medium or high", field="priority")
        out["priority"] = priority_value(out["priority"])
    return out


async def _add_action(uow: UnitOfWork, ticket_id: str, action: ActionIn, actor: Actor) -> str:
    action_id = new_id()
    values = action.model_dump() | {"priority": priority_value(action.priority)}
    await uow.tickets.insert_action(action_id, ticket_id, values)
    await uow.audit.audit("ticket", ticket_id, "action_added", actor.id,
                     {"action_id": action_id, "kind": action.kind, "status": action.status})
    return action_id


async def create_ticket(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(TicketIn, body)
    ticket_id = new_id()
    async with crm.uow() as uow:
        problems = await catalogs.ticket_form_problems(uow, data.forms) if data.forms else []
        for i, action in enumerate(data.actions):
            problems += await catalogs.action_form_problems(uow, action.kind, action.forms, f"actions[{i}]")
        if problems:
            raise problems_error(problems)
        if await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        values = data.model_dump(exclude={"actions"}) | {"priority": priority_value(data.priority),
                                                          "created_by": actor.id}
        await uow.tickets.insert_ticket(ticket_id, values)
        await uow.audit.audit("ticket", ticket_id, "created", actor.id,
                         {"subject": [None, data.subject], "priority": [None, data.priority]})
        for action in data.actions:
            await _add_action(uow, ticket_id, action, actor)
    return await get_ticket(crm, ticket_id)


async def get_ticket(crm: Crm, ticket_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        ticket = await uow.tickets.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} not found", field="ticket_id")
        ticket["actions"] = [_present(a) for a in await uow.tickets.actions_of(ticket_id)]
        ticket["log"] = await uow.audit.audit_entries("ticket", ticket_id)
        ticket["attachments"] = await uow.attachments.attachments("ticket", ticket_id)
    return _present(ticket)


async def update_ticket(crm: Crm, ticket_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(TicketPatch, body)
    if not patch.model_fields_set:
        raise Invalid("nothing to change: send at least one field", field="body")
    async with crm.uow() as uow:
        before = await uow.tickets.get_ticket(ticket_id, for_update=True)
        if before is None:
            raise NotFound(f"ticket {ticket_id} not found", field="ticket_id")
        fields = _columns({k: getattr(patch, k) for k in patch.model_fields_set if k != "comment"})
        if fields.get("forms") and (problems := await catalogs.ticket_form_problems(uow, fields["forms"])):
            raise problems_error(problems)
        for required in ("subject", "status"):
            if required in fields and fields[required] is None:
                raise Invalid(f"{required} cannot be empty", field=required)
        if fields.get("status") == "closed" and before["status"] != "closed":
            if before["pending"]:
                raise Conflict("the ticket has pending actions; finish or cancel them first", field="status")
            fields["closed_at"] = utcnow()
        elif fields.get("status") == "open":
            fields["closed_at"] = None
        changes = diff({k: before.get(k) for k in fields}, fields)
        if patch.comment:
            changes["comment"] = patch.comment  # type: ignore[assignment]
        if changes:
            await uow.tickets.update_ticket(ticket_id, fields)
            await uow.audit.audit("ticket", ticket_id, "updated", actor.id, changes)
    return await get_ticket(crm, ticket_id)


async def add_action(crm: Crm, ticket_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(ActionIn, body)
    async with crm.uow() as uow:
        ticket = await uow.tickets.get_ticket(ticket_id, for_update=True)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} not found", field="ticket_id")
        if ticket["status"] == "closed" and data.status == "pending":
            raise Conflict("the ticket is closed; reopen it to add a pending action", field="ticket_id")
        if problems := await catalogs.action_form_problems(uow, data.kind, data.forms, ""):
            raise problems_error(problems)
        await _add_action(uow, ticket_id, data, actor)
    return await get_ticket(crm, ticket_id)


async def update_action(crm: Crm, action_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(ActionPatch, body)
    if not patch.model_fields_set:
        raise Invalid("nothing to change: send at least one field", field="body")
    async with crm.uow() as uow:
        before = _check_owner(actor, await uow.tickets.get_action(action_id, for_update=True), action_id)
        fields = _columns({k: getattr(patch, k) for k in patch.model_fields_set if k != "comment"})
        if "forms" in fields and (problems := await catalogs.action_form_problems(uow, before["kind"],
                                                                                  fields["forms"] or {}, "")):
            raise problems_error(problems)
        if "status" in fields:
            if fields["status"] is None:
                raise Invalid("status must be pending, done or cancelled", field="status")
            fields["done_at"] = utcnow() if fields["status"] != "pending" else None
        changes: dict[str, Any] = diff({k: before.get(k) for k in fields if k != "done_at"},
                                       {k: v for k, v in fields.items() if k != "done_at"})
        if patch.comment:
            changes["comment"] = patch.comment
        if changes:
            await uow.tickets.update_action(action_id, fields)
            await uow.audit.audit("ticket", before["ticket_id"], "action_updated", actor.id,
                             {"action_id": action_id, **changes})
    return _present(await _action(crm, action_id))


def _check_owner(actor: Actor, action: dict[str, Any] | None, action_id: str) -> dict[str, Any]:
    """An agent reaches only their own actions and nobody's (the gateway checks the same first)."""
    if action is None or (actor.role == "agent" and action.get("agent_id") not in (None, actor.id)):
        raise NotFound(f"action {action_id} not found", field="action_id")
    return action


async def get_action(crm: Crm, action_id: str, actor: Actor) -> dict[str, Any]:
    """One action with its ticket's subject, contact and change log entries."""
    async with crm.uow(readonly=True) as uow:
        action = _check_owner(actor, await uow.tickets.get_action(action_id), action_id)
        ticket = await uow.tickets.get_ticket(action["ticket_id"])
        log = [e for e in await uow.audit.audit_entries("ticket", action["ticket_id"])
               if (e.get("changes") or {}).get("action_id") == action_id]
    assert ticket is not None
    return _present(action) | {"ticket_subject": ticket["subject"], "contact_id": ticket["contact_id"], "log": log}


async def _action(crm: Crm, action_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        action = await uow.tickets.get_action(action_id)
    assert action is not None
    return action


def _filters(f: dict[str, Any]) -> dict[str, Any]:
    return f | {"priority": priority_value(f["priority"]) if f.get("priority") else None}


async def search_tickets(crm: Crm, *, status: str | None, pending: bool | None, limit: int,
                         after: tuple[Any, ...] | None, **f: Any) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        rows = await uow.tickets.search_tickets(status=status, pending=pending, limit=limit, after=after,
                                         **_filters(f))
    return [_present(r) for r in rows]


async def search_actions(crm: Crm, *, status: str | None, limit: int, after: tuple[Any, ...] | None,
                         **f: Any) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        rows = await uow.tickets.search_actions(status=status, limit=limit, after=after, **_filters(f))
    return [_present(r) for r in rows]


def export_filters(f: dict[str, Any]) -> dict[str, Any]:
    """The filters of a ticket export as the repository takes them (priority by its stored value)."""
    return _filters(f)

"""Callbacks (agendas): owned by a user, due at a time, on a contact or a case; a multi-user calendar.

A callback asks the scheduler for a durable timer (``TimerSet``, owner ``crm``, purpose ``callback``); when
it falls due the scheduler publishes ``TimerDue`` and the CRM turns it into work for its owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.contracts import TimerCancel, TimerDue, TimerSet, new_id
from libs.core.errors import Invalid, NotFound
from libs.core.logging import get_logger
from libs.core.validation import parse_body
from services.crm.domain.work import CalendarView, calendar_range, zone
from services.crm.handlers import Actor, Crm

log = get_logger(__name__)

OWNER = "crm"
PURPOSE = "callback"


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("due_at needs a time zone offset (e.g. 2025-01-31T15:00:00-03:00)")
    return v


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str = Field(min_length=1, max_length=128)
    due_at: datetime
    contact_id: str | None = None
    case_id: str | None = None
    campaign_id: str | None = None
    note: str = Field("", max_length=5000)

    _due = field_validator("due_at")(_aware)


class CallbackPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str | None = Field(None, min_length=1, max_length=128)
    due_at: datetime | None = None
    note: str | None = Field(None, max_length=5000)
    status: Literal["pending", "done", "cancelled"] | None = None

    _due = field_validator("due_at")(_aware)


def timer_for(callback: dict[str, Any]) -> TimerSet:
    return TimerSet(timer_id=callback["id"], owner=OWNER, purpose=PURPOSE, fire_at=callback["due_at"],
                    data={"callback_id": callback["id"], "owner_id": callback["owner_id"]})


async def create(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(CallbackIn, body)
    if not data.contact_id and not data.case_id:
        raise Invalid("a callback needs a contact_id or a case_id", field="contact_id")
    callback_id = new_id()
    async with crm.uow() as uow:
        if data.contact_id and await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        if data.case_id:
            case = await uow.cases.get(data.case_id)
            if case is None:
                raise NotFound(f"case {data.case_id} not found", field="case_id")
            data.contact_id = data.contact_id or case["contact_id"]
            data.campaign_id = data.campaign_id or case["campaign_id"]
        await uow.callbacks.insert(callback_id, data.model_dump() | {"created_by": actor.id})
        await uow.audit.audit("callback", callback_id, "created", actor.id,
                              {"owner_id": [None, data.owner_id], "due_at": [None, data.due_at.isoformat()]})
        callback = await uow.callbacks.get(callback_id)
        assert callback is not None
        await crm.publisher.publish(timer_for(callback))
    return callback


async def get(crm: Crm, callback_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        callback = await uow.callbacks.get(callback_id)
    if callback is None:
        raise NotFound(f"callback {callback_id} not found", field="callback_id")
    return callback


async def update(crm: Crm, callback_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(CallbackPatch, body)
    fields = {k: getattr(patch, k) for k in patch.model_fields_set}
    if not fields:
        raise Invalid("nothing to change: send at least one field", field="body")
    for key, value in fields.items():
        if value is None:
            raise Invalid(f"{key} cannot be null", field=key)
    async with crm.uow() as uow:
        before = await uow.callbacks.get(callback_id, for_update=True)
        if before is None:
            raise NotFound(f"callback {callback_id} not found", field="callback_id")
        await uow.callbacks.update(callback_id, fields)
        after = await uow.callbacks.get(callback_id)
        assert after is not None
        await uow.audit.audit("callback", callback_id, "updated", actor.id,
                              {k: [str(before[k]), str(after[k])] for k in fields if before[k] != after[k]})
        if after["status"] == "pending" and (after["due_at"] != before["due_at"] or before["status"] != "pending"
                                             or after["owner_id"] != before["owner_id"]):
            await crm.publisher.publish(timer_for(after))
        elif after["status"] in ("done", "cancelled") and before["status"] == "pending":
            await crm.publisher.publish(TimerCancel(timer_id=callback_id, owner=OWNER))
    return after


async def search(crm: Crm, *, owners: list[str] | None, status: str | None, start: datetime | None,
                 end: datetime | None, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return await uow.callbacks.search(owners=owners, status=status, start=start, end=end, limit=limit, after=after)


MAX_CALENDAR_ITEMS = 5000


async def calendar(crm: Crm, users: list[str], view: CalendarView, day: Any, tz_name: str | None
                   ) -> dict[str, Any]:
    """Callbacks of several users in a day, a week (Monday first) or a month, grouped by user and local day."""
    if not users:
        raise Invalid("give one or more users (users=a,b)", field="users")
    tz = zone(tz_name)
    start, end = calendar_range(view, day, tz)
    async with crm.uow(readonly=True) as uow:
        rows = await uow.callbacks.search(owners=users, status=None, start=start, end=end, limit=MAX_CALENDAR_ITEMS)
    by_user: dict[str, dict[str, list[dict[str, Any]]]] = {u: {} for u in users}
    for row in rows:
        local_day = row["due_at"].astimezone(tz).date().isoformat()
        by_user[row["owner_id"]].setdefault(local_day, []).append(row)
    return {"view": view, "tz": tz.key, "from": start, "to": end, "users": by_user,
            "truncated": len(rows) == MAX_CALENDAR_ITEMS}


async def on_due(crm: Crm, due: TimerDue) -> None:
    """A callback fell due: it becomes a work item (a case, high priority) for its owner. A stale timer (the
    callback was moved, done or cancelled) or a redelivery changes nothing."""
    if due.owner != OWNER or due.purpose != PURPOSE:
        return
    async with crm.uow() as uow:
        cb = await uow.callbacks.get(due.timer_id, for_update=True)
        if cb is None or cb["status"] != "pending" or abs((cb["due_at"] - due.fire_at).total_seconds()) >= 1:
            log.info("callback_timer_stale", callback_id=due.timer_id)
            return
        work_case_id = None
        if cb["case_id"]:
            case = await uow.cases.get(cb["case_id"], for_update=True)
            if case is not None and case["status"] != "closed":
                await uow.cases.update(case["id"], assigned_user=cb["owner_id"], priority=2)
                work_case_id = case["id"]
        if work_case_id is None and cb["campaign_id"] and cb["contact_id"]:
            created = await uow.cases.insert(new_id(), {
                "campaign_id": cb["campaign_id"], "contact_id": cb["contact_id"], "priority": 2,
                "assigned_user": cb["owner_id"], "title": f"Callback: {cb['note']}"[:300]})
            work_case_id = created["id"]
        if work_case_id:
            await uow.cases.add_event(work_case_id, "callback_due", "system", cb["note"],
                                      {"callback_id": cb["id"], "owner_id": cb["owner_id"]})
        await uow.callbacks.update(cb["id"], {"status": "due", "work_case_id": work_case_id})
        await uow.audit.audit("callback", cb["id"], "due", "system", {"work_case_id": work_case_id})

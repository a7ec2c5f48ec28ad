"""Cases (gestiones): history of comments, actions, attachments and results; the operator panel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import CampaignSnapshot, new_id, utcnow
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from libs.core.validation import parse_body
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.closures import check_closure, may_close
from services.crm.domain.common import diff
from services.crm.domain.contacts import ContactFilter
from services.crm.domain.work import PriorityName, priority_name, priority_value
from services.crm.handlers import Actor, Crm, comment_email, followups, webhooks
from services.crm.handlers.comment_email import EmailIn
from services.crm.handlers.conversations import snapshot_of


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1)
    account_id: str | None = None
    conversation_id: str | None = None
    title: str = Field("", max_length=300)
    priority: PriorityName = "low"
    assigned_user: str | None = None


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=300)
    priority: PriorityName | None = None
    assigned_user: str | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20000)
    email: EmailIn | None = None


class SaveIn(BaseModel):
    """"Guardar": a comment only keeps the item open; ``finish`` needs a result (a typification)."""

    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=20000)
    finish: bool = False
    result: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    next: bool = False


def present(case: dict[str, Any]) -> dict[str, Any]:
    case["priority"] = priority_name(case["priority"])
    return case


async def case_of(uow: UnitOfWork, case_id: str, *, for_update: bool = False) -> dict[str, Any]:
    case = await uow.cases.get(case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return case


async def create_case(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(CaseIn, body)
    async with crm.uow() as uow:
        if await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        if data.account_id and not await uow.cases.account_of_contact(data.account_id, data.contact_id):
            raise NotFound(f"account {data.account_id} of contact {data.contact_id} not found", field="account_id")
        values = data.model_dump() | {"priority": priority_value(data.priority)}
        case = await uow.cases.insert(new_id(), values)
        await uow.cases.add_event(case["id"], "created", actor.id, data={"priority": data.priority,
                                                                         "assigned_user": data.assigned_user})
    return present(case)


async def get_case(crm: Crm, case_id: str) -> dict[str, Any]:
    """A case with its history, attachments, contact and account; ``prefill`` is the closure form's starting
    point when the campaign autocompletes (seed 002 "Autocompletar Gestiones"): the case's latest result, else
    the contact's latest in the campaign (``null`` when off or when there is none)."""
    async with crm.uow(readonly=True) as uow:
        case = await case_of(uow, case_id)
        snapshot = crm.campaigns.get(case["campaign_id"])
        case["history"] = await uow.cases.events(case_id)
        case["attachments"] = await uow.attachments.attachments("case", case_id)
        case["contact"] = await uow.contacts.get(case["contact_id"])
        case["account"] = await uow.cases.account_summary(case["account_id"]) if case["account_id"] else None
        case["prefill"] = await uow.cases.latest_result(case_id, case["contact_id"], case["campaign_id"]) \
            if snapshot is not None and snapshot.case_options.autocomplete else None
    return present(case)


async def update_case(crm: Crm, case_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(CasePatch, body)
    if not patch.model_fields_set:
        raise Invalid("nothing to change: send at least one field", field="body")
    async with crm.uow() as uow:
        before = await case_of(uow, case_id, for_update=True)
        fields = {k: getattr(patch, k) for k in patch.model_fields_set}
        if "priority" in fields:
            if fields["priority"] is None:
                raise Invalid("priority must be low, medium or high", field="priority")
            fields["priority"] = priority_value(fields["priority"])
        if "title" in fields and fields["title"] is None:
            fields["title"] = ""
        changes = diff({k: before[k] for k in fields}, fields)
        if changes:
            await uow.cases.update(case_id, **fields)
            event = await uow.cases.add_event(case_id, "updated", actor.id, data=changes)
            if "assigned_user" in changes and fields["assigned_user"]:
                await followups.case_reassigned(crm, uow, before, fields["assigned_user"], actor.id, event["id"])
    return await get_case(crm, case_id)


async def add_note(crm: Crm, case_id: str, kind: str, body: Any, actor: Actor) -> dict[str, Any]:
    """A comment or an action in the case's history; a comment can be e-mailed to the contact (CC/BCC)."""
    data = parse_body(NoteIn, body)
    if data.email is not None and kind != "comment":
        raise Invalid("only a comment can be e-mailed", field="email")
    async with crm.uow() as uow:
        case = await case_of(uow, case_id, for_update=True)
        event = await uow.cases.add_event(case_id, kind, actor.id, data.text)
        if data.email is not None:
            event["email"] = await _email(crm, uow, case, data.text, data.email, actor)
    return event


async def _email(crm: Crm, uow: UnitOfWork, case: dict[str, Any], text: str, email: EmailIn, actor: Actor
                 ) -> dict[str, Any]:
    sent = await comment_email.send(crm, uow, campaign_id=case["campaign_id"], contact_id=case["contact_id"],
                                    conversation_id=case["conversation_id"], text=text, email=email, actor=actor,
                                    subject=case["title"] or f"Case {case['id']}")
    await uow.cases.add_event(case["id"], "email", actor.id, text, sent)
    return sent


async def attach(crm: Crm, owner_kind: str, owner_id: str, filename: str, mime_type: str,
                 chunks: AsyncIterator[bytes], actor: Actor) -> dict[str, Any]:
    """Store a file in the blob store and record it on a case, ticket or call."""
    if not filename or len(filename) > 255 or "/" in filename or "\\" in filename:
        raise Invalid("filename must be a plain file name of 1 to 255 characters", field="filename")
    async with crm.uow(readonly=True) as uow:
        if not await uow.cases.owner_exists(owner_kind, owner_id):
            raise NotFound(f"{owner_kind} {owner_id} not found", field=f"{owner_kind}_id")
    attachment_id = new_id()
    key = f"attachments/{owner_kind}/{attachment_id}"
    info = await crm.blobs.put_stream(key, chunks, max_bytes=crm.settings.max_upload_mb * 1024 * 1024)
    if info.size == 0:
        await crm.blobs.delete(key)
        raise Invalid("the file is empty", field="file")
    try:
        async with crm.uow() as uow:
            row = await uow.cases.add_attachment({
                "id": attachment_id, "owner_kind": owner_kind, "owner_id": owner_id, "filename": filename,
                "mime_type": mime_type, "size": info.size, "sha256": info.sha256, "blob_key": key,
                "uploaded_by": actor.id})
            if owner_kind == "case":
                await uow.cases.add_event(owner_id, "attachment", actor.id, filename,
                                          {"attachment_id": attachment_id, "size": info.size})
    except BaseException:
        await crm.blobs.delete(key)
        raise
    return row


async def attachment(crm: Crm, attachment_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        row = await uow.cases.attachment(attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found", field="attachment_id")
    return row


async def attachment_meta(crm: Crm, attachment_id: str, actor: Actor) -> dict[str, Any]:
    """An attachment without its storage key, with whom its owner (case, ticket or call) belongs to:
    ``agent_id`` and ``campaign_id``, so the gateway can check the caller may see it before a download.

    An agent named as actor may see only an attachment of their own, or of nobody's item."""
    row = await attachment(crm, attachment_id)
    async with crm.uow(readonly=True) as uow:
        owner = await uow.cases.attachment_owner(row["owner_kind"], row["owner_id"])
    meta = {k: v for k, v in row.items() if k != "blob_key"} | owner
    if actor.role == "agent" and meta.get("agent_id") not in (None, actor.id) and not _sees_campaign(crm, actor, meta):
        raise NotFound(f"attachment {attachment_id} not found", field="attachment_id")
    return meta


async def attachment_owner(crm: Crm, owner_kind: str, owner_id: str) -> dict[str, Any]:
    """``{agent_id, campaign_id}`` of the item (case, ticket or call) a file is attached to."""
    async with crm.uow(readonly=True) as uow:
        return await uow.cases.attachment_owner(owner_kind, owner_id)


def _sees_campaign(crm: Crm, actor: Actor, item: dict[str, Any]) -> bool:
    """An agent sees a colleague's item only in a campaign of theirs that allows viewing all cases."""
    snapshot = crm.campaigns.get(item.get("campaign_id"))
    return bool(snapshot and actor.id in snapshot.agents and snapshot.permissions.view_all_cases)


def _panel_scope(crm: Crm, campaign_id: str, actor: Actor) -> bool:
    """Whether the caller sees every open item of the campaign (supervisors, or ``view_all_cases``)."""
    snapshot = crm.campaigns.get(campaign_id)
    if actor.privileged:
        return True
    return bool(snapshot and snapshot.permissions.view_all_cases)


async def panel(crm: Crm, campaign_id: str, agent_id: str | None, actor: Actor, q: str | None,
                result: str | None, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """The operator panel: open work items of a campaign with contact data and plan information."""
    agent = agent_id or (None if actor.privileged else actor.id)
    all_items = agent is None or (_panel_scope(crm, campaign_id, actor) and agent_id is None)
    async with crm.uow(readonly=True) as uow:
        return [present(r) for r in await uow.cases.panel(campaign_id, agent, all_items, q, result, limit, after)]


def check_access(crm: Crm, case: dict[str, Any], actor: Actor) -> None:
    if case["assigned_user"] in (None, actor.id) or actor.privileged:
        return
    snapshot = crm.campaigns.get(case["campaign_id"])
    if snapshot is None or not may_close(actor.id, actor.role, snapshot, case["assigned_user"]):
        raise Forbidden(f"case {case['id']} is assigned to {case['assigned_user']}", field="actor")


async def attend(crm: Crm, case_id: str, actor: Actor) -> dict[str, Any]:
    """"Atender": open an item; an unassigned item becomes the agent's."""
    async with crm.uow() as uow:
        case = await case_of(uow, case_id, for_update=True)
        await _attend(crm, uow, case, actor)
    return await get_case(crm, case_id)


async def _attend(crm: Crm, uow: UnitOfWork, case: dict[str, Any], actor: Actor) -> None:
    if case["status"] == "closed":
        raise Conflict(f"case {case['id']} is closed", field="case_id")
    check_access(crm, case, actor)
    assigned = case["assigned_user"] or (actor.id if not actor.privileged else None)
    await uow.cases.update(case["id"], status="in_progress", attended_at=utcnow(), attended_by=actor.id,
                           assigned_user=assigned)
    await uow.cases.add_event(case["id"], "attended", actor.id)


async def save(crm: Crm, case_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """"Guardar" / "Guardar y siguiente". Finishing needs a result allowed by the campaign and its required
    fields; a comment alone keeps the item open. With ``next``, the next item is attended and returned."""
    data = parse_body(SaveIn, body)
    if not data.finish and not (data.comment or "").strip():
        raise Invalid("write a comment, or finish with a result", field="comment")
    if data.finish and not data.result:
        raise Invalid("finishing a case requires a result", field="result")
    next_id: str | None = None
    async with crm.uow() as uow:
        case = await case_of(uow, case_id, for_update=True)
        if case["status"] == "closed":
            raise Conflict(f"case {case_id} is already closed", field="case_id")
        check_access(crm, case, actor)
        now = utcnow()
        if data.finish:
            await finish_case(crm, uow, case, result=data.result, fields=data.fields, comment=data.comment,
                              actor=actor, now=now)
        else:
            await uow.cases.add_event(case_id, "comment", actor.id, data.comment)
            await uow.contacts.touch_activity(case["contact_id"], now, None)
        if data.next:
            candidates = await uow.cases.panel(case["campaign_id"], actor.id, actor.privileged, None, None, 1, None,
                                               exclude=case_id, lock=True)
            if candidates:
                next_id = candidates[0]["id"]
                await _attend(crm, uow, await case_of(uow, next_id), actor)
    saved = await get_case(crm, case_id)
    return {"case": saved, "next": await get_case(crm, next_id) if next_id else None}


async def finish_case(crm: Crm, uow: UnitOfWork, case: dict[str, Any], *, result: str | None,
                      fields: dict[str, Any], comment: str | None, actor: Actor, now: datetime) -> None:
    """Close a case with a result inside the caller's transaction, through every closing rule of its campaign:
    the typification and its fields, the work record and the customer's information (seed 002). The comment (if
    any) is recorded first; the attempt counts in the contact's lists."""
    snapshot = snapshot_of(crm, case["campaign_id"])
    check_closure(snapshot, actor_id=actor.id, role=actor.role, assigned=case["assigned_user"] or actor.id,
                  typification_id=result, fields=fields, typification_field="result")
    commented = bool((comment or "").strip())
    await _check_record(uow, snapshot, case, commented=commented)
    if commented:
        await uow.cases.add_event(case["id"], "comment", actor.id, comment)
    await uow.cases.update(case["id"], status="closed", result=result, fields=fields, closed_at=now,
                           closed_by=actor.id, attempts=case["attempts"] + 1)
    await uow.cases.add_event(case["id"], "result", actor.id, result, {"typification_id": result, "fields": fields})
    await uow.cases.bump_list_member(case["contact_id"], case["campaign_id"], None, actor.id, result, now)
    await uow.contacts.touch_activity(case["contact_id"], now, result)
    await webhooks.on_case_closed(crm, uow, case, result, fields, actor)


async def _check_record(uow: UnitOfWork, snapshot: CampaignSnapshot, case: dict[str, Any], *, commented: bool) -> None:
    """Seed 002 "Cerrar casos sin Gestión / sin información del Cliente": a case closes without work done on it
    or without its customer's information only when the campaign allows it.

    Raises:
        Conflict: 409 naming ``comment`` (no work record) or ``contact_id`` (no customer information).
    """
    contact = await uow.contacts.get(case["contact_id"])
    has_info = bool(contact and (contact.get("name") or "").strip())
    has_work = commented or await uow.cases.has_work_record(case["id"])
    if problems := snapshot.close_record_problems(has_work_record=has_work, has_customer_info=has_info):
        raise Conflict("; ".join(m for _, m in problems), field=problems[0][0],
                       details=[{"field": f, "message": m} for f, m in problems])


async def search_cases(crm: Crm, *, campaign_id: str | None, contact_id: str | None, status: str | None,
                       assigned_user: str | None, priority: str | None, limit: int,
                       after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        rows = await uow.cases.search(campaign_id=campaign_id, contact_id=contact_id, status=status,
                                      assigned_user=assigned_user,
                                      priority=priority_value(priority) if priority else None, limit=limit, after=after)
    return [present(r) for r in rows]


async def global_search(crm: Crm, q: str, limit: int, actor: Actor | None = None) -> dict[str, Any]:
    """The search at the top of the console (seed 003): contacts of the whole base (which every role may read) and
    their open cases the caller may see (an agent: their own and nobody's in their campaigns, the whole campaign
    when it allows viewing all; a supervisor: their campaigns')."""
    if len(q) < 2:
        raise Invalid("search needs at least 2 characters", field="q")
    async with crm.uow(readonly=True) as uow:
        found = await uow.contacts.search(ContactFilter(q=q), limit, None)
        cases = await uow.cases.open_cases_of([c["id"] for c in found])
    if actor is not None and actor.role in ("agent", "supervisor"):
        cases = [k for k in cases if _sees_case(crm, actor, k)]
    return {"contacts": found, "cases": [present(r) for r in cases]}


def _sees_case(crm: Crm, actor: Actor, case: dict[str, Any]) -> bool:
    snapshot = crm.campaigns.get(case["campaign_id"])
    if snapshot is None:
        return False
    if actor.role == "supervisor":
        return actor.id in snapshot.supervisors
    if actor.id not in snapshot.agents:
        return False
    return case["assigned_user"] in (None, actor.id) or snapshot.permissions.view_all_cases

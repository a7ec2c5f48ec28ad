"""Call history (seed 001): register, classify within 24 hours, search with filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import ConversationEvent, new_id, utcnow
from libs.core.errors import Conflict, Invalid, NotFound
from libs.core.validation import parse_body
from services.crm.adapters.postgres import base
from services.crm.adapters.postgres import calls as repo
from services.crm.adapters.postgres import cases as cases_repo
from services.crm.adapters.postgres import contacts as contacts_repo
from services.crm.adapters.postgres.base import Conn
from services.crm.domain.contacts import BadAddress, normalize_phone
from services.crm.domain.visibility import matches_mask
from services.crm.domain.work import call_classifiable
from services.crm.handlers import Actor, Crm


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["in", "out"]
    phone: str = Field(min_length=1, max_length=64)
    started_at: datetime | None = None
    duration_s: int = Field(0, ge=0, le=7 * 24 * 3600)
    agent_id: str | None = None
    contact_id: str | None = None
    campaign_id: str | None = None
    list_id: str | None = None
    disposition: str | None = None
    comment: str | None = Field(None, max_length=20000)


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disposition: str = Field(min_length=1, max_length=100)
    comment: str | None = Field(None, max_length=20000)
    contact_id: str | None = None


async def _contact_for(conn: Conn, phone: str) -> str | None:
    found = await contacts_repo.find_by_address(conn, "phone", phone, limit=2)
    return found[0] if len(found) == 1 else None


async def _unmasked(crm: Crm, data: CallIn) -> str:
    """The number an agent clicked: they may see it masked (``+54 9 11 •••• 3456``), so it is found among the
    contact's numbers, which they never receive whole.

    Raises:
        Invalid: a masked number without ``contact_id``, or one that is not the contact's (field ``phone``).
    """
    if "•" not in data.phone:
        return data.phone
    if not data.contact_id:
        raise Invalid("a masked number needs the contact_id it belongs to", field="phone")
    async with crm.pool.acquire() as conn:
        contact = await contacts_repo.get(conn, data.contact_id)
    for entry in (contact or {}).get("phones", []):
        if matches_mask(data.phone, entry["number"]) or matches_mask(data.phone, entry["raw"] or ""):
            return str(entry["number"])
    raise Invalid(f"{data.phone} is not a number of contact {data.contact_id}", field="phone")


async def register_call(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """Record a call; the contact is linked when exactly one holds the number."""
    data = parse_body(CallIn, body)
    raw = await _unmasked(crm, data)
    try:
        phone = normalize_phone(raw, crm.settings.default_region)
    except BadAddress as exc:
        raise Invalid(str(exc), field="phone") from None
    started = data.started_at or utcnow()
    if started.tzinfo is None:
        raise Invalid("started_at needs a time zone offset", field="started_at")
    call_id = new_id()
    async with crm.pool.acquire() as conn, conn.transaction():
        contact_id = data.contact_id
        if contact_id and await contacts_repo.get(conn, contact_id) is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        contact_id = contact_id or await _contact_for(conn, phone)
        classified = {"classified_at": utcnow(), "classified_by": actor.id} if data.disposition else {}
        await repo.insert(conn, call_id, data.model_dump() | {"phone": phone, "phone_raw": raw,
                                                             "contact_id": contact_id, "started_at": started}
                          | classified)
        if contact_id:
            await contacts_repo.touch_activity(conn, contact_id, started, data.disposition)
            await cases_repo.bump_list_member(conn, contact_id, data.campaign_id, data.list_id,
                                              data.agent_id or actor.id, data.disposition, started)
        await base.audit(conn, "call", call_id, "created", actor.id, {"direction": data.direction})
        call = await repo.get(conn, call_id)
    return call  # type: ignore[return-value]


async def classify(crm: Crm, call_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Save a call's disposition and comment; an unclassified call expires after the configured window."""
    data = parse_body(ClassifyIn, body)
    async with crm.pool.acquire() as conn, conn.transaction():
        call = await repo.get(conn, call_id, for_update=True)
        if call is None:
            raise NotFound(f"call {call_id} not found", field="call_id")
        now = utcnow()
        if not call_classifiable(call["started_at"], call["classified_at"], now,
                                 crm.settings.unclassified_call_hours):
            raise Conflict(f"the call is older than {crm.settings.unclassified_call_hours:g} hours and was never "
                           f"classified; it can no longer be", field="call_id")
        if data.contact_id and await contacts_repo.get(conn, data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        await repo.classify(conn, call_id, disposition=data.disposition, comment=data.comment,
                            contact_id=data.contact_id, actor=actor.id, at=now)
        contact_id = data.contact_id or call["contact_id"]
        if contact_id:
            await contacts_repo.touch_activity(conn, contact_id, call["started_at"], data.disposition)
            if call["classified_at"] is None:
                await cases_repo.bump_list_member(conn, contact_id, call["campaign_id"], call["list_id"],
                                                  call["agent_id"] or actor.id, data.disposition, call["started_at"])
        await base.audit(conn, "call", call_id, "classified", actor.id,
                         {"disposition": [call["disposition"], data.disposition]})
        return await repo.get(conn, call_id)  # type: ignore[return-value]


async def get(crm: Crm, call_id: str) -> dict[str, Any]:
    """One call (the gateway checks who owns it before classifying it)."""
    async with crm.pool.acquire() as conn:
        call = await repo.get(conn, call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found", field="call_id")
        call["attachments"] = await cases_repo.attachments(conn, "call", call_id)
    return call


async def search(crm: Crm, f: dict[str, Any], limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    async with crm.pool.acquire() as conn:
        return await repo.search(conn, f, limit, after)


async def pending(crm: Crm, agent_id: str | None, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """An agent's calls still waiting for a classification (kept for the configured 24 hours)."""
    since = utcnow() - timedelta(hours=crm.settings.unclassified_call_hours)
    return await search(crm, {"agent_id": agent_id, "unclassified_since": since}, limit, after)


async def on_voice_event(conn: Conn, event: ConversationEvent, conv: dict[str, Any], phone: str | None) -> None:
    """A voice conversation is an inbound call (one per conversation); later events update it."""
    await repo.insert(conn, new_id(), {
        "direction": "in", "started_at": conv["opened_at"], "agent_id": event.agent_id,
        "contact_id": conv["contact_id"], "phone": phone, "phone_raw": event.contact_address,
        "campaign_id": event.campaign_id, "conversation_id": event.conversation_id})
    closed = event.type == "conversation.closed"
    await repo.on_voice_event(conn, event.conversation_id, agent_id=event.agent_id, contact_id=conv["contact_id"],
                              closed_at=event.occurred_at if closed else None,
                              disposition=getattr(event, "typification_id", None) if closed else None)




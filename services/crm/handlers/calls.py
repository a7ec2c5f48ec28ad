"""Call history (seed 001): register, classify within 24 hours, search with filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import CallProgress, ConversationEvent, MediaRef, new_id, utcnow
from libs.core.errors import Conflict, Invalid, NotFound, Transient
from libs.core.validation import parse_body
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.contacts import BadAddress, normalize_phone
from services.crm.domain.visibility import matches_mask
from services.crm.domain.work import call_classifiable
from services.crm.handlers import Actor, Crm, callbacks, catalogs, comment_email
from services.crm.handlers.comment_email import EmailIn


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


class CallEmailIn(EmailIn):
    """Seed 001 1.3.2: the call's comment e-mailed to the contact, with CC/BCC, some of the call's attachments,
    and its charges ("Agregar los cargos de la llamada al correo")."""

    charges: bool = False
    attachments: list[str] = Field(default_factory=list, max_length=20)


class ClassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disposition: str = Field(min_length=1, max_length=100)
    comment: str | None = Field(None, max_length=20000)
    contact_id: str | None = None
    email: CallEmailIn | None = None


def with_charges(crm: Crm, call: dict[str, Any]) -> dict[str, Any]:
    """The call with its ``charges`` at its campaign's rate (seed 001: "10 col / segundo"), None without one."""
    snapshot = crm.campaigns.get(call.get("campaign_id"))
    amount = snapshot.call_charge(call.get("duration_s")) if snapshot else None
    call["charges"] = None if amount is None or snapshot is None else {
        "amount": amount, "currency": snapshot.call_charges.currency, "rate": snapshot.call_charges.rate,
        "per": snapshot.call_charges.per}
    return call


def charges_line(call: dict[str, Any]) -> str:
    c = call["charges"]
    per = "segundo" if c["per"] == "second" else "minuto"
    return (f"Cargos de la llamada: {c['amount']:g} {c['currency']} ({call['duration_s']} s a {c['rate']:g} "
            f"{c['currency']} por {per})").replace("  ", " ")


async def _contact_for(uow: UnitOfWork, phone: str) -> str | None:
    found = await uow.contacts.find_by_address("phone", phone, limit=2)
    return found[0] if len(found) == 1 else None


class DialIn(BaseModel):
    """Body of ``POST /calls/dial``: click-to-call from the agent's console."""

    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=64)
    campaign_id: str = Field(min_length=1, max_length=128)
    contact_id: str | None = None
    list_id: str | None = None
    channel_id: str | None = Field(None, max_length=64)


async def _unmasked(crm: Crm, data: CallIn | DialIn) -> str:
    """The number an agent clicked: they may see it masked (``+54 9 11 •••• 3456``), so it is found among the
    contact's numbers, which they never receive whole.

    Raises:
        Invalid: a masked number without ``contact_id``, or one that is not the contact's (field ``phone``).
    """
    if "•" not in data.phone:
        return data.phone
    if not data.contact_id:
        raise Invalid("a masked number needs the contact_id it belongs to", field="phone")
    async with crm.uow(readonly=True) as uow:
        contact = await uow.contacts.get(data.contact_id)
    for entry in (contact or {}).get("phones", []):
        if matches_mask(data.phone, entry["number"]) or matches_mask(data.phone, entry["raw"] or ""):
            return str(entry["number"])
    raise Invalid(f"{data.phone} is not a number of contact {data.contact_id}", field="phone")


async def _number(crm: Crm, data: CallIn | DialIn) -> tuple[str, str]:
    """The number as given (unmasked) and normalized to E.164. Raises: Invalid (field ``phone``)."""
    raw = await _unmasked(crm, data)
    try:
        return raw, normalize_phone(raw, crm.settings.default_region)
    except BadAddress as exc:
        raise Invalid(str(exc), field="phone") from None


async def register_call(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """Record a call; the contact is linked when exactly one holds the number."""
    data = parse_body(CallIn, body)
    raw, phone = await _number(crm, data)
    started = data.started_at or utcnow()
    if started.tzinfo is None:
        raise Invalid("started_at needs a time zone offset", field="started_at")
    call_id = new_id()
    async with crm.uow() as uow:
        contact_id = data.contact_id
        if contact_id and await uow.contacts.get(contact_id) is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        contact_id = contact_id or await _contact_for(uow, phone)
        classified = {"classified_at": utcnow(), "classified_by": actor.id} if data.disposition else {}
        await uow.calls.insert(call_id, data.model_dump() | {"phone": phone, "phone_raw": raw,
                                                            "contact_id": contact_id, "started_at": started}
                               | classified)
        if contact_id:
            await uow.contacts.touch_activity(contact_id, started, data.disposition)
            await uow.cases.bump_list_member(contact_id, data.campaign_id, data.list_id,
                                             data.agent_id or actor.id, data.disposition, started)
        await uow.audit.audit("call", call_id, "created", actor.id, {"direction": data.direction})
        call = await uow.calls.get(call_id)
    return with_charges(crm, call)  # type: ignore[arg-type]


def _voice_channel(crm: Crm, data: DialIn) -> str | None:
    """The campaign's voice channel the call goes out through (the one named, else its first); ``None`` for a
    campaign without one (the agent dials by hand: the call is only recorded).

    Raises:
        NotFound: the campaign (``campaign_id``). Invalid: the channel named is not one of its voice channels
        (``channel_id``).
    """
    snap = crm.campaigns.get(data.campaign_id)
    if snap is None:
        raise NotFound(f"campaign {data.campaign_id} not found", field="campaign_id")
    voice = [c.id for c in snap.channels if c.type == "voice"]
    if data.channel_id is not None and data.channel_id not in voice:
        raise Invalid(f"{data.channel_id} is not a voice channel of campaign {data.campaign_id}", field="channel_id")
    return data.channel_id or (voice[0] if voice else None)


async def dial(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """Click-to-call: record the outbound call and have the campaign's voice channel ring the caller's extension,
    then the contact, in one transaction: a call the phone system refused leaves no record. The call's events
    then keep its ``status`` (dialing, ringing, answered, ended, missed) and duration (``on_progress``). A
    campaign without a voice channel has no phone system to ring: the call is recorded as ``manual`` (the agent
    dials it on their own phone).

    Raises:
        Invalid (field-named), NotFound, the voice channel's refusal with its field, Transient.
    """
    data = parse_body(DialIn, body)
    if actor.role == "system":
        raise Invalid("a call is placed by a person, who answers it first", field="agent_id")
    channel_id = _voice_channel(crm, data)
    raw, phone = await _number(crm, data)
    if channel_id is not None and crm.voice is None:
        raise Transient("no voice channel service is configured (SB_CRM_CHANNELS_URL)")
    call_id = new_id()
    async with crm.uow() as uow:
        if data.contact_id and await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        contact_id = data.contact_id or await _contact_for(uow, phone)
        await uow.calls.insert(call_id, {"direction": "out", "started_at": utcnow(), "agent_id": actor.id,
                                         "contact_id": contact_id, "phone": phone, "phone_raw": raw,
                                         "campaign_id": data.campaign_id, "list_id": data.list_id})
        placed: dict[str, Any] = {"provider": None}
        if channel_id is None:
            await uow.calls.set_status(call_id, "manual")
        else:
            assert crm.voice is not None
            placed = await crm.voice.place(channel_id, call_id, phone, actor.id)
            await uow.calls.placed(call_id, channel_id=channel_id, provider_call_id=str(placed["provider_call_id"]))
        await uow.audit.audit("call", call_id, "created", actor.id,
                              {"direction": "out", "channel_id": channel_id, "provider": placed.get("provider")})
        call = await uow.calls.get(call_id)
    return with_charges(crm, call)  # type: ignore[arg-type]


async def on_progress(crm: Crm, event: CallProgress) -> None:
    """A placed call's event (from channels): its status, answer and end times, and on its end the duration."""
    async with crm.uow() as uow:
        await uow.calls.progress(event.call_id, event.stage, event.occurred_at, event.duration_s)


async def classify(crm: Crm, call_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Save a call's disposition and comment; an unclassified call expires after the configured window."""
    data = parse_body(ClassifyIn, body)
    async with crm.uow() as uow:
        call = await uow.calls.get(call_id, for_update=True)
        if call is None:
            raise NotFound(f"call {call_id} not found", field="call_id")
        now = utcnow()
        if not call_classifiable(call["started_at"], call["classified_at"], now,
                                 crm.settings.unclassified_call_hours):
            raise Conflict(f"the call is older than {crm.settings.unclassified_call_hours:g} hours and was never "
                           f"classified; it can no longer be", field="call_id")
        if data.contact_id and await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        chosen = await catalogs.disposition(uow.catalogs, call["campaign_id"], data.disposition)
        await uow.calls.classify(call_id, disposition=data.disposition, comment=data.comment,
                                 contact_id=data.contact_id, actor=actor.id, at=now)
        contact_id = data.contact_id or call["contact_id"]
        if contact_id:
            await uow.contacts.touch_activity(contact_id, call["started_at"], data.disposition)
            if call["classified_at"] is None:
                await uow.cases.bump_list_member(contact_id, call["campaign_id"], call["list_id"],
                                                 call["agent_id"] or actor.id, data.disposition, call["started_at"])
        await uow.audit.audit("call", call_id, "classified", actor.id,
                              {"disposition": [call["disposition"], data.disposition]})
        saved = with_charges(crm, await uow.calls.get(call_id))  # type: ignore[arg-type]
        if data.email is not None:
            saved["email"] = await _email(crm, uow, saved, contact_id, data, actor)
        saved["follow_up"] = await follow_up(crm, uow, saved, chosen, contact_id, actor, now) if chosen else None
        return saved


async def _email(crm: Crm, uow: UnitOfWork, call: dict[str, Any], contact_id: str | None, data: ClassifyIn, actor: Actor
                 ) -> dict[str, Any]:
    """The comment to the contact by e-mail (with the charges and attachments asked for), in the transaction."""
    email = data.email
    assert email is not None
    if not (data.comment or "").strip():
        raise Invalid("write the comment the e-mail carries", field="comment")
    text = data.comment or ""
    if email.charges:
        if call["charges"] is None:
            raise Invalid("the call's campaign has no call charge rate (call_charges.rate), or the call no duration",
                          field="email.charges")
        text = f"{text}\n\n{charges_line(call)}"
    own = {a["id"]: a for a in await uow.attachments.attachments("call", call["id"])}
    media = []
    for i, attachment_id in enumerate(email.attachments):
        found = own.get(attachment_id)
        if found is None:
            raise Invalid(f"{attachment_id} is not an attachment of this call", field=f"email.attachments[{i}]")
        media.append(await _as_media(crm, uow, found))
    return await comment_email.send(crm, uow, campaign_id=call["campaign_id"], contact_id=contact_id,
                                    conversation_id=call["conversation_id"], text=text, email=email, actor=actor,
                                    subject=f"Llamada del {call['started_at']:%Y-%m-%d %H:%M}", media=media)


async def _as_media(crm: Crm, uow: UnitOfWork, attachment: dict[str, Any]) -> MediaRef:
    """A call's attachment as e-mail media: copied to its content-addressed key (``media/<sha[:2]>/<sha>``), which
    the channels service reads ``blob:<sha>`` references from (the shared blob store)."""
    row = await uow.cases.attachment(attachment["id"])
    assert row is not None
    sha = row["sha256"]
    key = f"media/{sha[:2]}/{sha}"
    if not await crm.blobs.exists(key):
        await crm.blobs.put(key, await crm.blobs.get(row["blob_key"]))
    major = row["mime_type"].split("/", 1)[0]
    return MediaRef(kind=major if major in ("image", "audio", "video") else "file", url=f"blob:{sha}", provider_id=sha,
                    mime_type=row["mime_type"], filename=row["filename"])


async def follow_up(crm: Crm, uow: UnitOfWork, call: dict[str, Any], disposition: dict[str, Any],
                    contact_id: str | None, actor: Actor, now: datetime) -> dict[str, Any] | None:
    """Seed 001 1.3.1: the disposition's follow-up, in the classification's transaction: a callback for the call's
    agent, or a ticket with one pending action of the disposition's action type, due ``after_minutes`` later."""
    rule = disposition.get("follow_up") or {}
    kind = rule.get("kind", "none")
    if kind == "none":
        return None
    if not contact_id:
        raise Invalid(f"disposition {disposition['name']!r} schedules a follow-up: link the call to a contact first",
                      field="contact_id")
    owner = call["agent_id"] or actor.id
    due = now + timedelta(minutes=rule.get("after_minutes", 60))
    note = rule.get("note") or f"Seguimiento: {disposition['name']}"
    if kind == "callback":
        callback_id = new_id()
        await uow.callbacks.insert(callback_id, {"owner_id": owner, "due_at": due, "contact_id": contact_id,
                                                 "campaign_id": call["campaign_id"], "note": note,
                                                 "created_by": actor.id})
        await uow.audit.audit("callback", callback_id, "created", actor.id,
                              {"owner_id": [None, owner], "due_at": [None, due.isoformat()],
                               "call_id": [None, call["id"]]})
        callback = await uow.callbacks.get(callback_id)
        await crm.publisher.publish(callbacks.timer_for(callback))  # type: ignore[arg-type]
        return {"kind": "callback", "callback_id": callback_id, "due_at": due}
    ticket_id, action_id = new_id(), new_id()
    await uow.tickets.insert_ticket(ticket_id, {"contact_id": contact_id, "subject": note, "priority": 1,
                                                "agent_id": owner, "call_id": call["id"], "created_by": actor.id})
    await uow.tickets.insert_action(action_id, ticket_id, {"kind": rule["action_type_id"], "subject": note,
                                                           "priority": 1, "agent_id": owner, "due_at": due})
    await uow.audit.audit("ticket", ticket_id, "created", actor.id, {"subject": [None, note], "call_id": call["id"]})
    await uow.audit.audit("ticket", ticket_id, "action_added", actor.id,
                          {"action_id": action_id, "kind": rule["action_type_id"], "status": "pending"})
    return {"kind": "ticket_action", "ticket_id": ticket_id, "action_id": action_id, "due_at": due}


async def get(crm: Crm, call_id: str) -> dict[str, Any]:
    """One call (the gateway checks who owns it before classifying it)."""
    async with crm.uow(readonly=True) as uow:
        call = await uow.calls.get(call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found", field="call_id")
        call["attachments"] = await uow.attachments.attachments("call", call_id)
    return with_charges(crm, call)


async def search(crm: Crm, f: dict[str, Any], limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    async with crm.uow(readonly=True) as uow:
        return [with_charges(crm, c) for c in await uow.calls.search(f, limit, after)]


async def pending(crm: Crm, agent_id: str | None, limit: int, after: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """An agent's calls still waiting for a classification (kept for the configured 24 hours)."""
    since = utcnow() - timedelta(hours=crm.settings.unclassified_call_hours)
    return await search(crm, {"agent_id": agent_id, "unclassified_since": since}, limit, after)


async def on_voice_event(uow: UnitOfWork, event: ConversationEvent, conv: dict[str, Any], phone: str | None) -> None:
    """A voice conversation is an inbound call (one per conversation); later events update it."""
    await uow.calls.insert(new_id(), {
        "direction": "in", "started_at": conv["opened_at"], "agent_id": event.agent_id,
        "contact_id": conv["contact_id"], "phone": phone, "phone_raw": event.contact_address,
        "campaign_id": event.campaign_id, "conversation_id": event.conversation_id})
    closed = event.type == "conversation.closed"
    await uow.calls.on_voice_event(event.conversation_id, agent_id=event.agent_id, contact_id=conv["contact_id"],
                                   closed_at=event.occurred_at if closed else None,
                                   disposition=getattr(event, "typification_id", None) if closed else None)




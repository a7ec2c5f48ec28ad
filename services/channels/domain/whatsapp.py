"""WhatsApp Cloud API webhooks (Meta's documented format) into ``InboundMessage`` and ``DeliveryStatus``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from libs.contracts import DeliveryStatus, InboundMessage, MediaRef
from libs.core.errors import Invalid
from libs.core.validation import parse_body
from services.channels.domain.addresses import e164
from services.channels.domain.common import Batch, MetaModel, from_unix, meta_error_text, parse_entries

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")


class WaMedia(MetaModel):
    id: str | None = None
    link: str | None = None
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None


class WaText(MetaModel):
    body: str


class WaContext(MetaModel):
    id: str | None = None


class WaMessage(MetaModel):
    from_: str = Field(alias="from", min_length=1)
    id: str = Field(min_length=1)
    timestamp: datetime | None = None
    type: str = Field(min_length=1)
    text: WaText | None = None
    context: WaContext | None = None
    image: WaMedia | None = None
    audio: WaMedia | None = None
    video: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    interactive: dict[str, Any] | None = None
    button: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None

    _ts = field_validator("timestamp", mode="before")(lambda v: from_unix(v))


class WaStatus(MetaModel):
    id: str = Field(min_length=1)
    status: str
    timestamp: datetime | None = None
    recipient_id: str | None = None
    errors: list[dict[str, Any]] | None = None

    _ts = field_validator("timestamp", mode="before")(lambda v: from_unix(v))


class WaProfile(MetaModel):
    name: str | None = None


class WaContact(MetaModel):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaValue(MetaModel):
    """A change's value; its messages and statuses are normalized one by one (``Batch.add``)."""

    metadata: dict[str, Any] | None = None
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)


class WaChange(MetaModel):
    field: str = "messages"
    value: dict[str, Any] = Field(default_factory=dict)


class WaEntry(MetaModel):
    id: str | None = None
    changes: list[Any] = Field(default_factory=list)


class WaPayload(MetaModel):
    object: Literal["whatsapp_business_account"]
    entry: list[Any]


def parse(channel_id: str, payload: Any, check_text: bool = True) -> Batch:
    """Every message and status of every entry and change of a webhook POST, in order. An entry, a change, a
    message or a status that is malformed is set aside with its reason (``Batch.rejected``); the others stand.

    Raises:
        Invalid: the envelope (``object``, ``entry``) does not have the documented shape.
    """
    return parse_entries(WaPayload, payload, channel_id, _entry, check_text)


def _entry(channel_id: str, raw: Any, path: str, batch: Batch) -> None:
    entry = parse_body(WaEntry, raw, prefix=path)
    for j, raw_change in enumerate(entry.changes):
        where = f"{path}.changes[{j}]"
        batch.add(where, raw_change, _change, channel_id, raw_change, where, batch)


def _change(channel_id: str, raw: Any, path: str, batch: Batch) -> None:
    change = parse_body(WaChange, raw, prefix=path)
    if change.field != "messages":
        # Account, template and quality updates are for the business manager, not an agent: never dropped in
        # silence, they are dead-lettered with this reason where an admin sees them.
        raise Invalid(f"{path}.field: {change.field!r} is not a field this platform handles (messages)",
                      field=f"{path}.field")
    value = parse_body(WaValue, change.value, prefix=f"{path}.value")
    contacts = [c for c in (_contact(c) for c in value.contacts) if c is not None]
    names = {c.wa_id: c.profile.name for c in contacts if c.wa_id and c.profile}
    phone_id = str((value.metadata or {}).get("phone_number_id") or "")
    for k, m in enumerate(value.messages):
        where = f"{path}.value.messages[{k}]"
        batch.add(where, m, _message_of, channel_id, m, where, names, phone_id)
    for k, st in enumerate(value.statuses):
        where = f"{path}.value.statuses[{k}]"
        batch.add(where, st, _status_of, channel_id, st, where)


def _contact(raw: Any) -> WaContact | None:
    """A contact card (it only lends its name to the messages): a malformed one is ignored."""
    try:
        return parse_body(WaContact, raw)
    except Invalid:
        return None


def _message_of(channel_id: str, raw: Any, path: str, names: dict[str, str | None], phone_id: str
                ) -> InboundMessage:
    return _message(channel_id, parse_body(WaMessage, raw, prefix=path), names, phone_id)


def _status_of(channel_id: str, raw: Any, path: str) -> DeliveryStatus:
    return _status(channel_id, parse_body(WaStatus, raw, prefix=path))


def _message(channel_id: str, m: WaMessage, names: dict[str, str | None], phone_id: str) -> InboundMessage:
    address = e164(m.from_)
    if not address:
        raise Invalid("message sender is empty", field="from")
    fields: dict[str, Any] = {
        "channel_id": channel_id,
        "channel_type": "whatsapp",
        "contact_address": address,
        "contact_name": names.get(m.from_),
        "provider_message_id": m.id,
        "sent_at": m.timestamp,
        "reply_to": m.context.id if m.context else None,
        "extra": {"wa_id": m.from_, **({"phone_number_id": phone_id} if phone_id else {})},
    }
    if m.type == "text" and m.text is not None:
        fields["text"] = m.text.body
    elif m.type in MEDIA_TYPES and getattr(m, m.type) is not None:
        media: WaMedia = getattr(m, m.type)
        fields["text"] = media.caption
        fields["media"] = [MediaRef(kind=m.type, provider_id=media.id, url=media.link,
                                    mime_type=media.mime_type, filename=media.filename,
                                    caption=media.caption)]
    elif m.type == "interactive" and m.interactive:
        reply = m.interactive.get("button_reply") or m.interactive.get("list_reply") or {}
        fields["text"] = str(reply.get("title") or "") or None
        fields["extra"]["reply_id"] = str(reply.get("id") or "")
    elif m.type == "button" and m.button:
        fields["text"] = str(m.button.get("text") or "") or None
        fields["extra"]["payload"] = str(m.button.get("payload") or "")
    elif m.type == "location" and m.location:
        loc = m.location
        fields["text"] = ", ".join(str(loc[k]) for k in ("name", "address") if loc.get(k)) or None
        fields["extra"].update({k: str(loc[k]) for k in ("latitude", "longitude") if k in loc})
    else:
        fields["kind"] = "unsupported"
        fields["unsupported_type"] = m.type
        if m.errors:
            fields["extra"]["error"] = str(m.errors[0].get("title") or m.errors[0].get("message") or "")
    return InboundMessage(**fields)


def _status(channel_id: str, s: WaStatus) -> DeliveryStatus:
    if s.status not in STATUSES:
        raise Invalid(f"status {s.status!r} is not one of {', '.join(STATUSES)}", field="status")
    error = meta_error_text(s.errors[0]) if s.errors else None
    return DeliveryStatus(channel_id=channel_id, provider_message_id=s.id, status=s.status,
                          error=error)

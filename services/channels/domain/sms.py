"""Twilio SMS webhooks (form-encoded): inbound messages and ``MessageStatus`` callbacks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from libs.contracts import DeliveryStatus, InboundMessage, MediaRef
from libs.core.errors import Invalid
from libs.core.validation import check_text
from services.channels.domain.addresses import e164

# Twilio's MessageStatus values that are delivery facts; queued/accepted/sending/... are not reported.
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed",
              "undelivered": "failed"}
MAX_MEDIA = 10


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """A form-encoded body as ordered (name, value) pairs, as Twilio signs them.

    Raises:
        Invalid: the body is not UTF-8 form data.
    """
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw),
                          max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"malformed form body: {exc}", field="body") from exc
    for name, value in pairs:
        check_text(name, "body")
        check_text(value, name)
    return pairs


def json_params(body: Any) -> list[tuple[str, str]]:
    """The members of a JSON webhook body as (name, value) pairs, like a form's.

    Raises:
        Invalid: the body is not an object of strings, numbers, booleans and nulls.
    """
    if not isinstance(body, dict):
        raise Invalid("a JSON webhook body must be an object", field="body")
    pairs = []
    for name, value in body.items():
        if isinstance(value, dict | list):
            raise Invalid(f"{name} must be a string, number or boolean", field=name)
        pairs.append((name, "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)))
    return pairs


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise Invalid(f"{name} is required", field=name)
    return value


def parse_inbound(channel_id: str, pairs: Sequence[tuple[str, str]]) -> InboundMessage:
    """An inbound SMS/MMS (or WhatsApp through Twilio) as an ``InboundMessage``.

    Raises:
        Invalid: ``MessageSid`` or ``From`` is missing, or ``NumMedia`` is not a small number.
    """
    form = dict(pairs)
    sid = _required(form, "MessageSid") if "MessageSid" in form else _required(form, "SmsSid")
    sender = _required(form, "From")
    raw_media = form.get("NumMedia", "0") or "0"
    if not raw_media.isdigit() or int(raw_media) > MAX_MEDIA:
        raise Invalid(f"NumMedia must be 0..{MAX_MEDIA}", field="NumMedia")
    media = [MediaRef(kind=_media_kind(form.get(f"MediaContentType{i}")), url=form[f"MediaUrl{i}"],
                      mime_type=form.get(f"MediaContentType{i}") or None)
             for i in range(int(raw_media)) if form.get(f"MediaUrl{i}")]
    extra = {k: form[k] for k in ("To", "AccountSid", "MessagingServiceSid", "FromCountry") if form.get(k)}
    if sender.lower().startswith("whatsapp:"):
        extra["twilio_channel"] = "whatsapp"
    return InboundMessage(channel_id=channel_id, channel_type="sms", contact_address=e164(sender,
                          assume_international=False), provider_message_id=sid, text=form.get("Body") or None,
                          media=media, extra=extra)


def parse_status(channel_id: str, pairs: Sequence[tuple[str, str]]) -> DeliveryStatus | None:
    """A ``MessageStatus`` callback as a ``DeliveryStatus``; ``None`` for statuses that are not delivery facts.

    Raises:
        Invalid: ``MessageSid`` or ``MessageStatus`` is missing.
    """
    form = dict(pairs)
    sid = _required(form, "MessageSid")
    status = _required(form, "MessageStatus").lower()
    mapped = STATUS_MAP.get(status)
    if mapped is None:
        return None
    error = None
    if mapped == "failed":
        error = " ".join(x for x in (form.get("ErrorCode"), form.get("ErrorMessage") or status) if x)
    return DeliveryStatus(channel_id=channel_id, provider_message_id=sid, status=mapped,
                          error=error)


def _media_kind(mime: str | None) -> str:
    major = (mime or "").split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "file"

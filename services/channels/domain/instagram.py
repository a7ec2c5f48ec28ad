"""Instagram messaging webhooks (Meta's format): direct messages, story mentions and replies, comments,
and read receipts. Echoes of our own messages are not routed as inbound."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from libs.contracts import Contract, DeliveryStatus, InboundMessage, MediaRef
from libs.core.validation import parse_body
from services.channels.domain.common import MetaModel, from_unix

COMMENT_FIELDS = ("comments", "live_comments")


class IgUser(MetaModel):
    id: str = Field(min_length=1)
    username: str | None = None


class IgAttachment(MetaModel):
    type: str = "file"
    payload: dict[str, Any] | None = None


class IgMessage(MetaModel):
    mid: str = Field(min_length=1)
    text: str | None = None
    attachments: list[IgAttachment] = Field(default_factory=list)
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False
    reply_to: dict[str, Any] | None = None
    quick_reply: dict[str, Any] | None = None


class IgMessaging(MetaModel):
    sender: IgUser
    recipient: IgUser | None = None
    timestamp: datetime | None = None
    message: IgMessage | None = None
    read: dict[str, Any] | None = None
    postback: dict[str, Any] | None = None

    _ts = field_validator("timestamp", mode="before")(lambda v: from_unix(v))


class IgComment(MetaModel):
    id: str = Field(min_length=1)
    text: str | None = None
    from_: IgUser = Field(alias="from")
    media: dict[str, Any] | None = None
    parent_id: str | None = None


class IgChange(MetaModel):
    field: str
    value: dict[str, Any] = Field(default_factory=dict)


class IgEntry(MetaModel):
    id: str | None = None
    time: datetime | None = None
    messaging: list[dict[str, Any]] = Field(default_factory=list)
    changes: list[IgChange] = Field(default_factory=list)

    _ts = field_validator("time", mode="before")(lambda v: from_unix(v))


class IgPayload(MetaModel):
    object: Literal["instagram", "page"]
    entry: list[IgEntry]


def parse(channel_id: str, payload: Any) -> list[Contract]:
    """Every routable item of every entry of a webhook POST, in order.

    Raises:
        Invalid: the payload does not have the documented shape; the message names the field.
    """
    body = parse_body(IgPayload, payload)
    out: list[Contract] = []
    for i, entry in enumerate(body.entry):
        for j, raw in enumerate(entry.messaging):
            event = parse_body(IgMessaging, raw, prefix=f"entry[{i}].messaging[{j}]")
            item = _messaging(channel_id, event, raw)
            if item is not None:
                out.append(item)
        for j, change in enumerate(entry.changes):
            if change.field not in COMMENT_FIELDS:
                continue
            comment = parse_body(IgComment, change.value, prefix=f"entry[{i}].changes[{j}].value")
            if entry.id and comment.from_.id == entry.id:
                continue  # our own reply to a comment
            out.append(_comment(channel_id, comment, change.field, entry.time))
    return out


def _messaging(channel_id: str, ev: IgMessaging, raw: dict[str, Any]) -> Contract | None:
    base: dict[str, Any] = {"channel_id": channel_id, "channel_type": "instagram",
                            "contact_address": ev.sender.id, "sent_at": ev.timestamp, "extra": {}}
    if ev.message is not None:
        msg = ev.message
        if msg.is_echo:
            return None
        base["provider_message_id"] = msg.mid
        if msg.is_deleted or msg.is_unsupported:
            return InboundMessage(**base, kind="unsupported",
                                  unsupported_type="deleted" if msg.is_deleted else "unsupported")
        base["text"] = msg.text
        base["media"] = [MediaRef(kind=a.type, url=str((a.payload or {}).get("url") or "") or None)
                         for a in msg.attachments]
        if any(a.type == "story_mention" for a in msg.attachments):
            base["extra"]["story_mention"] = "true"
        if msg.reply_to:
            story = msg.reply_to.get("story")
            ref = story.get("id") if isinstance(story, dict) else msg.reply_to.get("mid")
            base["reply_to"] = str(ref) if ref else None
            if isinstance(story, dict):
                base["extra"]["story_url"] = str(story.get("url") or "")
        if msg.quick_reply:
            base["extra"]["payload"] = str(msg.quick_reply.get("payload") or "")
        return InboundMessage(**base)
    if ev.read is not None:
        mid = ev.read.get("mid")
        if not mid:
            return None
        return DeliveryStatus(channel_id=channel_id, provider_message_id=str(mid), status="read")
    if ev.postback is not None:
        pb = ev.postback
        base["provider_message_id"] = str(pb.get("mid") or f"postback:{ev.sender.id}:{raw.get('timestamp')}")
        base["text"] = str(pb.get("title") or "") or None
        base["extra"]["payload"] = str(pb.get("payload") or "")
        return InboundMessage(**base)
    kind = next((k for k in raw if k not in ("sender", "recipient", "timestamp")), "unknown")
    base["provider_message_id"] = f"{kind}:{ev.sender.id}:{raw.get('timestamp')}"
    return InboundMessage(**base, kind="unsupported", unsupported_type=kind)


def _comment(channel_id: str, c: IgComment, field: str, at: datetime | None) -> InboundMessage:
    extra = {"comment_field": field}
    if c.media and c.media.get("id"):
        extra["media_id"] = str(c.media["id"])
    if c.media and c.media.get("media_product_type"):
        extra["media_product_type"] = str(c.media["media_product_type"])
    return InboundMessage(channel_id=channel_id, channel_type="instagram", contact_address=c.from_.id,
                          contact_name=c.from_.username, provider_message_id=c.id, kind="comment",
                          text=c.text, reply_to=c.parent_id, sent_at=at, extra=extra)

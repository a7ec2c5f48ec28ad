"""Instagram messaging webhooks (Meta's format): direct messages, story mentions and replies, comments,
and read receipts. Echoes of our own messages are not routed as inbound."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from libs.contracts import Contract, DeliveryStatus, InboundMessage, MediaRef
from libs.core.validation import parse_body
from services.channels.domain.common import Batch, MetaModel, from_unix, parse_entries

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
    messaging: list[Any] = Field(default_factory=list)
    changes: list[Any] = Field(default_factory=list)

    _ts = field_validator("time", mode="before")(lambda v: from_unix(v))


class IgPayload(MetaModel):
    object: Literal["instagram", "page"]
    entry: list[Any]


def parse(channel_id: str, payload: Any) -> Batch:
    """Every routable item of every entry of a webhook POST, in order. An entry, a messaging event or a change
    that is malformed is set aside with its reason (``Batch.rejected``); the others stand.

    Raises:
        Invalid: the envelope (``object``, ``entry``) does not have the documented shape.
    """
    return parse_entries(IgPayload, payload, channel_id, _entry)


def _entry(channel_id: str, raw: Any, path: str, batch: Batch) -> None:
    entry = parse_body(IgEntry, raw, prefix=path)
    for j, event in enumerate(entry.messaging):
        where = f"{path}.messaging[{j}]"
        batch.add(where, event, _messaging_of, channel_id, event, where)
    for j, change in enumerate(entry.changes):
        where = f"{path}.changes[{j}]"
        batch.add(where, change, _change_of, channel_id, change, where, entry)


def _messaging_of(channel_id: str, raw: Any, path: str) -> Contract | None:
    return _messaging(channel_id, parse_body(IgMessaging, raw, prefix=path), raw)


def _change_of(channel_id: str, raw: Any, path: str, entry: IgEntry) -> InboundMessage | None:
    change = parse_body(IgChange, raw, prefix=path)
    if change.field not in COMMENT_FIELDS:
        return None
    comment = parse_body(IgComment, change.value, prefix=f"{path}.value")
    if entry.id and comment.from_.id == entry.id:
        return None  # our own reply to a comment
    return _comment(channel_id, comment, change.field, entry.time)


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

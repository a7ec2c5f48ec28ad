"""Instagram messaging webhooks (Meta's format): direct messages, story mentions and replies, comments,
and read receipts. Echoes of our own messages are not routed as inbound."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from libs.contracts import Contract, DeliveryStatus, InboundMessage, MediaRef
from libs.core.errors import Invalid
from libs.core.validation import parse_body
from services.channels.domain.common import Batch, MetaModel, from_unix, parse_entries

COMMENT_FIELDS = ("comments", "live_comments")
# Fields of the ``changes[]`` shape whose value is one messaging event (what ``messaging[]`` carries): Meta sends
# them this way when an app subscribes through the Instagram API with Instagram Login, and its dashboard's test
# button sends them so for every field (a test ``messages`` event may lack ``mid`` and ``timestamp``).
MESSAGING_FIELDS = frozenset({"messages", "messaging_postbacks", "messaging_seen", "message_reactions",
                              "messaging_reactions", "messaging_referral", "messaging_optins", "messaging_handover",
                              "message_edit", "standby"})


class IgUser(MetaModel):
    id: str = Field(min_length=1)
    username: str | None = None


class IgAttachment(MetaModel):
    type: str = "file"
    payload: dict[str, Any] | None = None


class IgMessage(MetaModel):
    mid: str | None = Field(None, min_length=1)  # absent in the dashboard's test events (one is made up then)
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
    reaction: dict[str, Any] | None = None
    referral: dict[str, Any] | None = None
    optin: dict[str, Any] | None = None

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
    # Events of a conversation another app of the handover protocol holds: the same shape as ``messaging``.
    standby: list[Any] = Field(default_factory=list)

    _ts = field_validator("time", mode="before")(lambda v: from_unix(v))


class IgPayload(MetaModel):
    object: Literal["instagram", "page"]
    entry: list[Any]


def parse(channel_id: str, payload: Any, check_text: bool = True) -> Batch:
    """Every routable item of every entry of a webhook POST, in order. An entry, a messaging event or a change
    that is malformed is set aside with its reason (``Batch.rejected``); the others stand.

    Raises:
        Invalid: the envelope (``object``, ``entry``) does not have the documented shape.
    """
    return parse_entries(IgPayload, payload, channel_id, _entry, check_text)


def _entry(channel_id: str, raw: Any, path: str, batch: Batch) -> None:
    entry = parse_body(IgEntry, raw, prefix=path)
    if not (entry.messaging or entry.changes or entry.standby):
        raise Invalid(f"{path}: no messaging, changes or standby events: nothing this platform understands",
                      field=path)
    for name in ("messaging", "standby"):
        for j, event in enumerate(getattr(entry, name)):
            where = f"{path}.{name}[{j}]"
            batch.add(where, event, _messaging_of, channel_id, event, where)
    for j, change in enumerate(entry.changes):
        where = f"{path}.changes[{j}]"
        batch.add(where, change, _change_of, channel_id, change, where, entry)


def _messaging_of(channel_id: str, raw: Any, path: str) -> Contract | None:
    return _messaging(channel_id, parse_body(IgMessaging, raw, prefix=path), raw)


def _change_of(channel_id: str, raw: Any, path: str, entry: IgEntry) -> Contract | None:
    """One change: a comment, a messaging event in the ``changes[]`` shape, or a mention.

    Raises:
        Invalid: a field this platform does not handle (the item is dead-lettered with that reason).
    """
    change = parse_body(IgChange, raw, prefix=path)
    if change.field in MESSAGING_FIELDS:
        return _messaging_of(channel_id, change.value, f"{path}.value")
    if change.field == "mentions":
        return _mention(channel_id, change.value, entry.time)
    if change.field not in COMMENT_FIELDS:
        raise Invalid(f"{path}.field: {change.field!r} is not a field this platform handles "
                      f"(messages, comments, mentions and the messaging fields)", field=f"{path}.field")
    comment = parse_body(IgComment, change.value, prefix=f"{path}.value")
    if entry.id and comment.from_.id == entry.id:
        return None  # our own reply to a comment
    return _comment(channel_id, comment, change.field, entry.time)


def _made_up_id(prefix: str, raw: Any) -> str:
    """A stable provider id for an event Meta sent without one (a dashboard test), so a retry is a duplicate."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{prefix}:{digest}"


def _mention(channel_id: str, value: dict[str, Any], at: datetime | None) -> InboundMessage:
    """Our account mentioned in a comment or a caption: Meta names the media (and the comment), not who wrote
    it, so the agent gets an item about that media to look at."""
    media_id = str(value.get("media_id") or "")
    if not media_id:
        raise Invalid("a mention needs value.media_id", field="value.media_id")
    comment_id = str(value.get("comment_id") or "")
    extra = {"media_id": media_id, **({"comment_id": comment_id} if comment_id else {})}
    return InboundMessage(channel_id=channel_id, channel_type="instagram", contact_address=f"media:{media_id}",
                          provider_message_id=f"mention:{comment_id or media_id}", kind="unsupported",
                          unsupported_type="mention", sent_at=at, extra=extra)


def _messaging(channel_id: str, ev: IgMessaging, raw: dict[str, Any]) -> Contract | None:
    base: dict[str, Any] = {"channel_id": channel_id, "channel_type": "instagram",
                            "contact_address": ev.sender.id, "sent_at": ev.timestamp, "extra": {}}
    if ev.message is not None:
        msg = ev.message
        if msg.is_echo:
            return None
        base["provider_message_id"] = msg.mid or _made_up_id("test", raw)
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
            raise Invalid("a read receipt needs read.mid", field="read.mid")
        return DeliveryStatus(channel_id=channel_id, provider_message_id=str(mid), status="read")
    if ev.reaction is not None:
        r = ev.reaction
        action = str(r.get("action") or "react")
        base["provider_message_id"] = f"reaction:{ev.sender.id}:{r.get('mid')}:{action}:{raw.get('timestamp')}"
        base["text"] = str(r.get("emoji") or r.get("reaction") or "") or None if action == "react" else None
        base["reply_to"] = str(r.get("mid")) if r.get("mid") else None
        base["extra"].update({"reaction": str(r.get("reaction") or ""), "reaction_action": action})
        return InboundMessage(**base)
    for kind, payload in (("referral", ev.referral), ("optin", ev.optin)):
        if payload is not None:
            base["provider_message_id"] = _made_up_id(kind, raw)
            base["extra"].update({f"{kind}_{k}": str(v) for k, v in payload.items()
                                  if isinstance(v, str | int | float | bool)})
            return InboundMessage(**base, kind="unsupported", unsupported_type=kind)
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

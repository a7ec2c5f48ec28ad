"""Conversation use cases: persist the router's events idempotently, link contacts, close with validation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts import (
    CampaignSnapshot,
    CloseConversation,
    ConversationAssigned,
    ConversationClosed,
    ConversationEvent,
    ConversationMessage,
    ConversationOffered,
    ConversationOpened,
    ConversationQueued,
    ConversationTransferred,
    utcnow,
)
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from libs.core.logging import get_logger
from libs.core.validation import parse_body
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.closures import check_closure
from services.crm.domain.contacts import address_of_channel, match_result
from services.crm.handlers import Actor, Crm, calls, followups
from services.crm.handlers.resources import check_filename, media_key, media_ref, put_media

log = get_logger(__name__)

STATUS_OF: dict[type, str | None] = {
    ConversationOpened: "opened",
    ConversationQueued: "queued",
    ConversationAssigned: "assigned",
    ConversationMessage: None,
    ConversationOffered: "offered",
    ConversationTransferred: None,
    ConversationClosed: "closed",
}


async def on_event(crm: Crm, event: ConversationEvent) -> None:
    """Persist one conversation event. A redelivered event (same id) changes nothing."""
    async with crm.uow() as uow:
        fresh = await uow.conversations.record_event(event.id, event.conversation_id, event.type, event.seq,
                                                     event.occurred_at, event.agent_id, event.model_dump_json())
        if not fresh:
            log.info("conversation_event_duplicate", conversation_id=event.conversation_id)
            return
        conv = await uow.conversations.upsert(
            conversation_id=event.conversation_id, campaign_id=event.campaign_id, channel_id=event.channel_id,
            channel_type=event.channel_type, contact_address=event.contact_address, agent_id=event.agent_id,
            status=STATUS_OF.get(type(event)), seq=event.seq, at=event.occurred_at)
        if conv["contact_id"] is None:
            conv["contact_id"] = await _auto_link(crm, uow, conv)
        if isinstance(event, ConversationMessage):
            await uow.conversations.insert_message(
                message_id=event.message_id, conversation_id=event.conversation_id, event_id=event.id,
                direction=event.direction, kind=event.kind, text=event.text, media=event.media,
                provider_message_id=event.provider_message_id, seq=event.seq, at=event.occurred_at)
        if isinstance(event, ConversationClosed):
            await uow.conversations.insert_closure(
                conversation_id=event.conversation_id, campaign_id=event.campaign_id,
                typification_id=event.typification_id, fields=event.fields, reason=event.reason,
                closed_by=event.agent_id, closed_at=event.occurred_at, source="event", event_id=event.id)
        if event.channel_type == "voice":
            address = address_of_channel("voice", event.contact_address, crm.settings.default_region)
            await calls.on_voice_event(uow, event, conv, address.value if address else None)
        await followups.on_conversation_event(crm, uow, event, conv)
        if conv["contact_id"] is not None:
            disposition = event.typification_id if isinstance(event, ConversationClosed) else None
            await uow.contacts.touch_activity(conv["contact_id"], event.occurred_at, disposition)


async def _auto_link(crm: Crm, uow: UnitOfWork, conv: dict[str, Any]) -> str | None:
    """Link the contact when exactly one holds the conversation's address; remember when several do."""
    address = address_of_channel(conv["channel_type"], conv["contact_address"], crm.settings.default_region)
    if address is None:
        return None
    found = await uow.contacts.find_by_address(address.kind, address.value, address.network, limit=2)
    result = match_result(len(found))
    contact_id = found[0] if result == "one" else None
    state = {"one": "linked", "several": "several", "none": "none"}[result]
    if state != conv["match_state"] or contact_id:
        await uow.conversations.link_contact(conv["id"], contact_id, state)
        conv["match_state"] = state
    return contact_id


async def get_conversation(crm: Crm, conversation_id: str) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        conv = await uow.conversations.get(conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
        conv["messages"] = await uow.conversations.messages(conversation_id)
        conv["closure"] = await uow.conversations.closure(conversation_id)
        conv["transcript"] = await uow.followups.transcript(conversation_id)
        snapshot = crm.campaigns.get(conv["campaign_id"])
        # Seed 002 "Autocompletar Gestiones": the contact's latest closure in the campaign starts the closing form.
        conv["prefill"] = await uow.cases.latest_result("", conv["contact_id"], conv["campaign_id"]) \
            if snapshot is not None and snapshot.case_options.autocomplete and conv["contact_id"] else None
    return conv


# What an agent may attach to a reply: what WhatsApp, Instagram, MMS and e-mail all carry (WhatsApp's documented
# image, audio, video and document types).
MEDIA_TYPES = frozenset({
    "image/jpeg", "image/png", "image/webp", "image/gif",
    "audio/mpeg", "audio/ogg", "audio/aac", "audio/mp4", "audio/amr",
    "video/mp4", "video/3gpp",
    "application/pdf", "text/plain", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})


class UnsupportedType(Invalid):
    status = 415
    code = "unsupported_media_type"


def check_media_upload(crm: Crm, conv: dict[str, Any], filename: str, mime_type: str) -> str:
    """Whether this file may go into a reply of this conversation: the campaign allows media (seed 004), the
    type is one the channels carry, the name is a plain file name. The type without parameters, lower case.

    Raises:
        Forbidden: the campaign allows no media (field ``media``). UnsupportedType: another type (415, ``file``).
        Invalid: a bad file name (``filename``).
    """
    snapshot = crm.campaigns.get(conv.get("campaign_id"))
    if snapshot is None or not snapshot.permissions.media:
        raise Forbidden(f"campaign {conv.get('campaign_id')!r} does not allow media", field="media")
    mime = mime_type.split(";", 1)[0].strip().lower()
    if mime not in MEDIA_TYPES:
        raise UnsupportedType(f"{mime or 'a file without a type'} cannot be sent; send an image, audio, video, "
                              "PDF, text or Office document", field="file")
    check_filename(filename)
    return mime


async def store_media(crm: Crm, conv: dict[str, Any], filename: str, mime_type: str,
                      chunks: AsyncIterator[bytes]) -> dict[str, Any]:
    """An agent's file for a reply, in the shared store: ``{kind, url: "blob:<sha>", mime_type, filename, size}``
    (the reply carries it; channels sends it per channel type). At most ``max_media_mb`` (413 ``file``)."""
    mime = check_media_upload(crm, conv, filename, mime_type)
    sha, size = await put_media(crm, chunks, crm.settings.max_media_mb * 1024 * 1024)
    return media_ref(sha, mime, filename) | {"size": size}


SHA256 = re.compile(r"[0-9a-f]{64}")
# A media type as a header may carry it (``type/subtype``, no parameters); anything else is served as bytes.
MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def check_sha(sha: str) -> str:
    """Raises: Invalid (field ``sha``) unless 64 lower-case hex digits."""
    if not SHA256.fullmatch(sha):
        raise Invalid("sha must be the file's SHA-256: 64 lower-case hexadecimal digits", field="sha")
    return sha


async def media_file(crm: Crm, conversation_id: str, sha: str) -> dict[str, Any]:
    """A file one of the conversation's messages carries (``blob:<sha>``: an e-mail attachment or body a channel
    kept, an agent's upload, a gallery file): ``{key, size, mime_type, filename}`` to stream from the shared store.
    Only a file of this conversation: any other hash reads as not found, even when the store has it.

    Raises:
        Invalid: not a SHA-256 (``sha``). NotFound: no message of the conversation carries it, or the store
            lost it (``sha``).
    """
    check_sha(sha)
    async with crm.uow(readonly=True) as uow:
        media = await uow.conversations.media_in_messages(conversation_id, f"blob:{sha}")
    if media is None:
        raise NotFound(f"conversation {conversation_id} has no file {sha}", field="sha")
    key = media_key(sha)
    try:
        size = await crm.blobs.size(key)
    except NotFound as exc:
        raise NotFound(f"file {sha} is no longer kept", field="sha") from exc
    mime = str(media.get("mime_type") or "").split(";", 1)[0].strip().lower()
    filename = str(media.get("filename") or "").strip()
    return {"key": key, "size": size, "mime_type": mime if MIME.fullmatch(mime) else "application/octet-stream",
            "filename": filename or f"{media.get('kind') or 'file'}-{sha[:12]}"}


async def matches(crm: Crm, conversation_id: str) -> dict[str, Any]:
    """The contacts the conversation's address matches, to choose from or to create one."""
    async with crm.uow(readonly=True) as uow:
        conv = await uow.conversations.get(conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
        address = address_of_channel(conv["channel_type"], conv["contact_address"], crm.settings.default_region)
        ids = [] if address is None else await uow.contacts.find_by_address(
            address.kind, address.value, address.network)
        found = await uow.contacts.get_many(ids)
    return {"result": match_result(len(found)), "address": address.as_dict() if address else None,
            "contact_id": conv["contact_id"], "contacts": found}


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str = Field(min_length=1)


async def link(crm: Crm, conversation_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """The agent chose (or created) the contact of a conversation."""
    data = parse_body(LinkIn, body)
    async with crm.uow() as uow:
        conv = await uow.conversations.get(conversation_id, for_update=True)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
        if await uow.contacts.get(data.contact_id) is None:
            raise NotFound(f"contact {data.contact_id} not found", field="contact_id")
        await uow.conversations.link_contact(conversation_id, data.contact_id, "linked")
        await uow.audit.audit("conversation", conversation_id, "contact_linked", actor.id,
                              {"contact_id": [conv["contact_id"], data.contact_id]})
        await uow.contacts.touch_activity(data.contact_id, conv["opened_at"])
    return await get_conversation(crm, conversation_id)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    typification_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


def snapshot_of(crm: Crm, campaign_id: str | None) -> CampaignSnapshot:
    snapshot = crm.campaigns.get(campaign_id)
    if snapshot is None:
        raise Conflict(f"campaign {campaign_id!r} is unknown to the CRM (no snapshot)", field="campaign_id")
    return snapshot


async def close(crm: Crm, conversation_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    """Close a conversation with a typification through the campaign's rules, record who and when, and
    ask the router to close it (``CloseConversation``). Nothing is written when a rule fails."""
    data = parse_body(CloseIn, body)
    async with crm.uow() as uow:
        await close_in(crm, uow, conversation_id, data, actor, source="crm")
    return await get_conversation(crm, conversation_id)


async def close_in(crm: Crm, uow: UnitOfWork, conversation_id: str, data: CloseIn, actor: Actor, *, source: str,
                   publish: bool = True, campaign_id: str | None = None) -> None:
    """The closure inside the caller's transaction (a mass close runs one per row, in a savepoint);
    ``campaign_id``: only a conversation of that campaign (another reads as not found)."""
    conv = await uow.conversations.get(conversation_id, for_update=True)
    if conv is None or (campaign_id is not None and conv["campaign_id"] != campaign_id):
        raise NotFound(f"conversation {conversation_id} not found", field="conversation_id")
    if conv["status"] == "closed":
        raise Conflict(f"conversation {conversation_id} is already closed", field="conversation_id")
    snapshot = snapshot_of(crm, conv["campaign_id"])
    replied = await uow.conversations.count_outbound(conversation_id) > 0
    check_closure(snapshot, actor_id=actor.id, role=actor.role, assigned=conv["agent_id"],
                  typification_id=data.typification_id, fields=data.fields, replied=replied)
    now = utcnow()
    await uow.conversations.insert_closure(conversation_id=conversation_id, campaign_id=conv["campaign_id"],
                                           typification_id=data.typification_id, fields=data.fields, reason=source,
                                           closed_by=actor.id, closed_at=now, source=source)
    await uow.conversations.mark_closed(conversation_id, now)
    if conv["contact_id"]:
        await uow.contacts.touch_activity(conv["contact_id"], now, data.typification_id)
    if not publish:
        return
    # Published before commit: if the router cannot be told, nothing is recorded either.
    await crm.publisher.publish(CloseConversation(
        agent_id=conv["agent_id"] or actor.id, conversation_id=conversation_id,
        typification_id=data.typification_id, fields=data.fields))


async def search(crm: Crm, *, contact_id: str | None, campaign_id: str | None, agent_id: str | None,
                 status: str | None, limit: int, after: tuple[datetime, str] | None,
                 campaigns: list[str] | None = None) -> list[dict[str, Any]]:
    """``campaigns``: only these campaigns' conversations (a caller's scope)."""
    async with crm.uow(readonly=True) as uow:
        return await uow.conversations.search(contact_id=contact_id, campaign_id=campaign_id, agent_id=agent_id,
                                              status=status, since=None, campaigns=campaigns, limit=limit,
                                              after=after)


def history_window(snapshot: CampaignSnapshot | None) -> tuple[list[str] | None, datetime | None]:
    """Which campaigns and since when a contact's history is visible from a campaign (linked campaigns and
    ``permissions.history_hours``); no snapshot means everything."""
    if snapshot is None:
        return None, None
    campaigns = [snapshot.id, *snapshot.linked_campaigns]
    return campaigns, snapshot.history_since(utcnow())

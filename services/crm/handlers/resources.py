"""A campaign's resource gallery (seed 004 "Galería de recursos"): files and quick replies admins keep and agents of
the campaign insert in their replies. A file answers ``media``: the reference a reply's media carries."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from libs.contracts import new_id
from libs.core.errors import Forbidden, Invalid, NotFound
from libs.core.validation import Strict, parse_body
from services.crm.handlers import Actor, Crm

MAX_FILE_MB = 25  # what WhatsApp, Instagram and most mail servers accept


class QuickReplyIn(Strict):
    campaign_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=4096)


class ResourcePatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    text: str | None = Field(None, min_length=1, max_length=4096)


def _may_read(crm: Crm, actor: Actor, campaign_id: str) -> None:
    snapshot = crm.campaigns.get(campaign_id)
    if actor.role in ("admin", "system"):
        return
    if snapshot is None or (actor.id not in snapshot.agents and actor.id not in snapshot.supervisors):
        raise Forbidden(f"campaign {campaign_id!r} is not one you work in", field="campaign_id")


def _admin(crm: Crm, actor: Actor, campaign_id: str) -> None:
    if actor.role not in ("admin", "system"):
        raise Forbidden(f"only an admin keeps the gallery, not a {actor.role}", field="role")
    if crm.campaigns.get(campaign_id) is None:
        raise NotFound(f"campaign {campaign_id!r} not found", field="campaign_id")


def media_key(sha: str) -> str:
    return f"media/{sha[:2]}/{sha}"


def media_ref(sha: str, mime_type: str | None, filename: str | None) -> dict[str, Any]:
    """The reference a reply's media carries to a file of the shared store (channels sends it per type)."""
    major = (mime_type or "").split("/", 1)[0]
    return {"kind": major if major in ("image", "audio", "video") else "file", "url": f"blob:{sha}",
            "mime_type": mime_type, "filename": filename}


def present(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if row["kind"] == "file":
        out["media"] = media_ref(row["sha256"], row["mime_type"], row["filename"])
    return out


def check_filename(filename: str) -> None:
    if not filename or len(filename) > 255 or "/" in filename or "\\" in filename:
        raise Invalid("filename must be a plain file name of 1 to 255 characters", field="filename")


async def put_media(crm: Crm, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[str, int]:
    """Store an upload content-addressed under ``media/<sha[:2]>/<sha>`` (where channels reads ``blob:`` media
    from; the same bytes twice are one blob); its sha and size. Past ``max_bytes``: ``TooLarge`` (413, field
    ``file``), and nothing is left behind; an empty file is refused (400 ``file``)."""
    staging = f"uploads/media/{new_id()}"
    info = await crm.blobs.put_stream(staging, chunks, max_bytes=max_bytes)
    try:
        if info.size == 0:
            raise Invalid("the file is empty", field="file")
        data = await crm.blobs.get(staging)
        sha = hashlib.sha256(data).hexdigest()
        if not await crm.blobs.exists(media_key(sha)):
            await crm.blobs.put(media_key(sha), data)
    finally:
        await crm.blobs.delete(staging)
    return sha, info.size


async def gallery(crm: Crm, campaign_id: str, kind: str | None, actor: Actor) -> list[dict[str, Any]]:
    _may_read(crm, actor, campaign_id)
    async with crm.uow(readonly=True) as uow:
        return [present(r) for r in await uow.resources.of_campaign(campaign_id, kind)]


async def get(crm: Crm, resource_id: str, actor: Actor) -> dict[str, Any]:
    async with crm.uow(readonly=True) as uow:
        row = await uow.resources.get(resource_id)
    if row is None:
        raise NotFound(f"resource {resource_id} not found", field="resource_id")
    _may_read(crm, actor, row["campaign_id"])
    return present(row)


async def add_quick_reply(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    data = parse_body(QuickReplyIn, body)
    _admin(crm, actor, data.campaign_id)
    async with crm.uow() as uow:
        return present(await uow.resources.insert({"id": new_id(), "kind": "quick_reply", "created_by": actor.id,
                                                **data.model_dump()}))


async def add_file(crm: Crm, campaign_id: str | None, name: str | None, filename: str, mime_type: str,
                   chunks: AsyncIterator[bytes], actor: Actor) -> dict[str, Any]:
    """Store the file content-addressed (the same bytes twice are one blob) and list it in the gallery."""
    if not campaign_id:
        raise Invalid("campaign_id is required", field="campaign_id")
    _admin(crm, actor, campaign_id)
    check_filename(filename)
    sha, size = await put_media(crm, chunks, MAX_FILE_MB * 1024 * 1024)
    async with crm.uow() as uow:
        return present(await uow.resources.insert({
            "id": new_id(), "campaign_id": campaign_id, "kind": "file", "name": (name or filename)[:200],
            "sha256": sha, "mime_type": mime_type or "application/octet-stream", "size": size,
            "filename": filename, "created_by": actor.id}))


async def update(crm: Crm, resource_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    patch = parse_body(ResourcePatch, body)
    fields = {k: getattr(patch, k) for k in patch.model_fields_set if getattr(patch, k) is not None}
    if not fields:
        raise Invalid("send a name or a text", field="body")
    async with crm.uow() as uow:
        row = await uow.resources.get(resource_id)
        if row is None:
            raise NotFound(f"resource {resource_id} not found", field="resource_id")
        _admin(crm, actor, row["campaign_id"])
        if "text" in fields and row["kind"] != "quick_reply":
            raise Invalid("only a quick reply has a text", field="text")
        return present(await uow.resources.update(resource_id, fields))


async def delete(crm: Crm, resource_id: str, actor: Actor) -> None:
    """The gallery entry goes; the blob stays (replies already sent may point at it, and another entry may share
    the same bytes)."""
    async with crm.uow() as uow:
        row = await uow.resources.get(resource_id)
        if row is None:
            raise NotFound(f"resource {resource_id} not found", field="resource_id")
        _admin(crm, actor, row["campaign_id"])
        await uow.resources.delete(resource_id)


async def file_of(crm: Crm, resource_id: str, actor: Actor) -> dict[str, Any]:
    found = await get(crm, resource_id, actor)
    if found["kind"] != "file":
        raise NotFound(f"resource {resource_id} is not a file", field="resource_id")
    return found | {"blob_key": media_key(found["sha256"])}

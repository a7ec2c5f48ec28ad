"""HTTP: /cases (gestiones), /panel (operator panel), /attachments, /search (global search)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import page_args, query, respond, respond_page
from libs.core.inputs import read_upload
from libs.core.service import read_json
from services.crm.domain.common import parse_choice
from services.crm.domain.work import PRIORITIES
from services.crm.handlers import access, cases
from services.crm.routes import actor_of, crm_of, send_stream


async def _visible_case(request: web.Request) -> dict[str, Any]:
    case = await cases.get_case(crm_of(request), request.match_info["id"])
    access.check_owned(crm_of(request), actor_of(request), case, "assigned_user", "case")
    return case


async def create_case(request: web.Request) -> web.Response:
    body = await read_json(request)
    actor = actor_of(request)
    if not access.unrestricted(actor):
        access.require_campaign(actor, body.get("campaign_id") if isinstance(body, dict) else None)
    access.check_new_owned(crm_of(request), actor, body, "assigned_user")
    return respond(await cases.create_case(crm_of(request), body, actor_of(request)), 201)


async def list_cases(request: web.Request) -> web.Response:
    """Cases of one campaign in the caller's scope (admins and services: any, or all); an agent's own
    unless the campaign allows viewing all."""
    limit, after = page_args(request)
    crm, actor = crm_of(request), actor_of(request)
    campaign_id, assigned = query(request, "campaign_id"), query(request, "assigned_user")
    if not access.unrestricted(actor):
        access.require_campaign(actor, campaign_id)
        owner, _ = access.owned_scope(crm, actor, campaign_id)
        assigned = owner or assigned
    items = await cases.search_cases(
        crm, campaign_id=campaign_id, contact_id=query(request, "contact_id"),
        status=parse_choice(query(request, "status"), "status", ("open", "in_progress", "closed")),
        assigned_user=assigned,
        priority=parse_choice(query(request, "priority"), "priority", PRIORITIES), limit=limit, after=after)
    return respond_page(items, limit, lambda c: (c["created_at"], c["id"]))


async def get_case(request: web.Request) -> web.Response:
    return respond(await _visible_case(request))


async def patch_case(request: web.Request) -> web.Response:
    await _visible_case(request)
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "assigned_user")
    return respond(await cases.update_case(crm_of(request), request.match_info["id"], body, actor_of(request)))


def _note(kind: str):
    async def handler(request: web.Request) -> web.Response:
        await _visible_case(request)
        body = await read_json(request)
        return respond(await cases.add_note(crm_of(request), request.match_info["id"], kind, body,
                                            actor_of(request)), 201)

    return handler


async def attend(request: web.Request) -> web.Response:
    await _visible_case(request)
    return respond(await cases.attend(crm_of(request), request.match_info["id"], actor_of(request)))


async def save(request: web.Request) -> web.Response:
    await _visible_case(request)
    body = await read_json(request)
    return respond(await cases.save(crm_of(request), request.match_info["id"], body, actor_of(request)))


async def panel(request: web.Request) -> web.Response:
    campaign_id = query(request, "campaign_id")
    if not campaign_id:
        raise Invalid("campaign_id is required", field="campaign_id")
    crm, actor = crm_of(request), actor_of(request)
    access.require_campaign(actor, campaign_id)
    agent_id = query(request, "agent_id")
    if agent_id and not access.unrestricted(actor):
        agent_id = access.check_owners(crm, actor, [agent_id], "agent_id")[0]
    limit, after = page_args(request, (int, datetime, str))
    items = await cases.panel(crm, campaign_id, agent_id, actor,
                              query(request, "q"), query(request, "result"), limit, after)
    return respond_page(items, limit,
                        lambda c: (["low", "medium", "high"].index(c["priority"]), c["created_at"], c["id"]))


async def global_search(request: web.Request) -> web.Response:
    """The console's search: contacts of the base, and only the open cases the caller may see."""
    limit, _ = page_args(request)
    return respond(await cases.global_search(crm_of(request), query(request, "q") or "", limit, actor_of(request)))


def _attach(owner_kind: str):
    async def handler(request: web.Request) -> web.Response:
        crm, actor = crm_of(request), actor_of(request)
        if not access.unrestricted(actor):  # the item it is attached to must be visible
            owner = await cases.attachment_owner(crm, owner_kind, request.match_info["id"])
            access.check_owned(crm, actor, {"id": request.match_info["id"], **owner}, "agent_id", owner_kind)
        up = await read_upload(request)
        row = await cases.attach(crm_of(request), owner_kind, request.match_info["id"], up.filename, up.media_type,
                                 up.chunks, actor_of(request))
        return respond(row, 201)

    return handler


async def _visible_attachment(request: web.Request) -> dict[str, Any]:
    crm, actor = crm_of(request), actor_of(request)
    meta = await cases.attachment_meta(crm, request.match_info["id"], actor)
    access.check_owned(crm, actor, meta, "agent_id", "attachment")
    return meta


async def attachment_meta(request: web.Request) -> web.Response:
    return respond(await _visible_attachment(request))


async def download_attachment(request: web.Request) -> web.StreamResponse:
    """The file, for whoever may see the item it belongs to (checked here too, not only at the gateway: an agent
    gets 404 for a colleague's item's file, as for its metadata)."""
    crm = crm_of(request)
    await _visible_attachment(request)
    row = await cases.attachment(crm, request.match_info["id"])
    return await send_stream(request, crm.blobs.open_stream(row["blob_key"]), row["mime_type"], row["filename"])


def setup(app: web.Application) -> None:
    r = app.router
    # A case (gestión) is a work item of the operator panel: the gateway calls them /work-items.
    for base in ("/cases", "/work-items"):
        r.add_post(base, create_case)
        r.add_get(f"{base}/{{id}}", get_case)
        r.add_patch(f"{base}/{{id}}", patch_case)
        r.add_post(f"{base}/{{id}}/comments", _note("comment"))
        r.add_post(f"{base}/{{id}}/actions", _note("action"))
        r.add_post(f"{base}/{{id}}/attachments", _attach("case"))
        r.add_post(f"{base}/{{id}}/attend", attend)
        r.add_post(f"{base}/{{id}}/save", save)
    r.add_get("/cases", list_cases)
    r.add_get("/work-items", panel)
    r.add_get("/panel", panel)
    r.add_get("/search", global_search)
    r.add_post("/tickets/{id}/attachments", _attach("ticket"))
    r.add_post("/calls/{id}/attachments", _attach("call"))
    r.add_get("/attachments/{id}", download_attachment)
    r.add_get("/attachments/{id}/meta", attachment_meta)

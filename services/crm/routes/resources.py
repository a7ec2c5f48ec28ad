"""HTTP: a campaign's resource gallery: ``GET /resources?campaign_id=[&kind=]``, ``POST /resources`` (a quick
reply), ``POST /resources/file?campaign_id=&name=`` (a file: multipart ``file`` or raw body with ``?filename=``),
``GET|PATCH|DELETE /resources/{id}``, ``GET /resources/{id}/file``."""

from __future__ import annotations

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import query, respond
from libs.core.inputs import read_upload
from libs.core.service import read_json
from services.crm.domain.common import parse_choice
from services.crm.handlers import access, resources
from services.crm.routes import actor_of, admin_edits, crm_of, send_stream


async def gallery(request: web.Request) -> web.Response:
    campaign_id = query(request, "campaign_id")
    if not campaign_id:
        raise Invalid("campaign_id is required", field="campaign_id")
    kind = parse_choice(query(request, "kind"), "kind", ("file", "quick_reply"))
    items = await resources.gallery(crm_of(request), campaign_id, kind, actor_of(request))
    return respond({"items": items, "next_cursor": None})


async def add_quick_reply(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "change the resource gallery")  # before the body is read
    body = await read_json(request)
    return respond(await resources.add_quick_reply(crm_of(request), body, actor_of(request)), 201)


async def add_file(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "change the resource gallery")  # before the body is read
    up = await read_upload(request)
    return respond(await resources.add_file(crm_of(request), query(request, "campaign_id"), query(request, "name"),
                                            up.filename, up.media_type, up.chunks, actor_of(request)), 201)


async def get(request: web.Request) -> web.Response:
    return respond(await resources.get(crm_of(request), request.match_info["id"], actor_of(request)))


patch, delete = admin_edits(resources, "change the resource gallery")


async def download(request: web.Request) -> web.StreamResponse:
    crm = crm_of(request)
    found = await resources.file_of(crm, request.match_info["id"], actor_of(request))
    return await send_stream(request, crm.blobs.open_stream(found["blob_key"]), found["mime_type"], found["filename"])


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/resources", gallery)
    r.add_post("/resources", add_quick_reply)
    r.add_post("/resources/file", add_file)
    r.add_get("/resources/{id}", get)
    r.add_patch("/resources/{id}", patch)
    r.add_delete("/resources/{id}", delete)
    r.add_get("/resources/{id}/file", download)

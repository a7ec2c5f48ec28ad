"""HTTP: /imports (upload, template), /import-mappings, /processes (jobs, progress, cancel, outcome)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.errors import NotFound
from libs.core.http import page_args, query, respond, respond_page
from libs.core.inputs import read_upload
from libs.core.service import read_json
from services.crm.adapters.spreadsheets import MEDIA_TYPES
from services.crm.domain.common import parse_choice
from services.crm.handlers import access, contacts, exports, processes
from services.crm.keys import RUNNER
from services.crm.routes import actor_of, crm_of, send_stream
from services.crm.routes.contacts import contact_filter

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


async def _visible_job(request: web.Request) -> dict[str, Any]:
    job = await processes.get_job(crm_of(request), request.match_info["id"])
    access.check_job(actor_of(request), job)
    return job


async def upload(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "upload files for bulk processes")
    up = await read_upload(request)
    row = await processes.upload(crm_of(request), up.filename, up.chunks, actor_of(request), query(request, "encoding"))
    return respond(row, 201)


async def get_upload(request: web.Request) -> web.Response:
    actor = actor_of(request)
    access.require_staff(actor, "read uploads")
    row = await processes.get_upload(crm_of(request), request.match_info["id"])
    if not access.unrestricted(actor) and row["created_by"] != actor.id:  # an upload is its uploader's
        raise NotFound(f"upload {row['id']} not found", field="upload_id")
    return respond(row)


async def template(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    access.require_staff(actor, "download import templates")
    if query(request, "campaign_id"):
        access.require_campaign(actor, query(request, "campaign_id"))
    kind = query(request, "kind") or "import_accounts"
    if kind == "import_updates":  # built from a contact search, with its key and update columns
        crm = crm_of(request)
        f = contacts.normalize_filter_addresses(crm, contact_filter(request))
        keys, fields = ([x.strip() for x in (query(request, name) or "").split(",") if x.strip()]
                        for name in ("keys", "fields"))
        chunks = processes.update_template(crm, f, keys, fields)
        return await send_stream(request, chunks, MEDIA_TYPES["xlsx"], "import_updates_template.xlsx")
    chunks = processes.template(crm_of(request), kind, query(request, "campaign_id"), query(request, "entity"),
                                query(request, "key"))
    return await send_stream(request, chunks, MEDIA_TYPES["xlsx"], f"{kind}_template.xlsx")


async def save_mapping(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "save import mappings")
    body = await read_json(request)
    return respond(await processes.save_mapping(crm_of(request), body, actor_of(request)), 201)


async def list_mappings(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "read import mappings")
    limit, after = page_args(request, (str,))
    kind = query(request, "kind")
    items = await processes.list_mappings(crm_of(request), kind, limit, after[0] if after else None)
    return respond_page(items, limit, lambda m: (m["name"],))


async def create_job(request: web.Request) -> web.Response:
    body = await read_json(request)
    job = await processes.create_job(crm_of(request), body, actor_of(request))
    if RUNNER in request.app:
        request.app[RUNNER].wake.set()
    return respond(job, 202)


async def list_jobs(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    actor = actor_of(request)
    access.require_staff(actor, "list bulk processes")
    items = await processes.list_jobs(crm_of(request), query(request, "kind"),
                                      parse_choice(query(request, "status"), "status", STATUSES), limit, after, actor)
    return respond_page(items, limit, lambda j: (j["created_at"], j["id"]))


async def get_job(request: web.Request) -> web.Response:
    return respond(await _visible_job(request))


async def cancel_job(request: web.Request) -> web.Response:
    await _visible_job(request)
    return respond(await processes.cancel_job(crm_of(request), request.match_info["id"]))


async def outcome(request: web.Request) -> web.StreamResponse:
    crm = crm_of(request)
    await _visible_job(request)
    fmt = exports.check_format(query(request, "format"))
    rows = await processes.outcome_rows(crm, request.match_info["id"])
    return await send_stream(request, exports.export(rows, fmt, "outcome"), MEDIA_TYPES[fmt],
                             f"outcome-{request.match_info['id']}.{fmt}")


async def recycle_count(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "count a recycle")
    query: dict[str, object] = {k: v for k, v in request.query.items() if k not in ("users", "typifications")}
    for key in ("users", "typifications"):
        if request.query.get(key):
            query[key] = [x for x in request.query[key].split(",") if x]
    return respond({"count": await processes.recycle_count(crm_of(request), query)})



def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/imports", upload)
    r.add_get("/imports/template", template)
    r.add_get("/imports/{id}", get_upload)
    r.add_post("/import-mappings", save_mapping)
    r.add_get("/import-mappings", list_mappings)
    r.add_post("/processes", create_job)
    r.add_get("/processes", list_jobs)
    r.add_get("/processes/recycle-count", recycle_count)
    r.add_get("/processes/{id}", get_job)
    r.add_post("/processes/{id}/cancel", cancel_job)
    r.add_get("/processes/{id}/outcome", outcome)

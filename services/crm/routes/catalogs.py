"""HTTP: ``/dispositions/{campaign_id}[/{id}]``, ``/ticket-forms[/{id}]``, ``/action-types[/{id}]`` (the admins'
catalogs: reads for everyone, writes for admins; each list is one page)."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import respond
from libs.core.service import read_json
from services.crm.handlers import access, catalogs
from services.crm.routes import actor_of, crm_of

PATHS = {"dispositions": "disposition", "ticket-forms": "ticket_form", "action-types": "action_type"}


def _handlers(kind: str):
    def scope(request: web.Request) -> str:
        """The campaign of a campaign's catalog (dispositions), which must be in the caller's scope."""
        campaign_id = request.match_info.get("campaign_id", "")
        if campaign_id:
            access.require_campaign(actor_of(request), campaign_id)
        return campaign_id

    async def list_items(request: web.Request) -> web.Response:
        items = await catalogs.list_items(crm_of(request), kind, scope(request), actor_of(request))
        return respond({"items": items, "next_cursor": None})

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await catalogs.create(crm_of(request), kind, body, actor_of(request), scope(request)), 201)

    async def get(request: web.Request) -> web.Response:
        return respond(await catalogs.get_item(crm_of(request), kind, request.match_info["id"], scope(request),
                                               actor_of(request)))

    async def patch(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await catalogs.update(crm_of(request), kind, request.match_info["id"], body, actor_of(request),
                                             scope(request)))

    async def delete(request: web.Request) -> web.Response:
        await catalogs.delete(crm_of(request), kind, request.match_info["id"], actor_of(request), scope(request))
        return web.Response(status=204)

    return list_items, create, get, patch, delete


def setup(app: web.Application) -> None:
    r = app.router
    for path, kind in PATHS.items():
        base = f"/{path}/{{campaign_id}}" if kind == "disposition" else f"/{path}"
        list_items, create, get, patch, delete = _handlers(kind)
        r.add_get(base, list_items)
        r.add_post(base, create)
        r.add_get(f"{base}/{{id}}", get)
        r.add_patch(f"{base}/{{id}}", patch)
        r.add_delete(f"{base}/{{id}}", delete)

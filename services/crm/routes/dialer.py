"""HTTP: the preview dialer, ``GET /dialer?campaign_id=`` (the campaign's lists) and ``POST /dialer/{list_id}/next``."""

from __future__ import annotations

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import query, respond
from services.crm.handlers import dialer
from services.crm.routes import actor_of, crm_of


async def lists(request: web.Request) -> web.Response:
    campaign_id = query(request, "campaign_id")
    if not campaign_id:
        raise Invalid("campaign_id is required", field="campaign_id")
    return respond({"items": await dialer.lists(crm_of(request), campaign_id, actor_of(request)), "next_cursor": None})


async def next_contact(request: web.Request) -> web.Response:
    return respond(await dialer.next_contact(crm_of(request), request.match_info["list_id"], actor_of(request)))


def setup(app: web.Application) -> None:
    app.router.add_get("/dialer", lists)
    app.router.add_post("/dialer/{list_id}/next", next_contact)

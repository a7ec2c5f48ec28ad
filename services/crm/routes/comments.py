"""HTTP: ``GET /comments?contact_id=&agent_id=&assigned_user=&campaign_id=&company=&from=&to=`` (Historial's
comments, scoped to the caller) and ``POST /lists/from-search`` (a contacts search turned into a call list)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.domain.common import parse_datetime
from services.crm.handlers import access, call_lists, comments
from services.crm.routes import actor_of, crm_of


async def search(request: web.Request) -> web.Response:
    limit, after = page_args(request, (datetime, int))
    f = {"start": parse_datetime(query(request, "from"), "from"), "end": parse_datetime(query(request, "to"), "to"),
         **{k: query(request, k) for k in ("contact_id", "agent_id", "assigned_user", "campaign_id", "company")}}
    items = await comments.search(crm_of(request), f, limit, after, actor_of(request))
    return respond_page(items, limit, lambda e: (e["at"], e["id"]))


async def list_from_search(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "make call lists")  # before the body is read
    body = await read_json(request)
    return respond(await call_lists.from_search(crm_of(request), body, actor_of(request)), 201)


def setup(app: web.Application) -> None:
    app.router.add_get("/comments", search)
    app.router.add_post("/lists/from-search", list_from_search)

"""HTTP: combining cases and closing many at once (seed 002 case options), under /cases and /work-items."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import respond
from libs.core.service import read_json
from services.crm.handlers import access, case_bulk, cases
from services.crm.routes import actor_of, crm_of


async def combine(request: web.Request) -> web.Response:
    crm, actor = crm_of(request), actor_of(request)
    target = await cases.get_case(crm, request.match_info["id"])
    access.check_owned(crm, actor, target, "assigned_user", "case")  # the case merged into must be visible
    body = await read_json(request)
    return respond(await case_bulk.combine(crm_of(request), request.match_info["id"], body, actor_of(request)))


async def close_many(request: web.Request) -> web.Response:
    """200 when every case closed; 207 with each case's outcome when some did not."""
    body = await read_json(request)
    results, all_closed = await case_bulk.close_many(crm_of(request), body, actor_of(request))
    return respond({"results": results}, 200 if all_closed else 207)


def setup(app: web.Application) -> None:
    for base in ("/cases", "/work-items"):
        app.router.add_post(f"{base}/close", close_many)
        app.router.add_post(f"{base}/{{id}}/combine", combine)

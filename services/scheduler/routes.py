"""The scheduler's internal HTTP API: set, read and cancel timers."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import respond
from libs.core.service import read_json
from services.scheduler.domain import parse_timer
from services.scheduler.keys import SCHEDULER, VIEWS


async def post_timer(request: web.Request) -> web.Response:
    timer = parse_timer(await read_json(request))
    await request.app[SCHEDULER].set_timer(timer)
    return respond(await request.app[VIEWS].timer(timer.owner, timer.timer_id), status=201)


async def get_timer(request: web.Request) -> web.Response:
    m = request.match_info
    return respond(await request.app[VIEWS].timer(m["owner"], m["timer_id"]))


async def delete_timer(request: web.Request) -> web.Response:
    m = request.match_info
    await request.app[SCHEDULER].cancel_timer(m["owner"], m["timer_id"])
    return respond(await request.app[VIEWS].timer(m["owner"], m["timer_id"]))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/timers", post_timer)
    app.router.add_get("/timers/{owner}/{timer_id}", get_timer)
    app.router.add_delete("/timers/{owner}/{timer_id}", delete_timer)

"""The scheduler's internal HTTP API: set, read and cancel timers. For services only: timers are the
platform's plumbing, never a user's (a user's internal token is refused with 403)."""

from __future__ import annotations

from aiohttp import web

from libs.core.auth import caller_of
from libs.core.errors import Forbidden
from libs.core.http import respond
from libs.core.service import read_json
from services.scheduler.domain import parse_timer
from services.scheduler.keys import SCHEDULER, VIEWS


def _services_only(request: web.Request) -> None:
    """Raises: Forbidden (field ``role``) for a user's token."""
    caller = caller_of(request)
    if not caller.is_service:
        raise Forbidden(f"timers are for services, not for a {caller.role}", field="role")


async def post_timer(request: web.Request) -> web.Response:
    _services_only(request)
    timer = parse_timer(await read_json(request))
    await request.app[SCHEDULER].set_timer(timer)
    return respond(await request.app[VIEWS].timer(timer.owner, timer.timer_id), status=201)


async def get_timer(request: web.Request) -> web.Response:
    _services_only(request)
    m = request.match_info
    return respond(await request.app[VIEWS].timer(m["owner"], m["timer_id"]))


async def delete_timer(request: web.Request) -> web.Response:
    _services_only(request)
    m = request.match_info
    await request.app[SCHEDULER].cancel_timer(m["owner"], m["timer_id"])
    return respond(await request.app[VIEWS].timer(m["owner"], m["timer_id"]))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/timers", post_timer)
    app.router.add_get("/timers/{owner}/{timer_id}", get_timer)
    app.router.add_delete("/timers/{owner}/{timer_id}", delete_timer)

"""The external case view's public route (seed 002 "Vista Externa de Casos"): ``GET /api/v1/external/cases/
{token}`` needs no login, the signed, expiring token is the credential, checked by the CRM (404 forged or altered,
410 expired), which answers only the fields the case's campaign shows. ``/console/external.html#<token>`` renders
it for a person outside the platform."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from libs.core.http import respond
from services.gateway.facade import NOBODY, check_segment
from services.gateway.keys import GATEWAY
from services.gateway.routes import API, _add


async def external_case(request: web.Request) -> web.Response:
    token = check_segment(request.match_info["token"])
    if len(token) > 2048:
        raise web.HTTPRequestURITooLong()
    status, answer = await request.app[GATEWAY].up.crm.exchange("GET", f"/external/cases/{quote(token, safe='')}")
    return respond(answer, status)


def setup(app: web.Application) -> None:
    _add(app, "GET", f"{API}/external/cases/{{token}}", external_case, NOBODY, public=True)

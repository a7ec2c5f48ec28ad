"""HTTP: the campaign's script and filled tabs beside a work item (``/cases/{id}/workspace``) or a conversation
(``/conversations/{id}/workspace``); a case's external link (``POST /cases/{id}/external-link``) and what it shows
(``GET /external/cases/{token}``: the signed token is the only credential)."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import respond
from services.crm.handlers import access, cases, conversations, external, workspace
from services.crm.routes import actor_of, crm_of


async def _visible_case(request: web.Request) -> None:
    crm, actor = crm_of(request), actor_of(request)
    access.check_owned(crm, actor, await cases.get_case(crm, request.match_info["id"]), "assigned_user", "case")


async def of_case(request: web.Request) -> web.Response:
    await _visible_case(request)
    return respond(await workspace.of_case(crm_of(request), request.match_info["id"], actor_of(request)))


async def of_conversation(request: web.Request) -> web.Response:
    crm, actor = crm_of(request), actor_of(request)
    conv = await conversations.get_conversation(crm, request.match_info["id"])
    access.check_owned(crm, actor, conv, "agent_id", "conversation")
    return respond(await workspace.of_conversation(crm_of(request), request.match_info["id"], actor_of(request)))


async def external_link(request: web.Request) -> web.Response:
    await _visible_case(request)
    return respond(await external.create_link(crm_of(request), request.match_info["id"], actor_of(request)), 201)


async def external_view(request: web.Request) -> web.Response:
    return respond(await external.view(crm_of(request), request.match_info["token"]))


def setup(app: web.Application) -> None:
    app.router.add_post("/cases/{id}/external-link", external_link)
    app.router.add_post("/work-items/{id}/external-link", external_link)
    app.router.add_get("/external/cases/{token}", external_view)
    app.router.add_get("/cases/{id}/workspace", of_case)
    app.router.add_get("/work-items/{id}/workspace", of_case)
    app.router.add_get("/conversations/{id}/workspace", of_conversation)

"""HTTP: /tickets and /actions (seed 001), with search and export."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.adapters.spreadsheets import MEDIA_TYPES
from services.crm.domain.common import parse_choice, parse_datetime
from services.crm.domain.work import PRIORITIES
from services.crm.handlers import access, exports, tickets
from services.crm.routes import actor_of, crm_of, send_stream


def _common(request: web.Request) -> dict[str, Any]:
    return {"start": parse_datetime(query(request, "from"), "from"), "end": parse_datetime(query(request, "to"), "to"),
            "contact_id": query(request, "contact_id"), "agent_id": query(request, "agent_id"),
            "company": query(request, "company"),
            "priority": parse_choice(query(request, "priority"), "priority", PRIORITIES)}


def _scoped(request: web.Request) -> dict[str, Any]:
    """The filters, narrowed at the source: an agent's own (and nobody's) items; a supervisor's agents' (and
    nobody's). Tickets and their actions belong to a contact and an agent, not to a campaign."""
    f = _common(request)
    owner, scope = access.owned_scope(crm_of(request), actor_of(request), None)
    if owner is not None:
        f["agents"] = [owner]
    elif scope is not None:
        f["agents"] = scope[1]
    return f


async def _visible(request: web.Request, noun: str) -> dict[str, Any]:
    crm, actor = crm_of(request), actor_of(request)
    if noun == "ticket":
        item = await tickets.get_ticket(crm, request.match_info["id"])
    else:
        item = await tickets.get_action(crm, request.match_info["id"], actor)
    access.check_owned(crm, actor, {**item, "campaign_id": None}, "agent_id", noun)
    return item


def _status(request: web.Request, choices: tuple[str, ...]) -> str | None:
    status = parse_choice(query(request, "status"), "status", (*choices, "all"), "all")
    return None if status == "all" else status


def _pending(request: web.Request) -> bool | None:
    raw = parse_choice(query(request, "pending"), "pending", ("true", "false"))
    return None if raw is None else raw == "true"


async def create_ticket(request: web.Request) -> web.Response:
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "agent_id")
    return respond(await tickets.create_ticket(crm_of(request), body, actor_of(request)), 201)


async def list_tickets(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await tickets.search_tickets(crm_of(request), status=_status(request, ("open", "closed")),
                                         pending=_pending(request), limit=limit, after=after, **_scoped(request))
    return respond_page(items, limit, lambda t: (t["created_at"], t["id"]))


async def export_tickets(request: web.Request) -> web.StreamResponse:
    fmt = exports.check_format(query(request, "format"))
    rows = crm_of(request).exports.tickets(status=_status(request, ("open", "closed")),
                                           **tickets.export_filters(_scoped(request)))
    return await send_stream(request, exports.export(rows, fmt, "tickets"), MEDIA_TYPES[fmt], f"tickets.{fmt}")


async def get_ticket(request: web.Request) -> web.Response:
    return respond(await _visible(request, "ticket"))


async def patch_ticket(request: web.Request) -> web.Response:
    await _visible(request, "ticket")
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "agent_id")
    return respond(await tickets.update_ticket(crm_of(request), request.match_info["id"], body,
                                               actor_of(request)))


async def add_action(request: web.Request) -> web.Response:
    await _visible(request, "ticket")
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "agent_id")
    return respond(await tickets.add_action(crm_of(request), request.match_info["id"], body, actor_of(request)),
                   201)


async def list_actions(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await tickets.search_actions(crm_of(request), status=_status(request, ("pending", "done", "cancelled")),
                                         limit=limit, after=after, **_scoped(request))
    return respond_page(items, limit, lambda a: (a["created_at"], a["id"]))


async def get_action(request: web.Request) -> web.Response:
    return respond(await _visible(request, "action"))


async def patch_action(request: web.Request) -> web.Response:
    await _visible(request, "action")
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "agent_id")
    return respond(await tickets.update_action(crm_of(request), request.match_info["id"], body,
                                               actor_of(request)))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/tickets", create_ticket)
    r.add_get("/tickets", list_tickets)
    r.add_get("/tickets/export", export_tickets)
    r.add_get("/tickets/{id}", get_ticket)
    r.add_patch("/tickets/{id}", patch_ticket)
    r.add_post("/tickets/{id}/actions", add_action)
    r.add_get("/actions", list_actions)
    r.add_get("/actions/{id}", get_action)
    r.add_patch("/actions/{id}", patch_action)

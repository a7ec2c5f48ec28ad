"""HTTP: /calls (history, one call, classification, export) and /callbacks (agendas and calendar)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.adapters.spreadsheets import MEDIA_TYPES
from services.crm.domain.common import parse_choice, parse_date, parse_datetime
from services.crm.handlers import access, callbacks, calls, exports
from services.crm.routes import actor_of, crm_of, send_stream
from services.crm.routes.masking import export_mask


def _call_filter(request: web.Request) -> dict[str, Any]:
    direction = parse_choice(query(request, "type"), "type", ("in", "out", "all"), "all")
    return {"direction": None if direction == "all" else direction,
            "start": parse_datetime(query(request, "from"), "from"), "end": parse_datetime(query(request, "to"), "to"),
            "contact_id": query(request, "contact_id"), "disposition": query(request, "disposition"),
            "agent_id": query(request, "agent_id"), "company": query(request, "company"),
            "campaign_id": query(request, "campaign_id"), "list_id": query(request, "list_id")}


def _scoped_calls(request: web.Request) -> dict[str, Any]:
    """The call filter, narrowed at the source to what the caller may see."""
    f = _call_filter(request)
    owner, scope = access.owned_scope(crm_of(request), actor_of(request), f["campaign_id"])
    if owner is not None:
        f["agent_id"] = owner
    f["scope"] = scope
    return f


async def _visible_call(request: web.Request) -> dict[str, Any]:
    call = await calls.get(crm_of(request), request.match_info["id"])
    access.check_owned(crm_of(request), actor_of(request), call, "agent_id", "call")
    return call


async def register_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "agent_id")
    return respond(await calls.register_call(crm_of(request), body, actor_of(request)), 201)


async def dial(request: web.Request) -> web.Response:
    """Click-to-call: the caller's own call, in a campaign of theirs (agents: where they work; supervisors: those
    they supervise); the caller's extension rings first."""
    body = await read_json(request)
    actor = actor_of(request)
    if isinstance(body, dict) and body.get("campaign_id") is not None:
        access.require_campaign(actor, body["campaign_id"])
    return respond(await calls.dial(crm_of(request), body, actor), 201)


async def list_calls(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await calls.search(crm_of(request), _scoped_calls(request), limit, after)
    return respond_page(items, limit, lambda c: (c["started_at"], c["id"]))


async def pending_calls(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    actor = actor_of(request)
    agent = query(request, "agent_id") or actor.id
    access.check_owners(crm_of(request), actor, [agent], "agent_id")
    if actor.role == "agent":
        agent = actor.id
    items = await calls.pending(crm_of(request), agent, limit, after)
    return respond_page(items, limit, lambda c: (c["started_at"], c["id"]))


async def export_calls(request: web.Request) -> web.StreamResponse:
    fmt = exports.check_format(query(request, "format"))
    rows = crm_of(request).exports.calls(_scoped_calls(request))
    return await send_stream(request, exports.export(rows, fmt, "calls", export_mask(request)), MEDIA_TYPES[fmt],
                             f"calls.{fmt}")


async def get_call(request: web.Request) -> web.Response:
    return respond(await _visible_call(request))


async def classify(request: web.Request) -> web.Response:
    call = await _visible_call(request)
    access.check_own(actor_of(request), call, "agent_id", "call")
    body = await read_json(request)
    return respond(await calls.classify(crm_of(request), request.match_info["id"], body, actor_of(request)))


async def create_callback(request: web.Request) -> web.Response:
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "owner_id")
    return respond(await callbacks.create(crm_of(request), body, actor_of(request)), 201)


def _users(request: web.Request) -> list[str] | None:
    """The owners asked for, as the caller may see them (an agent: themself; a supervisor: 403 for
    someone outside their campaigns, their team when they name nobody)."""
    raw = query(request, "users") or query(request, "owner_id")
    named = [u.strip() for u in raw.split(",") if u.strip()] if raw else []
    actor = actor_of(request)
    if access.unrestricted(actor):
        return named or None
    return access.check_owners(crm_of(request), actor, named, "users")


async def list_callbacks(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await callbacks.search(
        crm_of(request), owners=_users(request),
        status=parse_choice(query(request, "status"), "status", ("pending", "due", "done", "cancelled")),
        start=parse_datetime(query(request, "from"), "from"), end=parse_datetime(query(request, "to"), "to"),
        limit=limit, after=after)
    return respond_page(items, limit, lambda c: (c["due_at"], c["id"]))


async def calendar(request: web.Request) -> web.Response:
    view = parse_choice(query(request, "view"), "view", ("day", "week", "month"), "week")
    day = parse_date(query(request, "date"), "date")
    if day is None:
        raise Invalid("date is required (YYYY-MM-DD)", field="date")
    return respond(await callbacks.calendar(crm_of(request), _users(request) or [], view, day,  # type: ignore[arg-type]
                                            query(request, "tz")))


async def _visible_callback(request: web.Request) -> dict[str, Any]:
    callback = await callbacks.get(crm_of(request), request.match_info["id"])
    access.check_owned(crm_of(request), actor_of(request), callback, "owner_id", "callback")
    return callback


async def get_callback(request: web.Request) -> web.Response:
    return respond(await _visible_callback(request))


async def patch_callback(request: web.Request) -> web.Response:
    await _visible_callback(request)
    body = await read_json(request)
    access.check_new_owned(crm_of(request), actor_of(request), body, "owner_id")
    return respond(await callbacks.update(crm_of(request), request.match_info["id"], body, actor_of(request)))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/calls", register_call)
    r.add_post("/calls/dial", dial)
    r.add_get("/calls", list_calls)
    r.add_get("/calls/pending", pending_calls)
    r.add_get("/calls/export", export_calls)
    r.add_get("/calls/{id}", get_call)
    r.add_put("/calls/{id}/classification", classify)
    r.add_post("/callbacks", create_callback)
    r.add_get("/callbacks", list_callbacks)
    r.add_get("/callbacks/calendar", calendar)
    r.add_get("/callbacks/{id}", get_callback)
    r.add_patch("/callbacks/{id}", patch_callback)

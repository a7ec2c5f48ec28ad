"""HTTP API of the campaigns service (internal; the caller comes from the verified internal token)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aiohttp import web

from libs.core.auth import caller_of
from libs.core.errors import Invalid
from libs.core.http import respond
from libs.core.service import read_json
from services.campaigns.domain import Actor, CampaignQuery
from services.campaigns.keys import SERVICE, VIEWS

# URL segment -> entity kind, and the query filters each list accepts.
CATALOG: dict[str, tuple[str, tuple[str, ...]]] = {
    "clients": ("client", ("status",)),
    "projects": ("project", ("client_id", "status")),
    "schedules": ("schedule", ()),
    "typifications": ("typification", ("category",)),
    "fields": ("field", ("type",)),
}


STAFF = ("admin", "supervisor")
ALL = ("admin", "supervisor", "agent")
# Who may read each catalog (as the gateway's facade says; a service identity reads everything).
READERS: dict[str, tuple[str, ...]] = {"clients": STAFF, "projects": STAFF, "schedules": STAFF,
                                       "typifications": ALL, "fields": ALL}


def may_read(request: web.Request, roles: tuple[str, ...], campaign_id: str | None = None) -> None:
    """The second line behind the gateway: the caller's role, and the campaign within their scope.

    Raises:
        Forbidden: 403 naming ``role`` or ``campaign_id``.
    """
    caller = caller_of(request)
    caller.require(roles, f"read {request.path}")
    if campaign_id is not None and not caller.is_service:
        caller.require_scope(campaign_id)


def actor(request: web.Request) -> Actor:
    caller = caller_of(request)
    return Actor(user_id=caller.subject, role=caller.role)


def paging(request: web.Request) -> tuple[int, str | None]:
    """``limit`` and ``cursor`` of a list (every list answers ``{"items", "next_cursor"}``)."""
    return _int(request, "limit", 100, 1, 500), request.query.get("cursor") or None


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: {raw!r} is not an integer", field=name) from exc
    if not lo <= value <= hi:
        raise Invalid(f"{name}: must be between {lo} and {hi}", field=name)
    return value


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: {raw!r} is not a date (YYYY-MM-DD)", field=name) from exc


def _instant(request: web.Request, name: str) -> datetime:
    raw = request.query.get(name)
    if not raw:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: {raw!r} is not an ISO 8601 instant", field=name) from exc
    if at.tzinfo is None:
        raise Invalid(f"{name}: the instant needs a UTC offset", field=name)
    return at


# -------------------------------------------------------------------------------------- catalog entities

def catalog_routes(segment: str, kind: str, filters: tuple[str, ...]) -> list[web.RouteDef]:
    async def list_(request: web.Request) -> web.Response:
        limit, cursor = paging(request)
        may_read(request, READERS[segment])
        found = {f: request.query.get(f) for f in filters}
        return respond(await request.app[VIEWS].list_items(kind, found, limit, cursor))

    async def create(request: web.Request) -> web.Response:
        return respond(await request.app[SERVICE].create(kind, await read_json(request), actor(request)), 201)

    async def get(request: web.Request) -> web.Response:
        may_read(request, READERS[segment])
        return respond(await request.app[VIEWS].get(kind, request.match_info["id"]))

    async def patch(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await request.app[SERVICE].update(kind, request.match_info["id"], body, actor(request),
                                                         replace=False))

    async def put(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await request.app[SERVICE].update(kind, request.match_info["id"], body, actor(request),
                                                         replace=True))

    async def delete(request: web.Request) -> web.Response:
        await request.app[SERVICE].delete(kind, request.match_info["id"], actor(request))
        return web.Response(status=204)

    async def history(request: web.Request) -> web.Response:
        may_read(request, STAFF)
        limit, cursor = paging(request)
        return respond(await request.app[VIEWS].history(kind, request.match_info["id"], limit, cursor))

    base = f"/{segment}"
    return [
        web.get(base, list_), web.post(base, create),
        web.get(base + "/{id}", get), web.patch(base + "/{id}", patch), web.put(base + "/{id}", put),
        web.delete(base + "/{id}", delete), web.get(base + "/{id}/history", history),
    ]


async def schedule_status(request: web.Request) -> web.Response:
    """Whether a schedule is open at ``at`` (default now) and when it next opens."""
    may_read(request, STAFF)
    return respond(await request.app[VIEWS].schedule_status(request.match_info["id"], _instant(request, "at")))


async def typification_tree(request: web.Request) -> web.Response:
    """The typification catalog as categories with their subcategories."""
    may_read(request, ALL)
    return respond(await request.app[VIEWS].typification_tree())


# ----------------------------------------------------------------------------------------------- campaigns

async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns matching the filters, within the caller's scope (supervisors: those they supervise;
    agents: those they work in)."""
    may_read(request, ALL)
    limit, cursor = paging(request)
    q = request.query
    status = q.get("status") or None
    if status and status not in ("active", "paused", "archived"):
        raise Invalid("status: must be active, paused or archived", field="status")
    start, end = _date(request, "from"), _date(request, "to")
    if start and end and end < start:
        raise Invalid("to: the end date is before the start date", field="to")
    query = CampaignQuery(
        status=status, client_id=q.get("client_id") or None, project_id=q.get("project_id") or None,
        channel_id=q.get("channel_id") or q.get("channel") or None, agent_id=q.get("agent_id") or None,
        supervisor_id=q.get("supervisor_id") or None, text=q.get("campaign") or q.get("q") or None,
        created_from=start, created_to=end, limit=limit, within=caller_of(request).campaigns)
    return respond(await request.app[VIEWS].list_campaigns(query, cursor))


async def create_campaign(request: web.Request) -> web.Response:
    return respond(await request.app[SERVICE].create_campaign(await read_json(request), actor(request)), 201)


async def get_campaign(request: web.Request) -> web.Response:
    may_read(request, ALL, request.match_info["id"])
    return respond(await request.app[VIEWS].get_campaign(request.match_info["id"]))


async def patch_campaign(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await request.app[SERVICE].update_campaign(request.match_info["id"], body, actor(request)))


async def put_campaign(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await request.app[SERVICE].update_campaign(request.match_info["id"], body, actor(request),
                                                              replace=True))


async def delete_campaign(request: web.Request) -> web.Response:
    return respond(await request.app[SERVICE].archive_campaign(request.match_info["id"], actor(request)))


async def activate_campaign(request: web.Request) -> web.Response:
    return respond(await request.app[SERVICE].set_campaign_status(request.match_info["id"], "active",
                                                                  actor(request)))


async def deactivate_campaign(request: web.Request) -> web.Response:
    return respond(await request.app[SERVICE].set_campaign_status(request.match_info["id"], "paused",
                                                                  actor(request)))


async def campaign_snapshot(request: web.Request) -> web.Response:
    may_read(request, ALL, request.match_info["id"])
    return respond((await request.app[VIEWS].snapshot(request.match_info["id"])).model_dump(mode="json"))


async def campaign_history(request: web.Request) -> web.Response:
    may_read(request, STAFF, request.match_info["id"])
    limit, cursor = paging(request)
    return respond(await request.app[VIEWS].history("campaign", request.match_info["id"], limit, cursor))


def routes() -> list[web.RouteDef]:
    out = [
        web.get("/typifications/tree", typification_tree),
        web.get("/schedules/{id}/status", schedule_status),
    ]
    for segment, (kind, filters) in CATALOG.items():
        out += catalog_routes(segment, kind, filters)
    out += [
        web.get("/campaigns", list_campaigns), web.post("/campaigns", create_campaign),
        web.get("/campaigns/{id}", get_campaign), web.patch("/campaigns/{id}", patch_campaign),
        web.put("/campaigns/{id}", put_campaign), web.delete("/campaigns/{id}", delete_campaign),
        web.post("/campaigns/{id}/activate", activate_campaign),
        web.post("/campaigns/{id}/deactivate", deactivate_campaign),
        web.get("/campaigns/{id}/snapshot", campaign_snapshot),
        web.get("/campaigns/{id}/history", campaign_history),
    ]
    return out

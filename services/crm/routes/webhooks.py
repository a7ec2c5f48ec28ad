"""HTTP: ``/webhooks`` (admins: a campaign's signed webhooks to an external CRM), their deliveries (``status=dead``:
the dead-letter list) and ``POST /webhook-deliveries/{id}/retry``."""

from __future__ import annotations

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.domain.common import parse_choice
from services.crm.handlers import access, webhooks
from services.crm.routes import actor_of, admin_edits, crm_of


async def list_hooks(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "manage webhooks")  # before the body is read
    items = await webhooks.search(crm_of(request), query(request, "campaign_id"), actor_of(request))
    return respond({"items": items, "next_cursor": None})


async def create(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "manage webhooks")  # before the body is read
    body = await read_json(request)
    return respond(await webhooks.create(crm_of(request), body, actor_of(request)), 201)


async def get(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "manage webhooks")  # before the body is read
    return respond(await webhooks.get(crm_of(request), request.match_info["id"], actor_of(request)))


patch, delete = admin_edits(webhooks, "manage webhooks")


async def deliveries(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "manage webhooks")  # before the body is read
    limit, after = page_args(request, (int,))
    status = parse_choice(query(request, "status"), "status", ("pending", "delivered", "dead"))
    items = await webhooks.deliveries(crm_of(request), request.match_info["id"], status, limit,
                                      after[0] if after else None, actor_of(request))
    return respond_page(items, limit, lambda d: (d["id"],))


async def retry(request: web.Request) -> web.Response:
    access.require_admin(actor_of(request), "manage webhooks")  # before the body is read
    try:
        delivery_id = int(request.match_info["id"])
    except ValueError:
        raise Invalid("a delivery id is a number", field="delivery_id") from None
    return respond(await webhooks.retry(crm_of(request), delivery_id, actor_of(request)))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/webhooks", list_hooks)
    r.add_post("/webhooks", create)
    r.add_get("/webhooks/{id}", get)
    r.add_patch("/webhooks/{id}", patch)
    r.add_delete("/webhooks/{id}", delete)
    r.add_get("/webhooks/{id}/deliveries", deliveries)
    r.add_post("/webhook-deliveries/{id}/retry", retry)

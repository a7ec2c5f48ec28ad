"""HTTP: /accounts, /lists and /batches."""

from __future__ import annotations

from aiohttp import web

from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.handlers import accounts
from services.crm.routes import actor_of, crm_of


async def create_account(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await accounts.create_account(crm_of(request), body, actor_of(request)), 201)


async def list_accounts(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await accounts.list_accounts(crm_of(request), query(request, "contact_id"), query(request, "campaign_id"),
                                         limit, after)
    return respond_page(items, limit, lambda a: (a["created_at"], a["id"]))


async def get_account(request: web.Request) -> web.Response:
    return respond(await accounts.get_account(crm_of(request), request.match_info["id"]))


async def patch_account(request: web.Request) -> web.Response:
    body = await read_json(request)
    return respond(await accounts.update_account(crm_of(request), request.match_info["id"], body,
                                                 actor_of(request)))


async def delete_account(request: web.Request) -> web.Response:
    await accounts.delete_account(crm_of(request), request.match_info["id"], actor_of(request))
    return web.Response(status=204)


def _group_routes(app: web.Application, table: accounts.Group) -> None:
    base = f"/{table}"

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await accounts.create_group(crm_of(request), table, body, actor_of(request)), 201)

    async def index(request: web.Request) -> web.Response:
        limit, after = page_args(request)
        items = await accounts.list_groups(crm_of(request), table, query(request, "campaign_id"), limit, after)
        return respond_page(items, limit, lambda g: (g["created_at"], g["id"]))

    async def one(request: web.Request) -> web.Response:
        return respond(await accounts.get_group(crm_of(request), table, request.match_info["id"]))

    async def add(request: web.Request) -> web.Response:
        body = await read_json(request)
        return respond(await accounts.add_members(crm_of(request), table, request.match_info["id"], body,
                                                  actor_of(request)))

    async def remove(request: web.Request) -> web.Response:
        await accounts.remove_member(crm_of(request), table, request.match_info["id"],
                                     request.match_info["contact_id"], actor_of(request))
        return web.Response(status=204)

    app.router.add_post(base, create)
    app.router.add_get(base, index)
    app.router.add_get(base + "/{id}", one)
    app.router.add_post(base + "/{id}/members", add)
    app.router.add_delete(base + "/{id}/members/{contact_id}", remove)


async def list_members(request: web.Request) -> web.Response:
    limit, after = page_args(request, (str,))
    items = await accounts.list_members(crm_of(request), request.match_info["id"], limit, after)
    return respond_page(items, limit, lambda m: (m["contact_id"],))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/accounts", create_account)
    r.add_get("/accounts", list_accounts)
    r.add_get("/accounts/{id}", get_account)
    r.add_patch("/accounts/{id}", patch_account)
    r.add_delete("/accounts/{id}", delete_account)
    _group_routes(app, "lists")
    _group_routes(app, "batches")
    r.add_get("/lists/{id}/members", list_members)

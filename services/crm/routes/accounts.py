"""HTTP: /accounts, /lists and /batches."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.errors import NotFound
from libs.core.http import page_args, query, respond, respond_page
from libs.core.service import read_json
from services.crm.handlers import access, accounts
from services.crm.routes import actor_of, crm_of


def _scope(request: web.Request) -> list[str] | None:
    actor = actor_of(request)
    return None if access.unrestricted(actor) else sorted(actor.campaigns or ())


async def _visible_account(request: web.Request) -> dict[str, Any]:
    account = await accounts.get_account(crm_of(request), request.match_info["id"])
    if not access.in_scope(actor_of(request), account["campaign_id"]):
        raise NotFound(f"account {account['id']} not found", field="account_id")
    return account


async def _group_in_scope(request: web.Request, table: accounts.Group) -> dict[str, Any]:
    """A list or batch: supervisors and admins, a supervisor only one of their campaigns."""
    actor = actor_of(request)
    access.require_staff(actor, f"work with {table}")
    group = await accounts.get_group(crm_of(request), table, request.match_info["id"])
    if not access.in_scope(actor, group["campaign_id"]):
        raise NotFound(f"{table} {group['id']!r} not found", field="id")
    return group


async def create_account(request: web.Request) -> web.Response:
    body = await read_json(request)
    actor = actor_of(request)
    if not access.unrestricted(actor):
        access.require_campaign(actor, body.get("campaign_id") if isinstance(body, dict) else None)
    return respond(await accounts.create_account(crm_of(request), body, actor_of(request)), 201)


async def list_accounts(request: web.Request) -> web.Response:
    limit, after = page_args(request)
    items = await accounts.list_accounts(crm_of(request), query(request, "contact_id"), query(request, "campaign_id"),
                                         limit, after, _scope(request))
    return respond_page(items, limit, lambda a: (a["created_at"], a["id"]))


async def get_account(request: web.Request) -> web.Response:
    return respond(await _visible_account(request))


async def patch_account(request: web.Request) -> web.Response:
    await _visible_account(request)
    body = await read_json(request)
    return respond(await accounts.update_account(crm_of(request), request.match_info["id"], body,
                                                 actor_of(request)))


async def delete_account(request: web.Request) -> web.Response:
    access.require_staff(actor_of(request), "delete an account")
    await _visible_account(request)
    await accounts.delete_account(crm_of(request), request.match_info["id"], actor_of(request))
    return web.Response(status=204)


def _group_routes(app: web.Application, table: accounts.Group) -> None:
    base = f"/{table}"

    async def create(request: web.Request) -> web.Response:
        actor = actor_of(request)
        access.require_staff(actor, f"create {table}")
        body = await read_json(request)
        if not access.unrestricted(actor):
            access.require_campaign(actor, body.get("campaign_id") if isinstance(body, dict) else None)
        return respond(await accounts.create_group(crm_of(request), table, body, actor_of(request)), 201)

    async def index(request: web.Request) -> web.Response:
        access.require_staff(actor_of(request), f"list {table}")
        limit, after = page_args(request)
        items = await accounts.list_groups(crm_of(request), table, query(request, "campaign_id"), limit, after,
                                           _scope(request))
        return respond_page(items, limit, lambda g: (g["created_at"], g["id"]))

    async def one(request: web.Request) -> web.Response:
        return respond(await _group_in_scope(request, table))

    async def add(request: web.Request) -> web.Response:
        await _group_in_scope(request, table)
        body = await read_json(request)
        return respond(await accounts.add_members(crm_of(request), table, request.match_info["id"], body,
                                                  actor_of(request)))

    async def remove(request: web.Request) -> web.Response:
        await _group_in_scope(request, table)
        await accounts.remove_member(crm_of(request), table, request.match_info["id"],
                                     request.match_info["contact_id"], actor_of(request))
        return web.Response(status=204)

    app.router.add_post(base, create)
    app.router.add_get(base, index)
    app.router.add_get(base + "/{id}", one)
    app.router.add_post(base + "/{id}/members", add)
    app.router.add_delete(base + "/{id}/members/{contact_id}", remove)


async def list_members(request: web.Request) -> web.Response:
    await _group_in_scope(request, "lists")
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

"""The router's internal HTTP API (service to service). Every route checks the caller of the internal token
(``services/router/access.py``) before it acts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.auth import caller_of
from libs.core.errors import Forbidden, Invalid
from libs.core.http import respond
from libs.core.service import read_json
from libs.core.validation import parse_body
from services.router import access
from services.router.domain import (
    AgentClosure,
    OfferAnswer,
    PriorityChange,
    Reply,
    StartIn,
    StatusChange,
    Take,
    Transfer,
)
from services.router.handlers import Router
from services.router.keys import ROUTER
from services.router.views import RouterViews


def _router(request: web.Request) -> Router:
    return request.app[ROUTER]


def _views(request: web.Request) -> RouterViews:
    return request.app[ROUTER].views


def _role(request: web.Request) -> str | None:
    """The caller's role, from the internal token (``None``: another service), for what the answer may show."""
    caller = caller_of(request)
    return None if caller.is_service else caller.role


async def _may_act(request: web.Request, body: Any) -> None:
    """The caller may take this action on the path's conversation (404 / 403 otherwise)."""
    caller = caller_of(request)
    if access.unrestricted(caller):
        return
    conv = await _views(request).conversation_view(request.match_info["conversation_id"], with_messages=False)
    access.check_action(caller, conv, body, _router(request).directory)


async def put_agent_status(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    access.check_agent(caller_of(request), agent_id, _router(request).directory)
    change = parse_body(StatusChange, await read_json(request))
    return respond(await _router(request).set_status(agent_id, change))


async def get_agent(request: web.Request) -> web.Response:
    agent_id = request.match_info["agent_id"]
    access.check_agent(caller_of(request), agent_id, _router(request).directory)
    return respond(await _views(request).agent_view(agent_id))


async def list_conversations(request: web.Request) -> web.Response:
    agent_id = request.query.get("agent_id")
    if not agent_id:
        raise Invalid("agent_id query parameter is required", field="agent_id")
    caller, directory = caller_of(request), _router(request).directory
    if not access.may_list_conversations_of(caller, agent_id, directory):
        raise Forbidden(f"you may not list the conversations of {agent_id!r}", field="agent_id")
    items = await _views(request).conversations_of(agent_id, _role(request))
    if not access.unrestricted(caller):  # only what the caller may see of another agent's list
        items = [c for c in items if access.may_see_conversation(caller, c, directory)]
    # An agent's open conversations: bounded by their capacity, so always one page.
    return respond({"items": items, "next_cursor": None})


async def get_conversation(request: web.Request) -> web.Response:
    conv = await _views(request).conversation_view(request.match_info["conversation_id"], role=_role(request))
    access.check_conversation(caller_of(request), conv, _router(request).directory)
    return respond(conv)


async def get_decisions(request: web.Request) -> web.Response:
    cid = request.match_info["conversation_id"]
    caller = caller_of(request)
    access.check_staff(caller, "read routing decisions")
    conv = await _views(request).conversation_view(cid, with_messages=False)
    access.check_conversation(caller, conv, _router(request).directory)
    # The decisions kept for a conversation are capped by the store: one page.
    return respond({"conversation_id": cid, "items": await _views(request).decisions(cid), "next_cursor": None})


async def post_message(request: web.Request) -> web.Response:
    body = await read_json(request)
    reply = parse_body(Reply, body)
    await _may_act(request, body)
    result = await _router(request).reply(request.match_info["conversation_id"], reply)
    return respond(result, status=201)


async def post_start(request: web.Request) -> web.Response:
    """``POST /conversations``: an agent starts a conversation with a contact (only as themself; services may
    name the agent)."""
    body = await read_json(request)
    start = parse_body(StartIn, body)
    caller = caller_of(request)
    if not caller.is_service:
        if caller.role != "agent":
            raise Forbidden("agents start conversations, for themselves", field="role")
        if start.agent_id != caller.subject:
            raise Forbidden("an agent starts conversations as themself", field="agent_id")
        caller.require_scope(start.campaign_id)
    result = await _router(request).start(start)
    return respond(result, status=201)


def _on_behalf(request: web.Request, by_user_id: str | None) -> bool:
    """A supervisor or admin acting on the assigned agent's behalf: named in ``by_user_id`` by the gateway,
    and that is the caller of the internal token (``_may_act`` checked it); an agent never is."""
    caller = caller_of(request)
    return by_user_id is not None and (caller.is_service or caller.role in ("admin", "supervisor"))


async def post_close(request: web.Request) -> web.Response:
    body = await read_json(request)
    closure = parse_body(AgentClosure, body)
    await _may_act(request, body)
    staff = _on_behalf(request, closure.by_user_id)
    answer = await _router(request).close(request.match_info["conversation_id"], closure, staff=staff)
    return respond(_views(request).shown(answer, _role(request)))


async def _offer(request: web.Request, action: str) -> web.Response:
    body = await read_json(request)
    answer = parse_body(OfferAnswer, body)
    await _may_act(request, body)
    cid = request.match_info["conversation_id"]
    result = await _router(request).answer_offer(cid, answer.agent_id, action)
    return respond(_views(request).shown(result, _role(request)))


async def post_accept(request: web.Request) -> web.Response:
    return await _offer(request, "accept")


async def post_reject(request: web.Request) -> web.Response:
    return await _offer(request, "reject")


async def post_transfer(request: web.Request) -> web.Response:
    body = await read_json(request)
    transfer = parse_body(Transfer, body)
    await _may_act(request, body)
    staff = _on_behalf(request, transfer.by_user_id)
    answer = await _router(request).transfer(request.match_info["conversation_id"], transfer, staff=staff)
    return respond(_views(request).shown(answer, _role(request)))


async def put_priority(request: web.Request) -> web.Response:
    access.check_staff(caller_of(request), "change a conversation's priority")
    body = await read_json(request)
    change = parse_body(PriorityChange, body)
    await _may_act(request, body)
    cid = request.match_info["conversation_id"]
    return respond(_views(request).shown(await _router(request).set_priority(cid, change.priority), _role(request)))


async def post_take(request: web.Request) -> web.Response:
    body = await read_json(request)
    take = parse_body(Take, body)
    caller = caller_of(request)
    if not access.unrestricted(caller):  # an agent takes for themself, in a campaign of theirs
        conv = await _views(request).conversation_view(request.match_info["conversation_id"], with_messages=False)
        if caller.role == "agent" and take.agent_id != caller.subject:
            raise Forbidden("an agent takes a conversation only for themself", field="agent_id")
        access.check_campaign(caller, str(conv.get("campaign_id") or ""))
    answer = await _router(request).take(request.match_info["conversation_id"], take.agent_id)
    return respond(_views(request).shown(answer, _role(request)))


async def get_waiting(request: web.Request) -> web.Response:
    access.check_campaign(caller_of(request), request.match_info["campaign_id"])
    return respond(await _views(request).waiting(request.match_info["campaign_id"], _role(request)))


async def get_channel_conversations(request: web.Request) -> web.Response:
    """Asked by channels (its service identity) before a channel is deleted; an admin may read it too."""
    caller_of(request).require(("admin",), "list a channel's open conversations")
    return respond(await _views(request).channel_conversations(request.match_info["channel_id"]))


async def get_queue(request: web.Request) -> web.Response:
    campaign_id = request.match_info["campaign_id"]
    caller = caller_of(request)
    access.check_staff(caller, "read a campaign's queue")
    access.check_campaign(caller, campaign_id)
    return respond(await _views(request).queue_view(campaign_id))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_put("/agents/{agent_id}/status", put_agent_status)
    r.add_get("/agents/{agent_id}", get_agent)
    r.add_get("/conversations", list_conversations)
    r.add_post("/conversations", post_start)
    r.add_get("/conversations/{conversation_id}", get_conversation)
    r.add_get("/conversations/{conversation_id}/decisions", get_decisions)
    r.add_post("/conversations/{conversation_id}/messages", post_message)
    r.add_post("/conversations/{conversation_id}/close", post_close)
    r.add_post("/conversations/{conversation_id}/accept", post_accept)
    r.add_post("/conversations/{conversation_id}/reject", post_reject)
    r.add_post("/conversations/{conversation_id}/transfer", post_transfer)
    r.add_put("/conversations/{conversation_id}/priority", put_priority)
    r.add_post("/conversations/{conversation_id}/take", post_take)
    r.add_get("/queues/{campaign_id}", get_queue)
    r.add_get("/queues/{campaign_id}/waiting", get_waiting)
    r.add_get("/channels/{channel_id}/conversations", get_channel_conversations)

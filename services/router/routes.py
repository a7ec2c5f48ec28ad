"""The router's internal HTTP API (service to service)."""

from __future__ import annotations

from aiohttp import web

from libs.core.errors import Invalid
from libs.core.http import respond
from libs.core.service import read_json
from libs.core.validation import parse_body
from services.router.domain import AgentClosure, OfferAnswer, PriorityChange, Reply, StatusChange, Take, Transfer
from services.router.handlers import Router
from services.router.keys import ROUTER
from services.router.views import RouterViews


def _router(request: web.Request) -> Router:
    return request.app[ROUTER]


def _views(request: web.Request) -> RouterViews:
    return request.app[ROUTER].views


def _role(request: web.Request) -> str | None:
    """The caller's role as the gateway names it (``None``: another service), for what the answer may show."""
    return request.headers.get("X-User-Role") or None


async def put_agent_status(request: web.Request) -> web.Response:
    change = parse_body(StatusChange, await read_json(request))
    return respond(await _router(request).set_status(request.match_info["agent_id"], change))


async def get_agent(request: web.Request) -> web.Response:
    return respond(await _views(request).agent_view(request.match_info["agent_id"]))


async def list_conversations(request: web.Request) -> web.Response:
    agent_id = request.query.get("agent_id")
    if not agent_id:
        raise Invalid("agent_id query parameter is required", field="agent_id")
    # An agent's open conversations: bounded by their capacity, so always one page.
    return respond({"items": await _views(request).conversations_of(agent_id, _role(request)), "next_cursor": None})


async def get_conversation(request: web.Request) -> web.Response:
    return respond(await _views(request).conversation_view(request.match_info["conversation_id"],
                                                           role=_role(request)))


async def get_decisions(request: web.Request) -> web.Response:
    cid = request.match_info["conversation_id"]
    # The decisions kept for a conversation are capped by the store: one page.
    return respond({"conversation_id": cid, "items": await _views(request).decisions(cid), "next_cursor": None})


async def post_message(request: web.Request) -> web.Response:
    reply = parse_body(Reply, await read_json(request))
    result = await _router(request).reply(request.match_info["conversation_id"], reply)
    return respond(result, status=201)


def _on_behalf(request: web.Request, by_user_id: str | None) -> bool:
    """A supervisor or admin acting on the assigned agent's behalf (the gateway names them in ``by_user_id``;
    an agent's body cannot carry it through the public API)."""
    return by_user_id is not None


async def post_close(request: web.Request) -> web.Response:
    closure = parse_body(AgentClosure, await read_json(request))
    staff = _on_behalf(request, closure.by_user_id)
    answer = await _router(request).close(request.match_info["conversation_id"], closure, staff=staff)
    return respond(_views(request).shown(answer, _role(request)))


async def _offer(request: web.Request, action: str) -> web.Response:
    answer = parse_body(OfferAnswer, await read_json(request))
    cid = request.match_info["conversation_id"]
    result = await _router(request).answer_offer(cid, answer.agent_id, action)
    return respond(_views(request).shown(result, _role(request)))


async def post_accept(request: web.Request) -> web.Response:
    return await _offer(request, "accept")


async def post_reject(request: web.Request) -> web.Response:
    return await _offer(request, "reject")


async def post_transfer(request: web.Request) -> web.Response:
    transfer = parse_body(Transfer, await read_json(request))
    staff = _on_behalf(request, transfer.by_user_id)
    answer = await _router(request).transfer(request.match_info["conversation_id"], transfer, staff=staff)
    return respond(_views(request).shown(answer, _role(request)))


async def put_priority(request: web.Request) -> web.Response:
    change = parse_body(PriorityChange, await read_json(request))
    cid = request.match_info["conversation_id"]
    return respond(_views(request).shown(await _router(request).set_priority(cid, change.priority), _role(request)))


async def post_take(request: web.Request) -> web.Response:
    take = parse_body(Take, await read_json(request))
    answer = await _router(request).take(request.match_info["conversation_id"], take.agent_id)
    return respond(_views(request).shown(answer, _role(request)))


async def get_waiting(request: web.Request) -> web.Response:
    return respond(await _views(request).waiting(request.match_info["campaign_id"], _role(request)))


async def get_queue(request: web.Request) -> web.Response:
    return respond(await _views(request).queue_view(request.match_info["campaign_id"]))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_put("/agents/{agent_id}/status", put_agent_status)
    r.add_get("/agents/{agent_id}", get_agent)
    r.add_get("/conversations", list_conversations)
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

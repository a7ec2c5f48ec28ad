"""aiohttp handlers of the public API under /api/v1, the authentication middleware and the WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from libs.core import tracing
from libs.core.errors import AppError, Forbidden, Invalid, Unauthorized
from libs.core.http import page_args, respond, respond_page
from libs.core.logging import get_logger
from libs.core.service import read_json
from libs.core.validation import parse_body
from services.gateway import schemas
from services.gateway.adapters.events import last_seq, replay
from services.gateway.adapters.upstream import Download, is_json
from services.gateway.domain import ROLES, Principal, Role, visible_campaigns
from services.gateway.facade import ADMIN, NOBODY, RULES, STAFF, Endpoint, Rule, decode_path
from services.gateway.fanout import AGENTS, CONVERSATIONS, Connection, Hub
from services.gateway.handlers import Gateway, Upload
from services.gateway.keys import EVENTS_JS, FEEDS, GATEWAY, GW_SETTINGS, HUB, TRACES
from services.gateway.openapi import openapi_document
from services.gateway.security import TokenClaims

log = get_logger(__name__)

API = "/api/v1"
CLAIMS = web.RequestKey("claims", TokenClaims)

PUBLIC = {f"{API}/auth/login", f"{API}/auth/refresh", f"{API}/openapi.json"}
WS_PATH = f"{API}/events"
# WebSocket close codes: the token ran out (get a new one and resume), the client fell too far behind,
# the first message did not authenticate (bad or missing token), no first message in time.
WS_TOKEN_EXPIRED = 4001
WS_TOO_SLOW = 4008
WS_UNAUTHENTICATED = 4401
WS_AUTH_TIMEOUT = 4408


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'", field="Authorization")
        return token.strip()
    return None


@dataclass(frozen=True)
class Access:
    """Who may call one served route: ``roles`` (after a valid access token), or anybody when ``public``."""

    roles: frozenset[Role]
    public: bool = False


# (method, route template) -> its rule. Every /api/v1 route is registered through ``_add`` with one; a
# route without one is refused (403) by the middleware, and tests/security checks none is missing.
ACCESS: dict[tuple[str, str], Access] = {}
EVERYBODY: frozenset[Role] = frozenset(ROLES)
AGENT_ONLY: frozenset[Role] = frozenset({"agent"})


def access_of(method: str, template: str) -> Access | None:
    return ACCESS.get(("GET" if method == "HEAD" else method, template))


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every /api/v1 request: each decoded path segment must be plain (no dot segment, separator or
    control character, whatever its encoding: 400); the matched route must have a rule; then, unless the
    route is public, a valid access token of a role the rule allows."""
    if not request.path.startswith(f"{API}/"):
        return await handler(request)
    decode_path(request.rel_url.raw_path)
    match = request.match_info
    if match.http_exception is not None:  # no such route (404) or method (405): the handler raises it
        return await handler(request)
    resource = match.route.resource
    template = resource.canonical if resource is not None else ""
    access = access_of(request.method, template)
    if access is None:
        raise Forbidden(f"{request.method} {request.path} has no access rule")
    if not access.public:
        token = bearer_token(request)
        if token is None and request.path == WS_PATH:
            # Browsers cannot set headers on a WebSocket: it authenticates with its first message.
            return await handler(request)
        if token is None:
            raise Unauthorized(
                "authentication required: send 'Authorization: Bearer <access_token>'", field="Authorization"
            )
        claims = await request.app[GATEWAY].authenticate(token)
        request[CLAIMS] = claims
        if claims.principal.role not in access.roles:
            raise Forbidden(f"a {claims.principal.role} may not {request.method} {template}")
    return await handler(request)


def principal(request: web.Request) -> Principal:
    claims: TokenClaims = request[CLAIMS]
    return claims.principal


# --- auth and me -------------------------------------------------------------------------------------


def client_ip(request: web.Request) -> str:
    """The client's address: the peer's, or with ``trusted_proxy_hops`` proxies in front, the address the
    farthest trusted proxy saw (X-Forwarded-For from the right). What a client writes there itself is left of
    it, so it cannot choose its address."""
    hops = request.app[GW_SETTINGS].trusted_proxy_hops
    peer = request.remote or "unknown"
    if hops <= 0:
        return peer
    chain = [a.strip() for h in request.headers.getall("X-Forwarded-For", []) for a in h.split(",") if a.strip()]
    return chain[-hops] if len(chain) >= hops else peer  # fewer hops than configured: not through our proxies


async def login(request: web.Request) -> web.Response:
    body = parse_body(schemas.LoginIn, await read_json(request))
    pair = await request.app[GATEWAY].login(body.username, body.password, client_ip(request))
    return respond(pair)


async def logout(request: web.Request) -> web.Response:
    await request.app[GATEWAY].logout(request[CLAIMS])
    return web.Response(status=204)


async def refresh(request: web.Request) -> web.Response:
    body = parse_body(schemas.RefreshIn, await read_json(request))
    return respond(await request.app[GATEWAY].refresh(body.refresh_token))


async def me(request: web.Request) -> web.Response:
    p = principal(request)
    gw = request.app[GATEWAY]
    user = await gw.users.get(p.user_id)
    visible = visible_campaigns(p, gw.directory)
    campaigns = sorted(c.id for c in gw.directory) if visible is None else sorted(visible)
    reasons = request.app[GW_SETTINGS].break_reasons
    return respond({**user.public(), "campaigns": campaigns, "break_reasons": reasons})


def _status_body(request: web.Request, data: Any) -> schemas.StatusIn:
    body = parse_body(schemas.StatusIn, data)
    reasons = request.app[GW_SETTINGS].break_reasons
    if body.status == "break" and reasons and body.reason not in reasons:
        raise Invalid(f"a break needs one of the configured reasons: {reasons}", field="reason",
                      details={"allowed": reasons})
    return body


async def put_status(request: web.Request) -> web.Response:
    body = _status_body(request, await read_json(request))
    answer = await request.app[GATEWAY].set_status(principal(request), body.status, body.reason)
    return respond(answer if answer is not None else {"status": body.status, "reason": body.reason})


async def put_agent_status(request: web.Request) -> web.Response:
    """A supervisor sets the state of an agent of one of their campaigns (admins: anybody's)."""
    p = principal(request)
    gw = request.app[GATEWAY]
    agent_id = request.match_info["id"]
    gw.check_agent(p, agent_id)  # before reading the body: nothing is learnt about agents not yours
    body = _status_body(request, await read_json(request))
    return respond(await gw.set_agent_status(p, agent_id, body.status, body.reason))


# --- conversations -----------------------------------------------------------------------------------


async def list_conversations(request: web.Request) -> web.Response:
    return respond(await request.app[GATEWAY].list_conversations(principal(request), request.query))


async def start_conversation(request: web.Request) -> web.Response:
    body = parse_body(schemas.StartIn, await read_json(request)).model_dump(mode="json", exclude_none=True)
    return respond(await request.app[GATEWAY].start(principal(request), body), status=201)


async def get_conversation(request: web.Request) -> web.Response:
    conv = await request.app[GATEWAY].get_conversation(principal(request), request.match_info["id"])
    return respond(conv)


_ACTION_BODIES: dict[str, type[schemas.Body]] = {
    "accept": schemas.EmptyIn,
    "reject": schemas.RejectIn,
    "transfer": schemas.TransferIn,
    "close": schemas.CloseIn,
    "messages": schemas.MessageIn,
    "take": schemas.TakeIn,
}


async def conversation_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    model = _ACTION_BODIES[action]
    raw = await request.read()
    data: Any = {} if not raw.strip() and model in (schemas.EmptyIn, schemas.RejectIn, schemas.TakeIn) \
        else await read_json(request)
    body = parse_body(model, data).model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    cid = request.match_info["id"]
    traces = request.app.get(TRACES)
    with tracing.span(f"agent {action}", parent_headers=traces.get(cid) if traces else None,
                      **{"conversation.id": cid}):
        answer = await request.app[GATEWAY].act(principal(request), cid, action, body)
    status = 201 if action == "messages" else 200
    return respond(answer if answer is not None else {"ok": True}, status=status)


async def upload_media(request: web.Request) -> web.Response:
    """``POST /conversations/{id}/media``: a multipart ``file`` for a reply, streamed to the CRM as it arrives."""
    upload = Upload(request.headers.get("Content-Type", ""), request.content.iter_chunked(UPLOAD_CHUNK))
    answer = await request.app[GATEWAY].upload_media(principal(request), request.match_info["id"], upload)
    return respond(answer, status=201)


async def decisions(request: web.Request) -> web.Response:
    return respond(await request.app[GATEWAY].decisions(principal(request), request.match_info["id"]))


async def dashboard(request: web.Request) -> web.Response:
    return respond(await request.app[GATEWAY].dashboard(principal(request), request.query))


# --- users -------------------------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    role = request.query.get("role") or None
    if role is not None and role not in ROLES:
        raise Invalid(f"role must be one of {list(ROLES)}", field="role")
    limit, after = page_args(request, (str,), default=500)
    users = await request.app[GATEWAY].list_users(principal(request), role, limit, after[0] if after else None)
    return respond_page(users, limit, lambda u: (u["username"],))


async def get_user(request: web.Request) -> web.Response:
    return respond(await request.app[GATEWAY].get_user(principal(request), request.match_info["id"]))


async def create_user(request: web.Request) -> web.Response:
    p = principal(request)
    if not p.is_admin:  # before reading the body: a non-admin learns nothing from validation errors
        raise Forbidden("only admins create users")
    body = parse_body(schemas.UserIn, await read_json(request))
    return respond(await request.app[GATEWAY].create_user(p, body.model_dump()), status=201)


async def patch_user(request: web.Request) -> web.Response:
    p = principal(request)
    if not p.is_admin:
        raise Forbidden("only admins change users")
    body = parse_body(schemas.UserPatch, await read_json(request))
    user = await request.app[GATEWAY].update_user(p, request.match_info["id"], body.model_dump(exclude_none=True))
    return respond(user)


# --- the facade over the other services --------------------------------------------------------------


UPLOAD_CHUNK = 64 * 1024


def facade_handler(rule: Rule, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        body, upload = None, None
        if request.method != "GET" and request.can_read_body:
            if is_json(request.content_type) or request.content_type.startswith("text/plain"):
                raw = await request.read()
                # An empty body is forwarded as none (attend, cancel); the service says if it needs one.
                body = await read_json(request) if raw.strip() else None
            else:  # a file (multipart form, CSV, XLSX, ...): streamed to the service as it arrives
                upload = Upload(request.headers["Content-Type"], request.content.iter_chunked(UPLOAD_CHUNK))
        status, answer = await request.app[GATEWAY].proxy(
            principal(request), rule, endpoint, request.match_info, request.query, body, upload
        )
        if isinstance(answer, Download):
            return await _stream_download(request, answer)
        if answer is None:
            return web.Response(status=status)
        return respond(answer, status=status)

    return handle


async def _stream_download(request: web.Request, download: Download) -> web.StreamResponse:
    """A file answered by a service (an export, a template, an outcome), streamed as it comes."""
    try:
        response = web.StreamResponse(status=download.status, headers=download.headers)
        await response.prepare(request)
        async for chunk in download.response.content.iter_chunked(UPLOAD_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        download.release()


async def openapi(request: web.Request) -> web.Response:
    return respond(openapi_document())


# --- live events -------------------------------------------------------------------------------------


def _cursor(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise Invalid(f"{name} must be a non-negative integer stream sequence", field=name)
    return int(raw)


async def events(request: web.Request) -> web.StreamResponse:
    """The caller's live events; ``?since=`` / ``?since_agent=`` resume after a stream sequence.

    A browser authenticates with its first message, ``{"type": "auth", "token": "<access token>"}``, within
    ``ws_auth_timeout_s``; other clients may send ``Authorization: Bearer`` with the upgrade instead. A token
    in the URL is refused (URLs end up in logs and histories).
    """
    if "token" in request.query:
        raise Invalid(
            'the token does not go in the URL: send {"type": "auth", "token": ...} as the first message',
            field="token",
        )
    since = {CONVERSATIONS: _cursor(request, "since"), AGENTS: _cursor(request, "since_agent")}
    settings = request.app[GW_SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat_s)
    if not ws.can_prepare(request).ok:
        raise Invalid("this endpoint is a WebSocket: send an upgrade request", field="Upgrade")
    claims: TokenClaims | None = request.get(CLAIMS)
    if claims is None:
        await ws.prepare(request)
        claims = await _first_message_auth(request.app[GATEWAY], ws, settings.ws_auth_timeout_s)
        if claims is None:
            return ws
    return await _serve_events(request, ws, claims, since)


async def _first_message_auth(gw: Gateway, ws: web.WebSocketResponse, timeout_s: float) -> TokenClaims | None:
    """Wait for ``{"type": "auth", "token"}``; close the socket (4401 / 4408) unless it authenticates."""
    try:
        msg = await ws.receive(timeout=timeout_s)
    except TimeoutError:
        await ws.close(code=WS_AUTH_TIMEOUT, message=b"authenticate with the first message")
        return None
    token = None
    if msg.type == WSMsgType.TEXT:
        try:
            data = json.loads(msg.data)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("type") == "auth" and isinstance(data.get("token"), str):
            token = data["token"]
    if token is None:
        if not ws.closed:
            await ws.close(code=WS_UNAUTHENTICATED, message=b'the first message must be {"type":"auth","token"}')
        return None
    try:
        return await gw.authenticate(token)
    except AppError as exc:
        await ws.close(code=WS_UNAUTHENTICATED, message=exc.code.encode()[:100])
        return None


async def _serve_events(
    request: web.Request, ws: web.WebSocketResponse, claims: TokenClaims, since: dict[str, int | None]
) -> web.WebSocketResponse:
    settings = request.app[GW_SETTINGS]
    hub = request.app[HUB]
    resuming = any(v is not None for v in since.values())
    conn = Connection(
        claims.principal,
        queue_size=settings.ws_queue_size,
        cursors={k: v for k, v in since.items() if v is not None},
        resuming=resuming,
    )
    # Registered before any replay (and, with header auth, before the handshake completes): an event
    # published once the client is authenticated is never missed.
    hub.register(conn)
    writer: asyncio.Task[None] | None = None
    try:
        if not ws.prepared:
            await ws.prepare(request)
        writer = asyncio.create_task(_write(ws, conn, claims.expires_at))
        if resuming:
            await _replay(request.app, hub, conn, since)
            conn.go_live()
        conn.notify(
            {
                "type": "ready",
                "seq": conn.cursors[CONVERSATIONS],
                "agent_seq": conn.cursors[AGENTS],
                "user": {"id": claims.principal.user_id, "role": claims.principal.role},
            }
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.strip() in ('{"type":"ping"}', "ping"):
                conn.notify({"type": "pong"})
    except Exception as exc:  # a failed replay: tell the client, which reconnects with the same cursor
        log.warning("ws_failed", user_id=claims.principal.user_id, error=repr(exc))
        if not ws.closed:
            await ws.close(code=1011, message=b"replay failed; reconnect with the same since")
    finally:
        hub.unregister(conn)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    return ws


async def _replay(app: web.Application, hub: Hub, conn: Connection, since: dict[str, int | None]) -> None:
    js = app[EVENTS_JS]
    for name, feed in app[FEEDS].items():
        cursor = since.get(name)
        if cursor is None:
            continue
        first, last = await last_seq(js, feed)
        if cursor + 1 < first:
            conn.notify(
                {
                    "type": "gap",
                    "stream": name,
                    "first_available": first,
                    "message": "events before first_available have expired",
                }
            )
        await replay(js, feed, cursor, last, lambda n, s, p: hub.replay_one(conn, n, s, p))


async def _write(ws: web.WebSocketResponse, conn: Connection, expires_at: int) -> None:
    """Drain the connection's queue to the socket; close it when the token expires or the client lags."""
    while not ws.closed:
        remaining = expires_at - time.time()
        if remaining <= 0:
            await ws.close(code=WS_TOKEN_EXPIRED, message=b"token expired; reconnect with a new token and since")
            return
        try:
            event = await asyncio.wait_for(conn.queue.get(), timeout=min(remaining, 30.0))
        except TimeoutError:
            continue
        if conn.overflowed.is_set():
            await ws.close(code=WS_TOO_SLOW, message=b"too slow; reconnect with since")
            return
        await ws.send_json(event)


CONSOLE = Path(__file__).parent / "console"


async def console_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE / "index.html", headers={"Cache-Control": "no-cache"})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _add(app: web.Application, method: str, path: str, handler: Handler, roles: frozenset[Role],
         *, public: bool = False) -> None:
    """Serve one /api/v1 route with its access rule."""
    resource = app.router.add_route(method, path, handler).resource
    assert resource is not None
    ACCESS[(method, resource.canonical)] = Access(roles, public)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", console_index)
    r.add_static("/console/", CONSOLE, append_version=False)
    _add(app, "POST", f"{API}/auth/login", login, NOBODY, public=True)
    _add(app, "POST", f"{API}/auth/refresh", refresh, NOBODY, public=True)
    _add(app, "POST", f"{API}/auth/logout", logout, EVERYBODY)
    _add(app, "GET", f"{API}/openapi.json", openapi, NOBODY, public=True)
    _add(app, "GET", f"{API}/me", me, EVERYBODY)
    _add(app, "PUT", f"{API}/me/status", put_status, EVERYBODY)
    _add(app, "GET", WS_PATH, events, EVERYBODY)
    _add(app, "GET", f"{API}/conversations", list_conversations, EVERYBODY)
    _add(app, "POST", f"{API}/conversations", start_conversation, AGENT_ONLY)
    _add(app, "GET", f"{API}/conversations/{{id}}", get_conversation, EVERYBODY)
    _add(app, "GET", f"{API}/conversations/{{id}}/decisions", decisions, STAFF)
    _add(app, "POST", f"{API}/conversations/{{id}}/media", upload_media, EVERYBODY)
    _add(app, "GET", f"{API}/dashboard", dashboard, STAFF)
    _add(app, "PUT", f"{API}/agents/{{id}}/status", put_agent_status, STAFF)
    _add(app, "GET", f"{API}/users", list_users, STAFF)
    _add(app, "POST", f"{API}/users", create_user, ADMIN)
    _add(app, "GET", f"{API}/users/{{id}}", get_user, EVERYBODY)
    _add(app, "PATCH", f"{API}/users/{{id}}", patch_user, ADMIN)
    for rule in RULES:
        for endpoint in rule.endpoints:
            path = "/".join(filter(None, (f"{API}/{rule.public}", endpoint.path)))
            _add(app, endpoint.method, path, facade_handler(rule, endpoint), endpoint.roles)
    _add(app, "POST", f"{API}/conversations/{{id}}/{{action:accept|reject|transfer|close|messages|take}}",
         conversation_action, EVERYBODY)

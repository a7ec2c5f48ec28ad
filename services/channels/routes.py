"""HTTP routes: the internal channel registry API and the providers' webhooks."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libs.contracts import Contract
from libs.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from libs.core.service import read_json
from services.channels.domain import instagram, whatsapp
from services.channels.domain.channels import Channel
from services.channels.domain.common import guarded
from services.channels.domain.signatures import meta_signature_ok
from services.channels.handlers import ChannelRegistry, Publisher

REGISTRY = web.AppKey("registry", ChannelRegistry)
PUBLISHER = web.AppKey("publisher", Publisher)

Parser = Callable[[str, Any], list[Contract]]


# ---- registry (internal) ---------------------------------------------------------------------------
async def list_channels(request: web.Request) -> web.Response:
    type_ = request.query.get("type")
    active_q = request.query.get("active")
    if active_q not in (None, "true", "false"):
        raise Invalid("active must be true or false", field="active")
    active = None if active_q is None else active_q == "true"
    items = await request.app[REGISTRY].list(type_, active)
    return web.json_response({"items": [c.masked() for c in items]})


async def create_channel(request: web.Request) -> web.Response:
    ch = await request.app[REGISTRY].create(await read_json(request))
    return web.json_response(ch.masked(), status=201, headers={"Location": f"/channels/{ch.id}"})


async def get_channel(request: web.Request) -> web.Response:
    ch = await request.app[REGISTRY].get(request.match_info["channel_id"])
    return web.json_response(ch.masked())


async def update_channel(request: web.Request) -> web.Response:
    ch = await request.app[REGISTRY].update(request.match_info["channel_id"], await read_json(request))
    return web.json_response(ch.masked())


async def delete_channel(request: web.Request) -> web.Response:
    await request.app[REGISTRY].delete(request.match_info["channel_id"])
    return web.Response(status=204)


# ---- webhooks (public) -----------------------------------------------------------------------------
def webhook_channel(request: web.Request, channel_type: str) -> Channel:
    """The active channel of this webhook URL, from memory.

    Raises:
        NotFound: no active channel of that type has this id.
    """
    channel_id = request.match_info["channel_id"]
    ch = request.app[REGISTRY].cached(channel_id)
    if ch is None or ch.type != channel_type:
        raise NotFound(f"no {channel_type} channel {channel_id!r}", field="channel_id")
    if not ch.active:
        raise NotFound(f"{channel_type} channel {channel_id!r} is inactive", field="channel_id")
    return ch


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise Invalid("request body is empty; JSON expected", field="body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON: {exc}", field="body") from exc


async def accepted(request: web.Request, items: list[Contract]) -> web.Response:
    counts = await request.app[PUBLISHER].publish(items)
    return web.json_response({"status": "accepted", **counts})


def meta_webhook(channel_type: str, parser: Parser) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST handler for Meta's webhooks: signature, then JSON, then every entry, then publish."""

    async def handler(request: web.Request) -> web.Response:
        ch = webhook_channel(request, channel_type)
        raw = await request.read()
        if not meta_signature_ok(ch.secret("app_secret"), raw, request.headers.get("X-Hub-Signature-256")):
            raise Unauthorized("missing or bad X-Hub-Signature-256", field="X-Hub-Signature-256")
        items = guarded(parser, ch.id, parse_json(raw))
        return await accepted(request, items)

    return handler


def meta_verify(channel_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET handler for Meta's subscription handshake: echo ``hub.challenge`` when the token matches."""

    async def handler(request: web.Request) -> web.Response:
        ch = webhook_channel(request, channel_type)
        q = request.query
        expected = ch.secret("verify_token")
        given = q.get("hub.verify_token", "").encode()
        token_ok = bool(expected) and hmac.compare_digest(given, (expected or "").encode())
        if q.get("hub.mode") != "subscribe" or not token_ok:
            raise Forbidden("hub.mode must be subscribe and hub.verify_token must match",
                            field="hub.verify_token")
        return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")

    return handler


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/channels", list_channels)
    r.add_post("/channels", create_channel)
    r.add_get("/channels/{channel_id}", get_channel)
    r.add_put("/channels/{channel_id}", update_channel)
    r.add_delete("/channels/{channel_id}", delete_channel)
    for channel_type, parser in (("whatsapp", whatsapp.parse), ("instagram", instagram.parse)):
        r.add_post(f"/webhooks/{channel_type}/{{channel_id}}", meta_webhook(channel_type, parser))
        r.add_get(f"/webhooks/{channel_type}/{{channel_id}}", meta_verify(channel_type))

"""HTTP routes: the providers' webhooks (public port) and the admin API (its own internal port).

The public app serves only ``/webhooks/*``, the signed media links ``/media/{sha}``, ``/healthz`` and
``/readyz``. The admin app (``/channels``, ``/dead-letters``, ``/blobs``) needs an internal token
(``libs/core/auth.py``): reads for supervisors and admins, changes and dead letters for admins (or a service
identity); its handlers reach the service's state through the public app, which owns the lifecycle.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libs.contracts import Contract
from libs.core.auth import caller_of
from libs.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from libs.core.http import page_args, respond, respond_page, settings_of
from libs.core.inputs import loads_json
from libs.core.service import read_json
from libs.core.validation import may_hold_unstorable, parse_body
from libs.messaging import JETSTREAM
from services.channels.adapters.dead_letters import (
    WEBHOOK_CONSUMER,
    WEBHOOK_STREAM,
    dead_letter_webhook_items,
    read_dead_letters,
)
from services.channels.domain import instagram, sms, voice, whatsapp
from services.channels.domain.channels import Channel
from services.channels.domain.common import Batch, Rejected, guarded
from services.channels.domain.signatures import meta_signature_ok, twilio_signature_ok
from services.channels.keys import (
    BLOBS,
    CALLS,
    DURABLES,
    MEDIA_LINKS,
    OUTBOUND_DURABLE,
    PLACER,
    PUBLISHER,
    REGISTRY,
)
from services.channels.settings import ChannelsSettings

Parser = Callable[[str, Any, bool], Batch]  # (channel id, decoded body, check each item's text)
# Whose dead letters an operator may read: the consumers, and the webhooks' rejected items.
READABLE = {**DURABLES, WEBHOOK_CONSUMER: WEBHOOK_STREAM}
MAIN = web.AppKey("channels_main", web.Application)


# ---- admin API (internal port) --------------------------------------------------------------------
def _state(request: web.Request) -> web.Application:
    """The public app, which holds the service's state."""
    return request.app[MAIN]


def _may_read(request: web.Request) -> None:
    caller_of(request).require(("admin", "supervisor"), f"{request.method} {request.path}")


def _may_change(request: web.Request) -> None:
    caller_of(request).require(("admin",), f"{request.method} {request.path}: channel administration is for admins")


async def list_channels(request: web.Request) -> web.Response:
    _may_read(request)
    type_ = request.query.get("type")
    active_q = request.query.get("active")
    if active_q not in (None, "true", "false"):
        raise Invalid("active must be true or false", field="active")
    active = None if active_q is None else active_q == "true"
    limit, after = page_args(request, (str,), default=500)
    items = await _state(request)[REGISTRY].list(type_, active, after=after[0] if after else None, limit=limit)
    return respond_page([c.masked() for c in items], limit, lambda c: (c["id"],))


async def create_channel(request: web.Request) -> web.Response:
    _may_change(request)
    ch = await _state(request)[REGISTRY].create(await read_json(request))
    return respond(ch.masked(), status=201, headers={"Location": f"/channels/{ch.id}"})


async def get_channel(request: web.Request) -> web.Response:
    _may_read(request)
    ch = await _state(request)[REGISTRY].get(request.match_info["channel_id"])
    return respond(ch.masked())


async def channel_templates(request: web.Request) -> web.Response:
    """``GET /channels/{id}/templates``: a WhatsApp number's message templates (name, language, body, status,
    parameters), for every role: an agent starts a conversation with one."""
    caller_of(request).require(("admin", "supervisor", "agent"), f"{request.method} {request.path}")
    ch = await _state(request)[REGISTRY].get(request.match_info["channel_id"])
    items = [{**t.model_dump(), "parameters": t.parameters} for t in ch.snapshot().templates]
    return respond({"items": items, "next_cursor": None})


async def update_channel(request: web.Request) -> web.Response:
    _may_change(request)
    ch = await _state(request)[REGISTRY].update(request.match_info["channel_id"], await read_json(request))
    return respond(ch.masked())


async def delete_channel(request: web.Request) -> web.Response:
    _may_change(request)
    await _state(request)[REGISTRY].delete(request.match_info["channel_id"])
    return web.Response(status=204)


async def place_call(request: web.Request) -> web.Response:
    """``POST /channels/{channel_id}/calls`` ``{call_id, to, agent_id}``: click-to-call. Only for services (the
    CRM, which checked the caller, the campaign and the number and holds the call record)."""
    caller_of(request).require((), f"{request.method} {request.path}: calls are placed by the CRM")
    call = parse_body(voice.PlaceCall, await read_json(request))
    return respond(await _state(request)[PLACER].place(request.match_info["channel_id"], call), status=201)


async def dead_letters(request: web.Request) -> web.Response:
    """``GET /dead-letters?consumer=&channel_id=&limit=&cursor=``: what a consumer of this service gave up on,
    and why; newest first, a page at a time. Admins (and services) only: a dead letter holds a whole message
    of any campaign."""
    _may_change(request)
    limit, before = page_args(request, (int,))
    consumer = request.query.get("consumer", OUTBOUND_DURABLE)
    if consumer not in READABLE:
        raise Invalid(f"consumer must be one of {sorted(READABLE)}", field="consumer")
    items = await read_dead_letters(_state(request)[JETSTREAM], READABLE[consumer], consumer,
                                    channel_id=request.query.get("channel_id"), limit=limit,
                                    before=before[0] if before else None)
    return respond_page(items, limit, lambda d: (d["sequence"],))


async def get_blob(request: web.Request) -> web.Response:
    """``GET /blobs/{sha}``: an attachment stored by the e-mail adapter."""
    _may_read(request)
    data = await _state(request)[BLOBS].get(request.match_info["sha"])
    if data is None:
        raise NotFound("no such blob", field="sha")
    return web.Response(body=data, content_type="application/octet-stream")


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


async def accepted(request: web.Request, items: list[Contract]) -> web.Response:
    counts = await request.app[PUBLISHER].publish(items)
    return respond({"status": "accepted", **counts})


def meta_webhook(channel_type: str, parser: Parser) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST handler for Meta's webhooks: signature, then JSON, then every item of every entry, then publish.

    A signed batch with malformed items is answered 200: the valid items are published, and each bad item goes
    to the dead-letter stream with its reason (``rejected`` counts them). A signed body whose envelope is wrong
    is refused whole (400), and kept in the dead-letter stream too.
    """

    async def handler(request: web.Request) -> web.Response:
        ch = webhook_channel(request, channel_type)
        raw = await request.read()
        if not meta_signature_ok(ch.secret("app_secret"), raw, request.headers.get("X-Hub-Signature-256")):
            raise Unauthorized("missing or bad X-Hub-Signature-256", field="X-Hub-Signature-256")
        js = request.app[JETSTREAM]
        try:
            batch = guarded(parser, ch.id, loads_json(raw, storable=False), may_hold_unstorable(raw))
        except Invalid as err:
            whole = Rejected(err.field or "body", err.message, _as_item(raw))
            await dead_letter_webhook_items(js, channel_id=ch.id, channel_type=channel_type, body=raw,
                                            rejected=[whole])
            raise
        counts = await request.app[PUBLISHER].publish(batch.items)
        if batch.rejected:
            await dead_letter_webhook_items(js, channel_id=ch.id, channel_type=channel_type, body=raw,
                                            rejected=batch.rejected)
        return respond({"status": "accepted", **counts, "rejected": len(batch.rejected)})

    return handler


def _as_item(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


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


TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def public_url(request: web.Request) -> str:
    """The URL the provider called, as it signed it: ``public_base_url`` + the path and query exactly as they came
    (still percent-encoded) when set; else the URL of the request as this process sees it (development)."""
    base = settings_of(request.app, ChannelsSettings).public_base_url
    origin = base.rstrip("/") if base else f"{request.scheme}://{request.host}"
    return origin + request.raw_path


async def twilio_form(request: web.Request, ch: Channel) -> list[tuple[str, str]]:
    """The parameters of a Twilio webhook, once its ``X-Twilio-Signature`` is checked: a form's pairs, or the
    members of a JSON object (signed through the URL's ``bodySHA256``).

    Raises:
        Unauthorized: missing or bad signature. Invalid: the body is not form data or a flat JSON object.
    """
    raw = await request.read()
    signed: list[tuple[str, str]] | str
    if request.content_type == "application/json":
        try:
            signed = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the JSON body is not UTF-8", field="body") from None
    else:
        signed = sms.parse_form(raw)
    if not twilio_signature_ok(ch.secret("auth_token"), public_url(request), signed,
                               request.headers.get("X-Twilio-Signature")):
        raise Unauthorized("missing or bad X-Twilio-Signature", field="X-Twilio-Signature")
    return signed if isinstance(signed, list) else sms.json_params(loads_json(raw))


async def twiml_accepted(request: web.Request, items: list[Contract]) -> web.Response:
    await request.app[PUBLISHER].publish(items)
    return web.Response(text=TWIML_EMPTY, content_type="text/xml")


async def sms_inbound(request: web.Request) -> web.Response:
    ch = webhook_channel(request, "sms")
    pairs = await twilio_form(request, ch)
    return await twiml_accepted(request, [guarded(sms.parse_inbound, ch.id, pairs)])


async def sms_status(request: web.Request) -> web.Response:
    ch = webhook_channel(request, "sms")
    status = guarded(sms.parse_status, ch.id, await twilio_form(request, ch))
    return await twiml_accepted(request, [status] if status else [])


async def voice_event(request: web.Request) -> web.Response:
    """Twilio Voice status callbacks (``X-Twilio-Signature``, a form or JSON) or Asterisk ARI events forwarded as
    JSON (``X-Hub-Signature-256`` with the channel's app secret)."""
    ch = webhook_channel(request, "voice")
    if request.content_type == "application/json" and "X-Twilio-Signature" not in request.headers:
        raw = await request.read()
        if not meta_signature_ok(ch.secret("app_secret"), raw, request.headers.get("X-Hub-Signature-256")):
            raise Unauthorized("missing or bad X-Hub-Signature-256", field="X-Hub-Signature-256")
        events = guarded(voice.parse_ari, ch.id, loads_json(raw))
        return respond({"status": "accepted", **await request.app[CALLS].ingest(events)})
    event = guarded(voice.parse_twilio, ch.id, await twilio_form(request, ch))
    await request.app[CALLS].ingest([event] if event else [])
    return web.Response(text=TWIML_EMPTY, content_type="text/xml")


async def public_media(request: web.Request) -> web.Response:
    """``GET /media/{sha}?exp=&type=&sig=`` (public port): our own media for a provider that fetches it by URL
    (Twilio MMS, Instagram), only through a link this service signed and before it expires (403 otherwise)."""
    sha, q = request.match_info["sha"], request.query
    problem = request.app[MEDIA_LINKS].problem(sha, q.get("exp", ""), q.get("type", ""), q.get("sig", ""))
    if problem:
        raise Forbidden(problem, field="sig")
    data = await request.app[BLOBS].get(sha)
    if data is None:
        raise NotFound("no such media", field="sha")
    # Served as the signed type, never sniffed; whatever it is (a gallery file may be anything), nothing in it runs
    # on this host: a sandboxed document with no sources.
    return web.Response(body=data, headers={"Content-Type": q["type"], "X-Content-Type-Options": "nosniff",
                                            "Content-Security-Policy": "default-src 'none'; sandbox",
                                            "Cache-Control": "private, no-store"})


def setup_admin_routes(admin: web.Application) -> None:
    r = admin.router
    r.add_get("/channels", list_channels)
    r.add_post("/channels", create_channel)
    r.add_get("/channels/{channel_id}", get_channel)
    r.add_put("/channels/{channel_id}", update_channel)
    r.add_delete("/channels/{channel_id}", delete_channel)
    r.add_post("/channels/{channel_id}/calls", place_call)
    r.add_get("/channels/{channel_id}/templates", channel_templates)
    r.add_get("/dead-letters", dead_letters)
    r.add_get("/blobs/{sha}", get_blob)


def setup_webhook_routes(app: web.Application) -> None:
    r = app.router
    for channel_type, parser in (("whatsapp", whatsapp.parse), ("instagram", instagram.parse)):
        r.add_post(f"/webhooks/{channel_type}/{{channel_id}}", meta_webhook(channel_type, parser))
        r.add_get(f"/webhooks/{channel_type}/{{channel_id}}", meta_verify(channel_type))
    r.add_post("/webhooks/sms/{channel_id}", sms_inbound)
    r.add_post("/webhooks/sms/{channel_id}/status", sms_status)
    r.add_post("/webhooks/voice/{channel_id}", voice_event)
    r.add_get("/media/{sha}", public_media)

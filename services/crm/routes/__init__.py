"""aiohttp routes of the CRM's HTTP API, and the helpers they share."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from libs.core.auth import caller_of
from libs.core.http import respond
from libs.core.service import read_json
from services.crm.handlers import Actor, Crm, access
from services.crm.keys import CRM


def crm_of(request: web.Request) -> Crm:
    return request.app[CRM]


def actor_of(request: web.Request) -> Actor:
    """The caller, from its verified internal token: a user (id, role, campaign scope) through the gateway,
    or a service identity (the CLI, jobs), which acts as ``system``."""
    caller = caller_of(request)
    if caller.is_service:
        return Actor()
    return Actor(id=caller.subject, role=caller.role, campaigns=caller.campaigns)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name twice: plain ASCII (what is left after replacing the rest with ``_``) for old
    clients, and ``filename*`` (RFC 6266/8187, UTF-8, percent-encoded) with the name as it is. Nothing of the name
    can break out of the header (quotes, separators, line breaks are encoded)."""
    plain = re.sub(r"[^A-Za-z0-9._ ()+-]", "_", filename)[:200] or "file"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def send_stream(request: web.Request, chunks: Any, media_type: str, filename: str,
                      headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """Stream an async iterator of bytes as a download (``headers``: more of them, such as its length)."""
    response = web.StreamResponse(headers={"Content-Type": media_type,
                                           "Content-Disposition": content_disposition(filename), **(headers or {})})
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


Handler = Callable[[web.Request], Awaitable[web.Response]]


def admin_edits(use_cases: Any, what: str) -> tuple[Handler, Handler]:
    """``PATCH`` and ``DELETE /<things>/{id}`` of what only admins change (``what``: "manage webhooks"): the role
    is checked before the body is read, then ``use_cases.update(crm, id, body, actor)`` answers the new state and
    ``use_cases.delete(crm, id, actor)`` a 204 (the use cases check the role again)."""

    async def patch(request: web.Request) -> web.Response:
        access.require_admin(actor_of(request), what)
        body = await read_json(request)
        return respond(await use_cases.update(crm_of(request), request.match_info["id"], body, actor_of(request)))

    async def delete(request: web.Request) -> web.Response:
        access.require_admin(actor_of(request), what)
        await use_cases.delete(crm_of(request), request.match_info["id"], actor_of(request))
        return web.Response(status=204)

    return patch, delete

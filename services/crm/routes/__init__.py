"""aiohttp routes of the CRM's HTTP API, and the helpers they share."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from libs.core.auth import caller_of
from services.crm.handlers import Actor, Crm
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


async def send_stream(request: web.Request, chunks: Any, media_type: str, filename: str) -> web.StreamResponse:
    """Stream an async iterator of bytes as a download."""
    response = web.StreamResponse(headers={"Content-Type": media_type,
                                           "Content-Disposition": f'attachment; filename="{filename}"'})
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response

"""aiohttp routes of the CRM's HTTP API, and the helpers they share."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.crm.handlers import Actor, Crm
from services.crm.keys import CRM


def crm_of(request: web.Request) -> Crm:
    return request.app[CRM]


def actor_of(request: web.Request) -> Actor:
    """The caller named by the gateway; internal callers without headers act as ``system``."""
    user = request.headers.get("X-User-Id", "").strip()
    role = request.headers.get("X-User-Role", "").strip().lower()
    if not user:
        return Actor()
    return Actor(id=user, role=role or "agent")


async def send_stream(request: web.Request, chunks: Any, media_type: str, filename: str) -> web.StreamResponse:
    """Stream an async iterator of bytes as a download."""
    response = web.StreamResponse(headers={"Content-Type": media_type,
                                           "Content-Disposition": f'attachment; filename="{filename}"'})
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response

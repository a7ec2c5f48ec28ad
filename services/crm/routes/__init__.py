"""aiohttp routes of the CRM's HTTP API, and the helpers they share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from services.crm.domain.common import decode_cursor, encode_cursor, parse_limit
from services.crm.handlers import Actor, Crm

CRM = web.AppKey("crm", Crm)


def crm_of(request: web.Request) -> Crm:
    return request.app[CRM]


def actor_of(request: web.Request) -> Actor:
    """The caller named by the gateway; internal callers without headers act as ``system``."""
    user = request.headers.get("X-User-Id", "").strip()
    role = request.headers.get("X-User-Role", "").strip().lower()
    if not user:
        return Actor()
    return Actor(id=user, role=role or "agent")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False)


def respond(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def page_args(request: web.Request, kinds: tuple[type, ...] = (datetime, str)) -> tuple[int, tuple[Any, ...] | None]:
    """``limit`` and the decoded ``cursor`` of a list request."""
    limit = parse_limit(request.query.get("limit"))
    raw = request.query.get("cursor")
    return limit, (tuple(decode_cursor(raw, kinds)) if raw else None)


def page(items: Sequence[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], Sequence[Any]]
         ) -> web.Response:
    """A page of a list: ``{"items", "next_cursor"}`` (``null`` on the last page)."""
    nxt = encode_cursor(*key(items[-1])) if len(items) == limit and items else None
    return respond({"items": list(items), "next_cursor": nxt})


def q(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value.strip() if value and value.strip() else None


async def send_stream(request: web.Request, chunks: Any, media_type: str, filename: str) -> web.StreamResponse:
    """Stream an async iterator of bytes as a download."""
    response = web.StreamResponse(headers={"Content-Type": media_type,
                                           "Content-Disposition": f'attachment; filename="{filename}"'})
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response

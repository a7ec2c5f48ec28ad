"""Limits of an HTTP port that faces the internet (the channels webhooks): how long a client may take to send a
request's head and body, and how big they may be, so a slow or oversized client costs a bounded slot.

aiohttp has no header-read timeout of its own, but its keep-alive timer closes a connection whose handler is
still waiting for a complete request head when the timer fires, and that timer starts with the connection: so
``keepalive_timeout`` bounds both the idle time between requests and the time to send a head (slowloris). The
body is read whole, under ``client_max_size``, within ``body_timeout_s``, by a middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from libs.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class IntakeLimits:
    """What one client of a public port may take.

    Attributes:
        header_timeout_s: from the connection (or the end of the previous answer) to a complete request head;
            also how long an idle connection is kept. Past it the connection is closed.
        body_timeout_s: from the head to the last byte of the body (408, connection closed).
        max_line_size: the request line and each header line (400 beyond).
        max_field_size: one header's value (400 beyond).
        max_headers: headers of one request (400 beyond).
        lingering_s: after an answer given before the body was read (408, 413), how long the rest of the body is
            read and dropped (so the client sees the answer) before the connection is closed (aiohttp: 10 s).
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 15.0
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64
    lingering_s: float = 2.0


INTAKE = web.AppKey("intake_limits", IntakeLimits)


def limit_intake(app: web.Application, limits: IntakeLimits) -> None:
    """Bound an app's requests (``serve`` passes the server options; the middleware reads bodies in time)."""
    app[INTAKE] = limits
    app.middlewares.append(_body_deadline(limits.body_timeout_s))


def server_options(app: web.Application) -> dict[str, Any]:
    """The ``AppRunner`` options that enforce an app's ``IntakeLimits`` (none when it has none)."""
    limits = app.get(INTAKE)
    if limits is None:
        return {}
    return {"keepalive_timeout": limits.header_timeout_s, "max_line_size": limits.max_line_size,
            "max_field_size": limits.max_field_size, "max_headers": limits.max_headers,
            "lingering_time": limits.lingering_s}


def _body_deadline(timeout_s: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()  # kept by the request: the handler's read() gets it back
            except TimeoutError:
                log.warning("request_body_too_slow", path=request.path, timeout_s=timeout_s)
                resp = web.json_response({"error": {"code": "request_timeout", "field": "body", "message":
                                                    f"the request body did not arrive within {timeout_s:g} s"}},
                                         status=408)
                resp.force_close()
                return resp
        return await handler(request)

    return middleware

"""aiohttp integration: the NATS connection as a cleanup context, and consumers owned by the lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.contracts import Contract
from libs.core.service import LIFECYCLE
from libs.messaging.client import nats_session
from libs.messaging.consumer import run_consumer

NATS_CONN = web.AppKey("nats", NATS)
JETSTREAM = web.AppKey("jetstream", JetStreamContext)


def nats_ctx(url: str, name: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """Connect (and set up streams) on startup; drain on cleanup, after the consumers have stopped."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with nats_session(url, name) as (nc, js):
            app[NATS_CONN] = nc
            app[JETSTREAM] = js
            app[LIFECYCLE].checks.append(_connected(nc))
            yield

    return ctx


def _connected(nc: NATS) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(nc.is_connected)

    return check


def start_consumer(app: web.Application, *, stream: str, durable: str,
                   handler: Callable[[Contract], Awaitable[None]], **kwargs: Any) -> None:
    """Spawn ``run_consumer`` as a lifecycle task; SIGTERM stops its fetching and waits for it."""
    lc = app[LIFECYCLE]
    lc.spawn(run_consumer(app[JETSTREAM], stream=stream, durable=durable, handler=handler, stop=lc.stopping,
                          **kwargs), name=f"consumer:{durable}")

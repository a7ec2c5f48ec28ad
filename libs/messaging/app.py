"""aiohttp integration: the NATS connection as a cleanup context, and consumers owned by the lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.contracts import Contract
from libs.core.service import LIFECYCLE, SETTINGS
from libs.messaging.client import nats_session, watch_kv
from libs.messaging.consumer import run_consumer
from libs.messaging.snapshots import BUCKET, SnapshotDirectory

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
    async def nats_connected() -> bool:
        return bool(nc.is_connected)

    return nats_connected


def start_consumer(app: web.Application, *, stream: str, durable: str,
                   handler: Callable[[Contract], Awaitable[None]], **kwargs: Any) -> None:
    """Spawn ``run_consumer`` as a lifecycle task; SIGTERM stops its fetching and waits for it."""
    lc = app[LIFECYCLE]
    kwargs.setdefault("pending_every_s", app[SETTINGS].consumer_pending_every_s)
    lc.spawn(run_consumer(app[JETSTREAM], stream=stream, durable=durable, handler=handler, stop=lc.stopping,
                          **kwargs), name=f"consumer:{durable}")


def watch_snapshots(app: web.Application, directory: SnapshotDirectory, *,
                    on_change: Callable[[str, Any], object] | None = None) -> None:
    """Keep ``directory`` current from the ``campaigns`` bucket as a lifecycle task; ``directory.ready`` is
    set once the first pass is in memory. ``on_change`` replaces ``directory.on_change`` when the service
    does more with a change (the router mirrors routing config into Redis)."""
    lc = app[LIFECYCLE]
    lc.spawn(watch_kv(app[JETSTREAM], BUCKET, on_change or directory.on_change, stop=lc.stopping,
                      ready=directory.ready), name=f"watch:{BUCKET}")

"""JetStream subscriptions of the router: inbound messages, agent commands and due timers."""

from __future__ import annotations

import time

from aiohttp import web

from libs.core.http import settings_of
from libs.core.logging import get_logger
from libs.messaging import JETSTREAM, dispatch, read_kv, start_consumer
from services.router.handlers import HANDLERS, Router
from services.router.keys import ROUTER
from services.router.settings import RouterSettings

log = get_logger(__name__)

AGENT_COMMANDS = "router-agent-commands"
TIMERS = "router-timers"


def start_consumers(app: web.Application) -> None:
    """Spawn the router's consumers as lifecycle tasks (SIGTERM finishes the message in hand)."""
    router: Router = app[ROUTER]
    js = app[JETSTREAM]
    settings = settings_of(app, RouterSettings)
    last_refresh = [0.0]

    async def refresh() -> None:
        # A channel unknown to the watch: re-read the bucket, at most once a second.
        if time.monotonic() - last_refresh[0] > 1.0:
            last_refresh[0] = time.monotonic()
            for key, value in (await read_kv(js, "campaigns")).items():
                await router.on_campaign_change(key, value)

    router.refresh_snapshots = refresh
    handle = dispatch(router, HANDLERS)

    # Several pull loops on one durable: a decision waits on Redis and NATS round trips, so loops overlap
    # them. Each decision is atomic, so this is as safe as several replicas. Each fetch is decided together
    # (``Router.handle_inbound_many``: one Redis round trip, one publish of all its facts).
    for _ in range(settings.inbound_concurrency):
        start_consumer(app, stream="INBOUND", durable=settings.inbound_durable, handler=handle,
                       batch_handler=router.handle_inbound_many, batch=settings.inbound_batch,
                       ack_wait_s=settings.inbound_ack_wait_s, hold=router.until_live)
    start_consumer(app, stream="AGENTS", durable=AGENT_COMMANDS, filter_subject="sb.agent.cmd.>",
                   handler=handle, hold=router.until_live)
    start_consumer(app, stream="TIMERS", durable=TIMERS, filter_subject="sb.timer.due.router.>",
                   handler=handle, hold=router.until_live)

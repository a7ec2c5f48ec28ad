"""The router's composition root: Redis live state, NATS, the campaign watch, consumers and routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from libs.core import metrics
from libs.core.auth import Signer, service_auth
from libs.core.logging import get_logger
from libs.core.service import LIFECYCLE, create_base_app
from libs.messaging import JETSTREAM, SnapshotDirectory, nats_ctx, watch_kv, watch_snapshots
from libs.storage import REDIS, redis_ctx
from services.router.adapters.crm import CrmRecord
from services.router.adapters.nats import Publisher
from services.router.adapters.owners import KvOwnerIndex
from services.router.adapters.rebuild import Rebuilder
from services.router.adapters.redis import RouterStore, epoch_guard
from services.router.consumers import start_consumers
from services.router.handlers import Router
from services.router.keys import REBUILDER, ROUTER, ROUTER_READY
from services.router.routes import setup_routes
from services.router.settings import RouterSettings

log = get_logger(__name__)


def create_app(settings: RouterSettings) -> web.Application:
    app = create_base_app(settings)
    # Every new Redis connection checks the state it finds was written by that server (epoch_guard).
    app.cleanup_ctx.append(redis_ctx(settings, redis_connect_func=epoch_guard(settings.key_prefix)))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, settings.service_name))
    app.cleanup_ctx.append(_router_ctx(settings))
    setup_routes(app)
    return app


PRESENCES = ("available", "break", "after_call_work", "offline")


def _gauges(store: RouterStore, directory: SnapshotDirectory) -> metrics.Refresher:
    """Before a scrape: ``sb_router_queue_depth`` and ``sb_agents`` of every campaign, read from Redis (every
    replica reports the same shared state: aggregate with ``max``)."""
    shown: set[str] = set()

    async def refresh() -> None:
        ids = [snap.id for snap in directory]
        try:
            depth, agents = await store.gauges(ids)
        except Exception as exc:  # Redis away: /readyz says so; the gauges keep their last values
            log.info("router_gauges_failed", error=repr(exc))
            return
        for gone in shown - set(ids):
            metrics.ROUTER_QUEUE_DEPTH.remove(gone)
            for status in PRESENCES:
                metrics.AGENTS.remove(gone, status)
        shown.clear()
        shown.update(ids)
        for cid in ids:
            metrics.ROUTER_QUEUE_DEPTH.labels(cid).set(depth[cid])
            for status in PRESENCES:
                metrics.AGENTS.labels(cid, status).set(agents[cid].get(status, 0))

    return refresh


def _router_ctx(settings: RouterSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        lc = app[LIFECYCLE]
        js = app[JETSTREAM]
        store = RouterStore(app[REDIS], settings.key_prefix)
        publisher = Publisher(js, store)
        directory = SnapshotDirectory()
        # The CRM's record of conversations (for a rebuild): called as the router's own service identity.
        signer = Signer.from_settings(settings, "router")
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.crm_timeout_s),
                                     middlewares=(service_auth(signer, "crm"),))
        crm = CrmRecord(http, settings.crm_url)
        rebuilder = Rebuilder(js, store, directory, publisher, resync=lambda: router.resync_all(),
                              dedup_ttl_ms=settings.dedup_ttl_s * 1000,
                              crm_open=crm.open_conversations if settings.crm_url else None,
                              crm_record=crm.conversation if settings.crm_url else None)
        router = Router(store, publisher, directory, settings, rebuild=rebuilder.rebuild, owners=KvOwnerIndex(js))
        app[ROUTER] = router
        app[REBUILDER] = rebuilder
        loaded = directory.ready
        ready = asyncio.Event()
        app[ROUTER_READY] = ready

        async def is_ready() -> bool:
            return ready.is_set()

        lc.checks.append(is_ready)
        metrics.add_refresher(app, _gauges(store, directory))
        watch_snapshots(app, directory, on_change=router.on_campaign_change)
        # The channels' snapshots: WhatsApp templates an agent may start a conversation with.
        lc.spawn(watch_kv(js, "channels", router.on_channel_change, stop=lc.stopping), name="watch:channels")
        lc.spawn(publisher.sweep_forever(int(settings.outbox_grace_s * 1000), settings.outbox_sweep_s,
                                         lc.stopping), name="outbox-sweeper")

        async def start_when_loaded() -> None:
            # Consuming before the snapshots are in memory would dead-letter messages of known channels.
            while not loaded.is_set() and not lc.stopping.is_set():
                try:
                    await asyncio.wait_for(loaded.wait(), 1.0)
                except TimeoutError:
                    continue
            # A failed start-up rebuild (Redis away or loading its files, the rebuild lock lapsed on a loaded
            # machine) is tried again: once, the replica then never consumed nor became ready.
            while not lc.stopping.is_set():
                try:
                    await rebuilder.ensure_state()
                    break
                except Exception as exc:
                    log.warning("router_start_rebuild_failed", error=repr(exc)[:300])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lc.stopping.wait(), 1.0)
            if not lc.stopping.is_set():
                start_consumers(app)
                ready.set()
                log.info("router_consuming")

        lc.spawn(start_when_loaded(), name="router-start", essential=False)
        yield  # create_base_app's on_shutdown has drained the lifecycle (consumers, watch, sweeper) by now
        await publisher.close()
        await http.close()

    return ctx

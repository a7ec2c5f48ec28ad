"""The gateway's composition root: pools, adapters, use cases, live event feeds and routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from libs.core import metrics, tracing
from libs.core.auth import Signer
from libs.core.logging import get_logger
from libs.core.service import LIFECYCLE, add_metrics_site, create_base_app
from libs.messaging import JETSTREAM, SnapshotDirectory, nats_ctx, watch_snapshots
from libs.storage import PG_POOL, REDIS, pg_pool_ctx, redis_ctx
from services.gateway import deadletters, external
from services.gateway.adapters.directory import UsersKv
from services.gateway.adapters.events import Feed, subscribe_live
from services.gateway.adapters.postgres import UsersRepo
from services.gateway.adapters.redis import LoginLimiter, RefreshLedger, SessionStore
from services.gateway.adapters.upstream import Upstream
from services.gateway.domain import visible_campaigns
from services.gateway.fanout import AGENTS, CONVERSATIONS, Hub
from services.gateway.handlers import Gateway, Upstreams, seed_demo_users
from services.gateway.headers import setup_security_headers
from services.gateway.keys import EVENTS_JS, FEEDS, GATEWAY, GW_SETTINGS, HTTP, HUB, TRACES
from services.gateway.routes import auth_middleware, setup_routes
from services.gateway.security import HashSlots, TokenIssuer
from services.gateway.settings import GatewaySettings

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
FEED_LIST = (Feed("CONVERSATIONS", "sb.conv.>", CONVERSATIONS), Feed("AGENTS", "sb.agent.event.>", AGENTS))


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


def _upstreams(session: aiohttp.ClientSession, s: GatewaySettings, directory: SnapshotDirectory) -> Upstreams:
    signer = Signer.from_settings(s, "gateway")

    def up(name: str, url: str) -> Upstream:
        return Upstream(session, name, url, s.upstream_timeout_s, signer=signer,
                        scope=lambda p: visible_campaigns(p, directory))

    return Upstreams(
        router=up("router", s.router_url),
        campaigns=up("campaigns", s.campaigns_url),
        crm=up("crm", s.crm_url),
        channels=up("channels", s.channels_url),
    )


async def _gateway_ctx(app: web.Application) -> AsyncIterator[None]:
    s = app[GW_SETTINGS]
    js = app[JETSTREAM]
    directory = SnapshotDirectory()
    redis = app[REDIS]
    gw = Gateway(
        users=UsersRepo(app[PG_POOL]),
        tokens=TokenIssuer(s.jwt_secret, s.jwt_issuer, s.access_ttl_s, s.refresh_ttl_s),
        limiter=LoginLimiter(redis, s.login_max_failures, s.login_window_s),
        ledger=RefreshLedger(redis),
        upstreams=_upstreams(app[HTTP], s, directory),
        directory=directory,
        sessions=SessionStore(redis, s.session_cache_s),
        hash_slots=HashSlots(s.login_concurrency, s.login_queue),
        login_ip_per_minute=s.login_ip_per_minute,
        user_directory=UsersKv(js),
    )
    app[GATEWAY] = gw
    if s.demo_seed:
        await seed_demo_users(gw.users)
    app[LIFECYCLE].spawn(gw.announce_all(), name="users:announce", essential=False)

    watch_snapshots(app, directory)
    hub = Hub(directory)
    app[HUB] = hub
    metrics.add_refresher(app, lambda: metrics.WS_CONNECTIONS.set(hub.connections))
    app[EVENTS_JS] = js
    app[FEEDS] = {f.name: f for f in FEED_LIST}
    traces = app[TRACES] = tracing.ContextMemory()
    subs = [await subscribe_live(js, feed, hub.dispatch, traces) for feed in FEED_LIST]
    try:
        await asyncio.wait_for(directory.ready.wait(), 10)
    except TimeoutError:
        log.warning("campaign_snapshots_not_ready")
    yield
    for sub in subs:
        try:
            await sub.unsubscribe()
        except Exception as exc:  # connection already draining
            log.info("feed_unsubscribe_failed", error=repr(exc))


def create_app(settings: GatewaySettings) -> web.Application:
    """Build the gateway app."""
    app = create_base_app(settings, metrics_route=False, internal_auth=False)
    add_metrics_site(app, settings.metrics_port)
    app.middlewares.append(auth_middleware)
    app[GW_SETTINGS] = settings
    app.cleanup_ctx.append(pg_pool_ctx(settings, migrations=("gateway", MIGRATIONS)))
    app.cleanup_ctx.append(redis_ctx(settings))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, "gateway"))
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_gateway_ctx)
    setup_routes(app)
    deadletters.setup(app)
    external.setup(app)
    setup_security_headers(app)
    return app

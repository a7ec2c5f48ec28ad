"""The composition root of the campaigns service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from libs.core.logging import get_logger
from libs.core.service import LIFECYCLE, create_base_app
from libs.messaging import JETSTREAM, nats_ctx
from libs.storage import PG_POOL, pg_pool_ctx
from services.campaigns.adapters.kv import ChannelDirectory, SnapshotStore
from services.campaigns.adapters.postgres import unit_of_work
from services.campaigns.consumers import start_consumers
from services.campaigns.demo import seed_demo
from services.campaigns.handlers import CampaignsService
from services.campaigns.keys import CAMPAIGNS_SETTINGS, SERVICE, VIEWS
from services.campaigns.openapi import openapi_route
from services.campaigns.routes import routes
from services.campaigns.settings import CampaignsSettings

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


async def _service_ctx(app: web.Application) -> AsyncIterator[None]:
    """Wire the use cases, seed the demo, rebuild the KV bucket from PostgreSQL, start background work."""
    settings = app[CAMPAIGNS_SETTINGS]
    js = app[JETSTREAM]
    svc = CampaignsService(unit_of_work(app[PG_POOL]), SnapshotStore(js), ChannelDirectory(js))
    app[SERVICE] = svc
    app[VIEWS] = svc.views
    if settings.demo_seed:
        await seed_demo(svc)
    count = await svc.publish_all()
    log.info("snapshots_republished", campaigns=count)
    lc = app[LIFECYCLE]
    lc.spawn(svc.run_outbox(lc.stopping, settings.outbox_interval_s), name="campaigns-outbox")
    start_consumers(app)
    yield  # create_base_app's on_shutdown has drained the lifecycle (outbox loop, consumer) by now


def create_app(settings: CampaignsSettings) -> web.Application:
    app = create_base_app(settings)
    app[CAMPAIGNS_SETTINGS] = settings
    app.cleanup_ctx.append(pg_pool_ctx(settings, migrations=("campaigns", MIGRATIONS)))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, settings.service_name))
    app.cleanup_ctx.append(_service_ctx)
    app.router.add_routes(routes())
    app.router.add_routes([openapi_route()])
    return app

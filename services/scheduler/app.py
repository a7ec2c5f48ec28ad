"""The scheduler's composition root: PostgreSQL timers, NATS, the command consumer and the firing loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
from aiohttp import web

from libs.core.service import LIFECYCLE, create_base_app
from libs.messaging import JETSTREAM, nats_ctx
from libs.storage import PG_POOL, pg_pool_ctx
from services.scheduler.adapters.nats import JetStreamDuePublisher
from services.scheduler.adapters.postgres import NOTIFY_CHANNEL, TimerRepository
from services.scheduler.consumers import start_consumers
from services.scheduler.handlers import Scheduler
from services.scheduler.keys import SCHEDULER, VIEWS
from services.scheduler.routes import setup_routes
from services.scheduler.settings import SchedulerSettings
from services.scheduler.views import TimerViews

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SchedulerSettings) -> web.Application:
    app = create_base_app(settings)
    app.cleanup_ctx.append(pg_pool_ctx(settings, migrations=("scheduler", MIGRATIONS)))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, settings.service_name))
    app.cleanup_ctx.append(_scheduler_ctx(settings))
    setup_routes(app)
    return app


def _scheduler_ctx(settings: SchedulerSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        lc = app[LIFECYCLE]
        store = TimerRepository(app[PG_POOL])
        scheduler = Scheduler(store, JetStreamDuePublisher(app[JETSTREAM]), settings)
        app[SCHEDULER] = scheduler
        app[VIEWS] = TimerViews(store)
        # A dedicated connection listens for new timers, so a replica wakes at once, without polling.
        listener = await asyncpg.connect(settings.database_url)
        await listener.add_listener(NOTIFY_CHANNEL, scheduler.on_notify)
        start_consumers(app)
        lc.spawn(scheduler.run(lc.stopping), name="timer-loop")
        yield  # create_base_app's on_shutdown has drained the lifecycle (consumers, the loop) by now
        await listener.close()

    return ctx

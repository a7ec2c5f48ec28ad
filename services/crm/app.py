"""The CRM's composition root: PostgreSQL, NATS, blob store, campaign snapshots, consumers, job runner, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from libs.core.auth import Signer, service_auth
from libs.core.service import LIFECYCLE, create_base_app
from libs.messaging import JETSTREAM, NATS_CONN, SnapshotDirectory, nats_ctx
from libs.storage import PG_POOL, BlobStore, pg_pool_ctx
from services.crm import consumers, demo
from services.crm.adapters.owners import OwnerIndexPublisher
from services.crm.adapters.postgres.exports import ExportRows
from services.crm.adapters.postgres.uow import unit_of_work
from services.crm.adapters.publisher import Publisher
from services.crm.adapters.voice import ChannelsVoice
from services.crm.adapters.webhooks import HttpPoster
from services.crm.handlers import Crm
from services.crm.handlers import processes as process_handlers
from services.crm.handlers import webhooks as webhook_handlers
from services.crm.keys import BLOBS, CRM, RUNNER
from services.crm.routes import (
    accounts,
    calls,
    case_bulk,
    cases,
    catalogs,
    comments,
    contacts,
    dialer,
    exports,
    processes,
    reports,
    resources,
    tickets,
    webhooks,
    workspace,
)
from services.crm.routes.masking import mask_numbers
from services.crm.settings import CrmSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CrmSettings) -> web.Application:
    app = create_base_app(settings)
    app.middlewares.append(mask_numbers)
    app.cleanup_ctx.append(pg_pool_ctx(settings, migrations=("crm", MIGRATIONS)))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, "crm"))
    app.cleanup_ctx.append(_blobs_ctx(settings))
    app.cleanup_ctx.append(_crm_ctx(settings))
    contacts.setup(app)
    accounts.setup(app)
    cases.setup(app)
    case_bulk.setup(app)
    workspace.setup(app)
    catalogs.setup(app)
    webhooks.setup(app)
    dialer.setup(app)
    resources.setup(app)
    comments.setup(app)
    tickets.setup(app)
    calls.setup(app)
    processes.setup(app)
    exports.setup(app)
    reports.setup(app)
    return app


def _blobs_ctx(settings: CrmSettings):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[BLOBS] = BlobStore.from_settings(settings, settings.blob_dir, part_size=settings.blob_part_mb * 1024 * 1024)
        yield

    return ctx


def _crm_ctx(settings: CrmSettings):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # Click-to-call through channels, as the CRM's own service identity (production: its key is required).
        signer = Signer.from_settings(settings, "crm")
        session = aiohttp.ClientSession()
        channels = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.channels_timeout_s),
                                         middlewares=(service_auth(signer, "channels"),))
        crm = Crm(settings=settings, campaigns=SnapshotDirectory(), exports=ExportRows(app[PG_POOL]),
                  uow=unit_of_work(app[PG_POOL]),
                  publisher=Publisher(app[NATS_CONN], app[JETSTREAM]), blobs=app[BLOBS], webhooks=HttpPoster(session),
                  voice=ChannelsVoice(channels, settings.channels_url))
        app[CRM] = crm
        if settings.demo_seed:
            await demo.seed(crm)
        consumers.start(app, crm)
        lc = app[LIFECYCLE]
        # Seed 002's owner index for the router: assigned users of accounts and contacts, by address.
        owners = OwnerIndexPublisher(app[PG_POOL], app[JETSTREAM])
        lc.spawn(owners.run_forever(lc.stopping, settings.owner_index_interval_s), name="owner-index")
        if settings.run_jobs:
            runner = process_handlers.runner(crm)
            app[RUNNER] = runner
            lc.spawn(runner.run_forever(lc.stopping), name="jobs:runner")
        if settings.run_webhooks:
            lc = app[LIFECYCLE]
            lc.spawn(webhook_handlers.run(crm, lc.stopping), name="webhooks:sender")
        yield
        await session.close()
        await channels.close()

    return ctx

"""The composition root of the channels service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from libs.core import metrics
from libs.core.auth import Signer
from libs.core.intake import IntakeLimits, limit_intake
from libs.core.service import LIFECYCLE, SIDE_SITES, create_base_app
from libs.messaging import JETSTREAM, SnapshotDirectory, nats_ctx, watch_snapshots
from libs.storage import PG_POOL, pg_pool_ctx
from libs.storage.blobs import BlobStore
from services.channels.adapters.blobs import MediaBlobs, MediaLinks
from services.channels.adapters.kv import SnapshotPublisher
from services.channels.adapters.nats import JetStreamPublisher
from services.channels.adapters.ports import Sender
from services.channels.adapters.postgres import (
    ChannelRepository,
    DeliveryRepository,
    EmailThreadRepository,
    PgUnitOfWork,
    VoiceCallRepository,
)
from services.channels.adapters.providers.ari import AriOriginator
from services.channels.adapters.providers.graph import GraphSender
from services.channels.adapters.providers.http import RetryPolicy
from services.channels.adapters.providers.smtp import SmtpSender
from services.channels.adapters.providers.twilio import TwilioSender, TwilioVoice
from services.channels.adapters.usage import RouterChannelUsage
from services.channels.consumers import start_call_connector, start_outbound, start_registry_watch
from services.channels.domain.media_links import link_key
from services.channels.handlers import (
    CallConnector,
    CallEvents,
    CallPlacer,
    ChannelRegistry,
    Deliverer,
    EmailIngest,
    Publisher,
)
from services.channels.keys import (
    BLOBS,
    CALLS,
    DELIVERER,
    EMAIL_INGEST,
    HTTP,
    MEDIA_LINKS,
    PLACER,
    PUBLISHER,
    REGISTRY,
)
from services.channels.routes import MAIN, setup_admin_routes, setup_webhook_routes
from services.channels.settings import ChannelsSettings
from services.channels.smtp import SmtpLimits, smtp_ctx

MIGRATIONS = Path(__file__).parent / "migrations"
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
ADMIN_APP = web.AppKey("admin_app", web.Application)


def create_app(settings: ChannelsSettings) -> web.Application:
    """The public app (provider webhooks and health; it owns the lifecycle) and, in ``app[ADMIN_APP]``, the
    admin app the same process serves on ``admin_port``."""
    app = create_base_app(settings, client_max_size=settings.max_webhook_bytes, internal_auth=False,
                          metrics_route=False)
    app.middlewares.insert(0, webhook_metrics)
    limit_intake(app, IntakeLimits(header_timeout_s=settings.webhook_header_timeout_s,
                                   body_timeout_s=settings.webhook_body_timeout_s))
    app.cleanup_ctx.append(pg_pool_ctx(settings, migrations=("channels", MIGRATIONS)))
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, settings.service_name))
    app.cleanup_ctx.append(_http_ctx(settings))
    app.cleanup_ctx.append(_wiring_ctx(settings))
    if settings.smtp_enabled:
        app.cleanup_ctx.append(smtp_ctx(EMAIL_INGEST, host=settings.smtp_host, port=settings.smtp_port,
                                        hostname=settings.smtp_hostname, limits=smtp_limits(settings)))
    setup_webhook_routes(app)
    admin = create_admin_app(app, settings)
    app[ADMIN_APP] = admin
    app[SIDE_SITES].append((settings.admin_port, admin))
    return app


def create_admin_app(main: web.Application, settings: ChannelsSettings) -> web.Application:
    """``/channels``, ``/dead-letters``, ``/blobs`` and ``/metrics`` (internal token required but for the
    metrics and health), answering the readiness of the same lifecycle."""
    admin = create_base_app(settings, lifecycle=main[LIFECYCLE])
    admin[metrics.REFRESHERS] = main[metrics.REFRESHERS]
    admin[MAIN] = main
    setup_admin_routes(admin)
    return admin


@web.middleware
async def webhook_metrics(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """``sb_webhook_requests_total{channel_type,status}`` for ``/webhooks/<channel_type>/...`` (matched routes
    only, so the label is one of the five types)."""
    resource = request.match_info.route.resource
    if resource is None or not resource.canonical.startswith("/webhooks/"):
        return await handler(request)
    channel_type = resource.canonical.split("/", 3)[2]
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.WEBHOOKS.labels(channel_type, str(status)).inc()


def smtp_limits(settings: ChannelsSettings) -> SmtpLimits:
    return SmtpLimits(max_message_bytes=settings.max_email_bytes, max_recipients=settings.smtp_max_recipients,
                      max_sessions=settings.smtp_max_sessions, idle_timeout_s=settings.smtp_idle_timeout_s,
                      session_timeout_s=settings.smtp_session_timeout_s, max_commands=settings.smtp_max_commands)


def _http_ctx(settings: ChannelsSettings) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=settings.provider_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
            app[HTTP] = session
            yield

    return ctx


def _wiring_ctx(settings: ChannelsSettings) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool, js = app[PG_POOL], app[JETSTREAM]
        channel_rows = ChannelRepository(pool, settings.secret_box())
        await channel_rows.seal_stored_secrets()
        # Issue 13 item 12: a channel an active campaign uses, or with open conversations, is not deleted.
        campaigns = SnapshotDirectory()
        watch_snapshots(app, campaigns)
        signer = Signer.from_settings(settings, "channels")  # its own identity, to ask the router
        usage = RouterChannelUsage(campaigns, app[HTTP], settings.router_url, signer)
        registry = ChannelRegistry(channel_rows, lambda: PgUnitOfWork(channel_rows), SnapshotPublisher(js), usage)
        deliveries, threads = DeliveryRepository(pool), EmailThreadRepository(pool)
        blobs = MediaBlobs(BlobStore.from_settings(settings, settings.blob_dir))
        publisher = Publisher(JetStreamPublisher(js, settings.publish_timeout_s), deliveries)
        policy = RetryPolicy(attempts=settings.provider_attempts, max_wait_s=settings.provider_max_wait_s,
                             max_total_s=settings.provider_attempts * (settings.provider_timeout_s
                                                                       + settings.provider_max_wait_s))
        links = MediaLinks(blobs, [link_key(k) for _, k in settings.secret_box().keys], settings.public_base_url,
                           settings.media_link_ttl_s)
        graph = GraphSender(app[HTTP], settings.graph_base_url, settings.graph_version, policy, links)
        ari = AriOriginator(app[HTTP], settings.ari_base_url, policy)
        calls = VoiceCallRepository(pool)
        senders: dict[str, Sender] = {
            "whatsapp": graph, "instagram": graph,
            "sms": TwilioSender(app[HTTP], settings.twilio_base_url, policy, links, settings.public_base_url),
            "voice": ari,
            "email": SmtpSender(threads, blobs, policy, settings.provider_timeout_s),
        }
        deliverer = Deliverer(registry, deliveries, senders, publisher)
        app[REGISTRY], app[PUBLISHER], app[DELIVERER] = registry, publisher, deliverer
        app[EMAIL_INGEST] = EmailIngest(registry, publisher, threads, blobs)
        app[BLOBS], app[MEDIA_LINKS], app[CALLS] = blobs, links, CallEvents(calls, publisher, deliveries)
        app[PLACER] = CallPlacer(registry, deliveries, ari,
                                 TwilioVoice(app[HTTP], settings.twilio_base_url, policy, settings.public_base_url))
        if settings.demo_seed:
            await registry.seed_demo()
        await start_registry_watch(app, registry)
        if settings.outbound_consumer:
            start_outbound(app, deliverer, max_deliver=settings.outbound_max_deliver,
                           ack_wait_s=policy.max_total_s + 15)
            start_call_connector(app, CallConnector(registry, calls, ari), ack_wait_s=policy.max_total_s + 15)
        yield

    return ctx

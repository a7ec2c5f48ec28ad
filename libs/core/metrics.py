"""Prometheus metrics of every service: one registry, the names and labels operators alert on, and /metrics.

Every metric is declared here, so a name or a label set cannot drift between services. Labels are
bounded: ``route`` is the matched route pattern (``/webhooks/whatsapp/{channel_id}``), never the raw path;
consumers, streams and channel types are fixed by the code; campaigns and kinds by configuration.

On the per-message path, callers bind their label values once (``CONSUMER_MESSAGES.labels(...)``) and
keep the child: an increment is then one lock and one addition, with no dict lookup.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds: from a fast Redis decision (~1 ms) to a provider call that hits its timeout.
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("sb_http_requests", "HTTP requests answered, by matched route pattern and status.",
                        ["service", "route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("sb_http_request_seconds", "HTTP request duration, by matched route pattern.",
                         ["service", "route"], buckets=_LATENCY, registry=REGISTRY)
WEBHOOKS = Counter("sb_webhook_requests", "Provider webhooks answered, by channel type and HTTP status.",
                   ["channel_type", "status"], registry=REGISTRY)
CONSUMER_MESSAGES = Counter("sb_consumer_messages",
                            "Messages a JetStream consumer finished, by outcome: ack, nak, term or dead_letter.",
                            ["stream", "consumer", "outcome"], registry=REGISTRY)
CONSUMER_SECONDS = Histogram("sb_consumer_handle_seconds", "Time a consumer's handler took per message.",
                             ["consumer"], buckets=_LATENCY, registry=REGISTRY)
CONSUMER_PENDING = Gauge("sb_consumer_pending", "JetStream num_pending of a durable consumer (its lag), read "
                         "periodically.", ["stream", "consumer"], registry=REGISTRY)
CONSUMER_ERRORS = Counter("sb_consumer_errors", "Errors a consumer loop survived (fetch, ack, nak, term, "
                          "dead-letter, setup), by what failed.", ["consumer", "operation"], registry=REGISTRY)
PUBLISH_SECONDS = Histogram("sb_publish_seconds", "Time until JetStream acknowledged a publish.", ["stream"],
                            buckets=_LATENCY, registry=REGISTRY)
ROUTER_DECISION_SECONDS = Histogram("sb_router_decision_seconds", "Duration of one routing decision (a Redis "
                                    "Lua script), by script.", ["script"], buckets=_LATENCY, registry=REGISTRY)
ROUTER_QUEUE_DEPTH = Gauge("sb_router_queue_depth", "Conversations waiting in a campaign's queue.", ["campaign"],
                           registry=REGISTRY)
AGENTS = Gauge("sb_agents", "Agents of a campaign by presence status.", ["campaign", "status"], registry=REGISTRY)
OUTBOUND_SENDS = Counter("sb_outbound_sends", "Outbound sends to providers, by channel type and result.",
                         ["channel_type", "result"], registry=REGISTRY)
DEAD_LETTERS = Counter("sb_dead_letters", "Messages copied to the DEADLETTER stream by this process.",
                       ["stream", "consumer"], registry=REGISTRY)
DEAD_LETTER_REPLAYS = Counter("sb_dead_letter_replays", "Dead letters replayed, by stream and consumer.",
                              ["stream", "consumer"], registry=REGISTRY)
JOBS_ROWS = Counter("sb_jobs_rows", "Rows processed by bulk processes, by kind and outcome.", ["kind", "outcome"],
                    registry=REGISTRY)
JOBS = Counter("sb_jobs", "Bulk processes finished, by kind and final status.", ["kind", "status"],
               registry=REGISTRY)
WS_CONNECTIONS = Gauge("sb_ws_connections", "Open WebSocket connections of this gateway replica.",
                       registry=REGISTRY)
DB_POOL_IN_USE = Gauge("sb_db_pool_in_use", "PostgreSQL connections checked out of the pool.", ["service"],
                       registry=REGISTRY)
READY = Gauge("sb_ready", "1 when /readyz would answer 200.", ["service"], registry=REGISTRY)
TASKS_FAILED = Gauge("sb_background_tasks_failed", "Background loops (consumers, watchers) that ended while the "
                     "service was not stopping; /readyz is 503 while this is above 0.", ["service"],
                     registry=REGISTRY)

# Run before each scrape: gauges read from live objects (pool sizes, readiness) instead of on every change.
Refresher = Callable[[], Awaitable[None] | None]
REFRESHERS = web.AppKey("metrics_refreshers", list[Refresher])


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format of this process's registry."""
    for refresh in request.app.get(REFRESHERS, ()):
        result = refresh()
        if inspect.isawaitable(result):
            await result
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_refresher(app: web.Application, refresh: Refresher) -> None:
    """Run ``refresh`` before every scrape of this app's ``/metrics`` (the list is made by create_base_app)."""
    if REFRESHERS in app:
        app[REFRESHERS].append(refresh)

"""Every service is an aiohttp app: /healthz, /readyz, one error shape, and graceful shutdown in a budget."""

from __future__ import annotations

import asyncio
import gc
import itertools
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg
import nats.errors
import redis.exceptions
from aiohttp import web
from structlog.contextvars import bind_contextvars, reset_contextvars

from libs.core import metrics, tracing
from libs.core.auth import Verifier, internal_auth_middleware
from libs.core.errors import AppError
from libs.core.inputs import input_middleware, loads_json
from libs.core.intake import server_options
from libs.core.logging import configure_logging, get_logger
from libs.core.settings import ServiceSettings

log = get_logger(__name__)


class Lifecycle:
    """Readiness and the background work a service must finish before it stops.

    Consumers loop ``while not lifecycle.stopping.is_set()``: shutdown waits for the message in hand,
    not for the next one. A long-lived task that ends while the service is not stopping (it crashed, or
    returned) is recorded in ``failed``, and ``/readyz`` answers 503 naming it: a replica that consumes
    nothing must not look ready.
    """

    def __init__(self) -> None:
        self.ready = False
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._essential: set[asyncio.Task[Any]] = set()
        self.checks: list[Callable[[], Awaitable[bool]]] = []
        self.failed: dict[str, str] = {}

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, *, essential: bool = True) -> asyncio.Task[Any]:
        """Run a background task owned by the service.

        Args:
            essential: a loop meant to run until shutdown (a consumer, a watcher, a sweeper); if it ends
                early, readiness fails. Pass ``False`` for one-shot start-up work.
        """
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        if essential:
            self._essential.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        essential = task in self._essential
        self._essential.discard(task)
        if self.stopping.is_set():
            return
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("background_task_failed", task=task.get_name(), error=repr(error))
        if essential:
            reason = "cancelled" if task.cancelled() else repr(error) if error is not None else "returned"
            self.failed[task.get_name()] = reason
            log.error("background_task_ended", task=task.get_name(), reason=reason)

    async def unready_reasons(self) -> list[str]:
        """Why ``/readyz`` is 503 now: starting, draining, ended background tasks, failing checks; [] if ready."""
        if self.stopping.is_set():
            return ["stopping"]
        if not self.ready:
            return ["starting"]
        reasons = [f"task {name} ended: {why}" for name, why in sorted(self.failed.items())]
        for check in self.checks:
            try:
                ok = await asyncio.wait_for(check(), 2.0)
            except Exception:
                ok = False
            if not ok:
                reasons.append(f"check {getattr(check, '__name__', 'check')} failed")
        return reasons

    async def drain(self, budget_s: float) -> None:
        """Stop taking work, then wait up to ``budget_s`` for background tasks to finish."""
        self.ready = False
        self.stopping.set()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=budget_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("shutdown_budget_exceeded", cancelled=[t.get_name() for t in pending])
                await asyncio.gather(*pending, return_exceptions=True)


# What a request meets while Redis, PostgreSQL or NATS is down, restarting or loading its data (Redis's
# BusyLoadingError is a ConnectionError): 503 and Retry-After, never a 500 that reads as a bug.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, nats.errors.ConnectionClosedError,
    nats.errors.NoServersError, ConnectionError)

LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
SETTINGS = web.AppKey("settings", ServiceSettings)


def error_response(err: AppError) -> web.Response:
    return web.json_response(err.to_dict(), status=err.status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into the one error JSON shape."""
    try:
        return await handler(request)
    except AppError as err:
        if err.status >= 500:
            log.warning("request_failed", path=request.path, code=err.code, error=err.message)
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        return web.json_response(
            {"error": {"code": code, "message": exc.reason}}, status=exc.status, headers=_allow(exc)
        )
    except UNAVAILABLE as exc:  # a dependency is down or restarting: the caller may retry, nothing crashed
        log.warning("request_failed", path=request.path, code="unavailable", error=f"{type(exc).__name__}: {exc}")
        return web.json_response({"error": {"code": "unavailable", "message": "a dependency is unavailable, retry"}},
                                 status=503, headers={"Retry-After": "1"})
    except Exception:
        log.exception("request_crashed", path=request.path)
        return web.json_response({"error": {"code": "internal", "message": "internal error"}}, status=500)


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


async def read_json(request: web.Request) -> Any:
    """Parse a JSON body whose text PostgreSQL can store, or raise ``Invalid`` naming the field."""
    return loads_json(await request.read())


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def readyz_handler(lc: Lifecycle) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``GET /readyz``: 200 when ready, else 503 with ``reasons`` naming what is wrong."""

    async def readyz(request: web.Request) -> web.Response:
        reasons = await lc.unready_reasons()
        if reasons:
            return web.json_response({"status": "unavailable", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready"})

    return readyz


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID_HEADER = "X-Request-Id"


class RequestIds:
    """Request ids made by this process: a random prefix and a counter (unique across replicas, and far
    cheaper per request than a uuid4 from the OS's random source)."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:12]
        self.count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):x}"


def observe_middleware(service: str, *, access_log: bool) -> Any:
    """Request id (taken from ``X-Request-Id`` when sane, else made), bound to every log line of the request
    with the trace id when tracing is on; ``sb_http_*`` metrics by matched route pattern; optional access log.

    Per request: one regex match, two contextvar sets and resets, and one dict lookup for the metric children
    of (route, status), bound once (``python -m bench.metrics_overhead``)."""
    children: dict[tuple[str, int], tuple[Any, Any]] = {}
    new_id = RequestIds()

    def count(route: str, status: int, elapsed: float) -> None:
        pair = children.get((route, status))
        if pair is None:
            pair = children[(route, status)] = (metrics.HTTP_REQUESTS.labels(service, route, str(status)),
                                                metrics.HTTP_SECONDS.labels(service, route))
        pair[0].inc()
        pair[1].observe(elapsed)

    @web.middleware
    async def observe(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if given and _REQUEST_ID.match(given) else new_id()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        trace_id = tracing.current_trace_id()
        tokens = bind_contextvars(request_id=request_id, trace_id=trace_id) if trace_id else \
            bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            elapsed = time.perf_counter() - start
            count(route, status, elapsed)
            if access_log:
                log.info("http_request", method=request.method, route=route, path=request.path,
                         status=status, duration_ms=round(elapsed * 1000, 2), remote=request.remote)
            reset_contextvars(**tokens)

    return observe


def create_base_app(settings: ServiceSettings, *, client_max_size: int = 4 * 1024 * 1024,
                    metrics_route: bool = True, internal_auth: bool = True,
                    lifecycle: Lifecycle | None = None) -> web.Application:
    """The app every service starts from: settings, lifecycle, health routes, metrics and the middlewares.

    ``/metrics`` is served on this app unless ``metrics_route`` is false (the gateway, whose port is public,
    serves it on ``metrics_port`` instead, see ``add_metrics_site``).

    With ``internal_auth`` (the default: every internal API) each request but /healthz, /readyz and
    /metrics needs a valid internal token addressed to this service (``libs/core/auth.py``); the gateway's
    public API and the channels webhooks turn it off and authenticate their callers their own way.
    ``lifecycle``: share another app's (a second port of the same service answers the same readiness).
    """
    middlewares: list[Any] = [observe_middleware(settings.service_name, access_log=settings.access_log),
                              error_middleware]
    if internal_auth:
        middlewares.append(internal_auth_middleware(Verifier.from_settings(settings, settings.service_name)))
    middlewares.append(input_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[SETTINGS] = settings
    lc = app[LIFECYCLE] = lifecycle or Lifecycle()
    app[metrics.REFRESHERS] = [_readiness_gauges(settings.service_name, lc)]
    app[SIDE_SITES] = []
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", readyz_handler(lc))
    if metrics_route:
        app.router.add_get("/metrics", metrics.metrics_handler)
    app.on_shutdown.append(_drain_on_shutdown)
    return app


def _readiness_gauges(service: str, lc: Lifecycle) -> metrics.Refresher:
    ready, failed = metrics.READY.labels(service), metrics.TASKS_FAILED.labels(service)

    async def refresh() -> None:
        ready.set(0 if await lc.unready_reasons() else 1)
        failed.set(len(lc.failed))

    return refresh


# Extra listening sockets of a service, each with its own small app: (port, app).
SIDE_SITES = web.AppKey("side_sites", list[tuple[int, web.Application]])


def add_metrics_site(app: web.Application, port: int) -> None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` of ``app`` on a second, internal port as well."""
    side = web.Application()
    side[metrics.REFRESHERS] = app[metrics.REFRESHERS]
    side.router.add_get("/metrics", metrics.metrics_handler)
    side.router.add_get("/healthz", _healthz)
    side.router.add_get("/readyz", readyz_handler(app[LIFECYCLE]))
    app[SIDE_SITES].append((port, side))


async def _drain_on_shutdown(app: web.Application) -> None:
    # `serve` drains before cleanup; this covers runners that don't (test servers, embedding apps), so
    # consumers always stop before the cleanup contexts close NATS under them.
    await app[LIFECYCLE].drain(app[SETTINGS].shutdown_budget_s / 2)


async def serve(app: web.Application, host: str, port: int, budget_s: float) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully within ``budget_s`` seconds.

    Order: readiness turns 503 and consumers stop fetching; in-flight messages and HTTP requests finish;
    then the cleanup contexts run (NATS drains, pools close).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=budget_s / 2, access_log=None,
                           **server_options(app))
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    side_runners = []
    for side_port, side_app in app[SIDE_SITES]:
        side_runner = web.AppRunner(side_app, handle_signals=False, access_log=None)
        await side_runner.setup()
        side_runners.append(side_runner)
        try:
            await web.TCPSite(side_runner, host, side_port, reuse_address=True).start()
        except OSError as exc:
            # Several gateways on one machine (tests, benchmarks) share the default port: the others serve
            # without it. In a pod nothing else holds it; if it happens there, Prometheus finds the target down
            # (SwitchboardTargetDown) and this line says why.
            log.error("side_port_unavailable", port=side_port, error=str(exc))
    lc = app[LIFECYCLE]
    # Everything built at start-up lives as long as the process: move it out of the collector's sight, so
    # full collections under load walk only what requests create (they stalled services for 35-85 ms).
    gc.collect()
    gc.freeze()
    lc.ready = True
    log.info("service_started", host=host, port=port)
    await stop.wait()
    log.info("service_stopping", budget_s=budget_s)
    await lc.drain(budget_s / 2)
    await runner.cleanup()
    for side_runner in side_runners:
        await side_runner.cleanup()
    log.info("service_stopped")


S = TypeVar("S", bound=ServiceSettings)


def run_service(factory: Callable[[S], Awaitable[web.Application] | web.Application], settings: S) -> None:
    """Entry point used by each ``services/<name>/__main__.py``."""
    configure_logging(settings.service_name, settings.env, settings.log_level)
    tracing.configure(settings.service_name)

    async def main() -> None:
        made = factory(settings)
        app = await made if isinstance(made, Awaitable) else made
        await serve(app, settings.host, settings.port, settings.shutdown_budget_s)

    asyncio.run(main())

"""Every service is an aiohttp app: /healthz, /readyz, one error shape, and graceful shutdown in a budget."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from libs.core.errors import AppError
from libs.core.inputs import input_middleware, loads_json
from libs.core.intake import server_options
from libs.core.logging import configure_logging, get_logger
from libs.core.settings import ServiceSettings

log = get_logger(__name__)


class Lifecycle:
    """Readiness and the background work a service must finish before it stops.

    Consumers loop ``while not lifecycle.stopping.is_set()``: shutdown waits for the message in hand,
    not for the next one.
    """

    def __init__(self) -> None:
        self.ready = False
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.checks: list[Callable[[], Awaitable[bool]]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a long-lived background task (a consumer, a watcher) owned by the service."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self.stopping.is_set():
            log.error("background_task_failed", task=task.get_name(), error=repr(task.exception()))

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


async def _readyz(request: web.Request) -> web.Response:
    lc = request.app[LIFECYCLE]
    if not lc.ready or lc.stopping.is_set():
        return web.json_response({"status": "unavailable"}, status=503)
    for check in lc.checks:
        try:
            ok = await asyncio.wait_for(check(), 2.0)
        except Exception:
            ok = False
        if not ok:
            return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})


def create_base_app(settings: ServiceSettings, *, client_max_size: int = 4 * 1024 * 1024) -> web.Application:
    """The app every service starts from: settings, lifecycle, health routes and the error middleware."""
    app = web.Application(middlewares=[error_middleware, input_middleware], client_max_size=client_max_size)
    app[SETTINGS] = settings
    app[LIFECYCLE] = Lifecycle()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.on_shutdown.append(_drain_on_shutdown)
    return app


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
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=budget_s / 2, **server_options(app))
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
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
    log.info("service_stopped")


S = TypeVar("S", bound=ServiceSettings)


def run_service(factory: Callable[[S], Awaitable[web.Application] | web.Application], settings: S) -> None:
    """Entry point used by each ``services/<name>/__main__.py``."""
    configure_logging(settings.service_name, settings.env, settings.log_level)

    async def main() -> None:
        made = factory(settings)
        app = await made if isinstance(made, Awaitable) else made
        await serve(app, settings.host, settings.port, settings.shutdown_budget_s)

    asyncio.run(main())

"""asyncpg pool as an aiohttp cleanup context, and versioned SQL migrations under an advisory lock."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
from aiohttp import web
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from libs.core import metrics
from libs.core.logging import get_logger
from libs.core.service import SETTINGS
from libs.core.settings import ServiceSettings

log = get_logger(__name__)

PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
_MIGRATION = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Create a pool, retrying for a bounded time while the server starts."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((OSError, asyncpg.CannotConnectNowError)),
        stop=stop_after_delay(30),
        wait=wait_random_exponential(multiplier=0.2, max=2),
        reraise=True,
    ):
        with attempt:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=30)
    assert pool is not None
    return pool


def pg_pool_ctx(source: str | ServiceSettings, *, migrations: tuple[str, Path] | None = None
                ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that opens the pool and closes it; with ``migrations``, the service's schema is migrated
    first, or, when the settings say ``migrate_on_start=false`` (the migrate Job does it), waited for.

    ``source`` is the service's settings (pool sizes and migration policy from them) or a bare DSN.
    """
    settings = source if isinstance(source, ServiceSettings) else ServiceSettings(database_url=source)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, min_size=settings.database_pool_min,
                                 max_size=settings.database_pool_max)
        try:
            if migrations is not None and settings.migrate_on_start:
                await migrate(pool, *migrations)
            elif migrations is not None:
                await wait_for_migrations(pool, *migrations, timeout_s=settings.migrate_wait_s)
        except BaseException:
            await pool.close()
            raise
        app[PG_POOL] = pool
        metrics.add_refresher(app, _pool_gauge(pool, app.get(SETTINGS)))
        yield
        await pool.close()

    return ctx


def _pool_gauge(pool: asyncpg.Pool, settings: ServiceSettings | None) -> metrics.Refresher:
    gauge = metrics.DB_POOL_IN_USE.labels(settings.service_name if settings else "unknown")

    def refresh() -> None:
        gauge.set(pool.get_size() - pool.get_idle_size())

    return refresh


class MigrationsMissing(RuntimeError):
    """The service's schema is behind its code and this process may not migrate it."""


async def pending(pool: asyncpg.Pool, service: str, folder: Path) -> list[str]:
    """The service's migrations not yet applied (all of them when nothing was ever migrated)."""
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = {r["version"] for r in await conn.fetch(
            "SELECT version FROM schema_migrations WHERE service = $1", service)} if exists else set()
    return [name for version, name, _ in discover(folder) if version not in done]


async def wait_for_migrations(pool: asyncpg.Pool, service: str, folder: Path, *, timeout_s: float,
                              poll_s: float = 1.0) -> None:
    """Wait until every migration of the service is applied (by the migrate Job).

    Raises:
        MigrationsMissing: still pending after ``timeout_s``; the message names them and what to run.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while missing := await pending(pool, service, folder):
        if loop.time() >= deadline:
            raise MigrationsMissing(f"{service}: migrations {', '.join(missing)} are not applied after "
                                    f"{timeout_s:.0f} s; run `switchboard migrate` (the migrate Job)")
        log.info("waiting_for_migrations", service=service, pending=missing)
        await asyncio.sleep(poll_s)


def _advisory_key(service: str) -> int:
    return int.from_bytes(hashlib.sha256(f"switchboard:migrate:{service}".encode()).digest()[:8], "big", signed=True)


def discover(folder: Path) -> list[tuple[int, str, str]]:
    """The migrations of a folder, ordered: ``(version, name, sql)``.

    Raises:
        ValueError: a file name does not follow ``NNN_name.sql`` or two files share a version.
    """
    found: dict[int, tuple[int, str, str]] = {}
    for path in sorted(folder.glob("*.sql")):
        m = _MIGRATION.match(path.name)
        if not m:
            raise ValueError(f"migration file {path.name!r} does not match NNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise ValueError(f"two migrations share version {version}: {found[version][1]}, {path.name}")
        found[version] = (version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(pool: asyncpg.Pool, service: str, folder: Path) -> list[str]:
    """Apply the service's pending migrations, each in its own transaction, under an advisory lock.

    Several replicas can start at once: the lock makes one migrate while the others wait, and then find
    nothing left to do. Returns the names applied by this call.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _advisory_key(service))
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       service text NOT NULL, version int NOT NULL, name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, version))"""
            )
            done = {r["version"] for r in await conn.fetch(
                "SELECT version FROM schema_migrations WHERE service = $1", service)}
            for version, name, sql in discover(folder):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)",
                        service, version, name,
                    )
                applied.append(name)
                log.info("migration_applied", service=service, migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _advisory_key(service))
    return applied

"""asyncpg pool as an aiohttp cleanup context, and versioned SQL migrations under an advisory lock."""

from __future__ import annotations

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


def pg_pool_ctx(dsn: str, *, migrations: tuple[str, Path] | None = None
                ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` that opens the pool (and migrates the service's schema) and closes it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(dsn)
        if migrations is not None:
            await migrate(pool, *migrations)
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

"""Redis connection as an aiohttp cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

REDIS = web.AppKey("redis", aioredis.Redis)


def connect_redis(url: str, **options: Any) -> aioredis.Redis:
    """A client with text replies; ``options`` go to the connections (e.g. ``redis_connect_func``)."""
    return aioredis.from_url(url, decode_responses=True, health_check_interval=15,
                             socket_connect_timeout=5, retry_on_timeout=True, **options)


def redis_ctx(url: str, **options: Any) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = connect_redis(url, **options)
        await client.ping()
        app[REDIS] = client
        yield
        await client.aclose()

    return ctx

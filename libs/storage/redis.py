"""Redis connection as an aiohttp cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from aiohttp import web

REDIS = web.AppKey("redis", aioredis.Redis)


def connect_redis(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=True, health_check_interval=15,
                             socket_connect_timeout=5, retry_on_timeout=True)


def redis_ctx(url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = connect_redis(url)
        await client.ping()
        app[REDIS] = client
        yield
        await client.aclose()

    return ctx

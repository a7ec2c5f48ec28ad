"""Redis connection as an aiohttp cleanup context: one server (``SB_REDIS_URL``) or a Sentinel-watched primary.

With ``SB_REDIS_SENTINELS`` the client asks the sentinels which node is the primary of
``SB_REDIS_MASTER_NAME`` and talks to it; when a connection fails (the primary died, or was demoted) it asks
again, so after a failover it follows the promoted replica without a restart. Replication is asynchronous:
what the old primary acknowledged in its last moments may be missing on the new one. docs/deployment.md says
what that can lose and how the router's rebuild from the durable record covers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from libs.core.settings import ServiceSettings

REDIS = web.AppKey("redis", aioredis.Redis)

_OPTIONS: dict[str, Any] = {"decode_responses": True, "health_check_interval": 15, "socket_connect_timeout": 5,
                            "retry_on_timeout": True}
MAX_CONNECTIONS, POOL_TIMEOUT_S = 64, 10.0  # SB_REDIS_MAX_CONNECTIONS, SB_REDIS_POOL_TIMEOUT_S


class BlockingSentinelPool(BlockingConnectionPool, SentinelConnectionPool):
    """The Sentinel-watched primary's pool, bounded like ``BlockingConnectionPool``: a caller past
    ``max_connections`` waits for a connection instead of failing with "Too many connections"."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        kwargs.setdefault("connection_class", SentinelManagedConnection)
        BlockingConnectionPool.__init__(self, service_name=service_name, sentinel_manager=sentinel_manager, **kwargs)


def parse_sentinels(spec: str) -> list[tuple[str, int]]:
    """``"host:port,host:port"`` as address pairs (port 26379 when left out).

    Raises:
        ValueError: an entry is not ``host[:port]``.
    """
    found: list[tuple[str, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "26379")
        if not host or not port.isdigit():
            raise ValueError(f"SB_REDIS_SENTINELS entry {part!r} is not host:port")
        found.append((host, int(port)))
    return found


def connect_redis(source: str | ServiceSettings, **options: Any) -> aioredis.Redis:
    """A client with text replies for ``SB_REDIS_URL``, or, when the settings name sentinels, for the primary they
    report; ``options`` go to the connections (e.g. ``redis_connect_func``). Its pool holds at most
    ``SB_REDIS_MAX_CONNECTIONS`` connections, and a command beyond them waits up to ``SB_REDIS_POOL_TIMEOUT_S``
    for one (a supervisor's dashboard over hundreds of campaigns made the router answer 500 with redis-py's
    default pool, which refuses the 101st command in flight)."""
    bound: dict[str, Any] = {"max_connections": MAX_CONNECTIONS, "timeout": POOL_TIMEOUT_S}
    if isinstance(source, str):
        return aioredis.Redis.from_pool(BlockingConnectionPool.from_url(source, **bound, **_OPTIONS, **options))
    bound = {"max_connections": source.redis_max_connections, "timeout": source.redis_pool_timeout_s}
    if not source.redis_sentinels:
        extra = {"password": source.redis_password} if source.redis_password else {}
        return aioredis.Redis.from_pool(BlockingConnectionPool.from_url(source.redis_url, **bound, **_OPTIONS,
                                                                        **extra, **options))
    # A failover takes the sentinels a few seconds (down-after + election): retry connection errors over that
    # window, each retry asking the sentinels for the primary again.
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=12)
    sentinel = Sentinel(parse_sentinels(source.redis_sentinels), socket_timeout=2,
                        sentinel_kwargs={"password": source.redis_sentinel_password or None, "socket_timeout": 2},
                        password=source.redis_password or None)
    return sentinel.master_for(source.redis_master_name, connection_pool_class=BlockingSentinelPool, retry=retry,
                               retry_on_error=[RedisConnectionError, RedisTimeoutError, ReadOnlyError],
                               **bound, **_OPTIONS, **options)


def redis_ctx(source: str | ServiceSettings, **options: Any) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = connect_redis(source, **options)
        await client.ping()
        app[REDIS] = client
        yield
        await client.aclose()

    return ctx

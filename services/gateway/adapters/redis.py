"""Redis adapters: the login counters, the one-time use of refresh tokens, and revoked sessions."""

from __future__ import annotations

import redis.asyncio as aioredis

# One atomic step: count the failure and start the window with the first one (works on Redis 6).
_COUNT_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class LoginLimiter:
    """Counts failed logins per (username, client IP) and per username in a fixed window, and every login
    attempt per client IP in a minute."""

    def __init__(self, redis: aioredis.Redis, max_failures: int, window_s: int) -> None:
        self._redis = redis
        self.max_failures = max_failures
        self.window_s = window_s

    async def attempt_from(self, ip: str) -> int:
        """Count one login attempt from ``ip``; the attempts in its current minute, this one included."""
        return int(await self._redis.eval(_COUNT_FAILURE, 1, f"gw:login-ip:{ip}", 60))

    async def account_failures(self, username: str) -> int:
        """Failed logins on ``username`` in the window, from every client IP."""
        return int(await self._redis.get(f"gw:login-user:{username}") or 0)

    @staticmethod
    def _key(username: str, ip: str) -> str:
        return f"gw:login:{username}:{ip}"

    async def blocked_for(self, username: str, ip: str) -> int:
        """Seconds until this pair may try again; 0 when it may try now."""
        key = self._key(username, ip)
        count = await self._redis.get(key)
        if count is None or int(count) < self.max_failures:
            return 0
        return max(1, int(await self._redis.ttl(key)))

    async def failed(self, username: str, ip: str) -> None:
        await self._redis.eval(_COUNT_FAILURE, 1, self._key(username, ip), self.window_s)
        await self._redis.eval(_COUNT_FAILURE, 1, f"gw:login-user:{username}", self.window_s)

    async def succeeded(self, username: str, ip: str) -> None:
        await self._redis.delete(self._key(username, ip))


class RefreshLedger:
    """Remembers used refresh-token ids, so each refresh token works exactly once (rotation)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def use(self, jti: str, ttl_s: int) -> bool:
        """Mark ``jti`` used; False if it had been used already."""
        return bool(await self._redis.set(f"gw:refresh:used:{jti}", "1", nx=True, ex=max(1, ttl_s)))


class SessionStore:
    """Revoked login sessions (token families) and a short-lived copy of each user's token version, read
    together in one round trip per request."""

    def __init__(self, redis: aioredis.Redis, cache_s: int) -> None:
        self._redis = redis
        self.cache_s = cache_s

    async def state(self, user_id: str, family: str) -> tuple[int | None, bool]:
        """The cached token version of ``user_id`` (None: not cached) and whether ``family`` is revoked."""
        version, revoked = await self._redis.mget(f"gw:tv:{user_id}", f"gw:fam-revoked:{family}")
        return (None if version is None else int(version)), revoked is not None

    async def remember_version(self, user_id: str, version: int) -> None:
        await self._redis.set(f"gw:tv:{user_id}", str(version), ex=self.cache_s)

    async def revoke(self, family: str, ttl_s: int) -> None:
        await self._redis.set(f"gw:fam-revoked:{family}", "1", ex=max(1, ttl_s))

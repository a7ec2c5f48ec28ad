"""What the gateway's use cases need from the outside world, as interfaces (no driver imported here): the
users table, the login limiter and refresh ledger in Redis, and the other services' internal APIs."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any, Protocol

from libs.core.errors import AppError
from services.gateway.domain import Principal, Role, User


class UpstreamError(AppError):
    """An error answered by another service, passed through with its status, code and field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, details: Any = None) -> None:
        super().__init__(message, field=field, details=details)
        self.status = status
        self.code = code


class UserStore(Protocol):
    """Users (``adapters.postgres.UsersRepo``); a taken id or username is ``Conflict``, a missing one ``NotFound``."""

    async def by_username(self, username: str) -> User | None: ...
    async def by_id(self, user_id: str) -> User | None: ...
    async def get(self, user_id: str) -> User: ...
    async def names(self, user_ids: list[str]) -> dict[str, str]: ...
    async def list(self, role: str | None = None, *, limit: int = 500, after: str | None = None) -> list[User]: ...
    async def create(self, *, id: str, username: str, display_name: str, role: Role, password_hash: str,
                     if_absent: bool = False, email: str | None = None) -> User | None: ...
    async def update(self, user_id: str, changes: dict[str, Any]) -> User: ...
    async def session_state(self, user_id: str) -> tuple[int, bool] | None: ...


class UserDirectory(Protocol):
    """Where other services learn a user's name and e-mail (KV ``users``, ``adapters.directory``)."""

    async def put(self, user: User) -> None: ...


class LoginLimits(Protocol):
    """Failed logins per (username, client IP) and per username in a window, attempts per client IP in a
    minute (``adapters.redis.LoginLimiter``)."""

    max_failures: int

    async def attempt_from(self, ip: str) -> int: ...
    async def account_failures(self, username: str) -> int: ...
    async def blocked_for(self, username: str, ip: str) -> int: ...
    async def failed(self, username: str, ip: str) -> None: ...
    async def succeeded(self, username: str, ip: str) -> None: ...


class RefreshTokens(Protocol):
    """One-time use of refresh tokens (``adapters.redis.RefreshLedger``)."""

    async def use(self, jti: str, ttl_s: int) -> bool: ...


class Sessions(Protocol):
    """Revoked token families and cached token versions (``adapters.redis.SessionStore``)."""

    cache_s: int

    async def state(self, user_id: str, family: str) -> tuple[int | None, bool]: ...
    async def remember_version(self, user_id: str, version: int) -> None: ...
    async def revoke(self, family: str, ttl_s: int) -> None: ...


class Service(Protocol):
    """Another service's internal API (``adapters.upstream.Upstream``): its JSON answers, its errors passed
    through as ``UpstreamError``, ``Transient`` when it is unreachable."""

    name: str

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: Mapping[str, str] | None = None, caller: Principal | None = None) -> Any: ...

    async def exchange(self, method: str, path: str, *, json_body: Any = None,
                       params: Mapping[str, str] | None = None, caller: Principal | None = None,
                       data: AsyncIterable[bytes] | None = None, content_type: str | None = None,
                       downloads: bool = False) -> tuple[int, Any]: ...

    async def get(self, path: str, params: Mapping[str, str] | None = None, *,
                  caller: Principal | None = None) -> Any: ...

    async def post(self, path: str, body: Any = None, *, caller: Principal | None = None) -> Any: ...

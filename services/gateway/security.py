"""Password hashing (argon2) and JWT access/refresh tokens (PyJWT, HS256)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from libs.core.errors import RateLimited, Unauthorized
from services.gateway.domain import ROLES, Principal

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"

_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("switchboard-no-such-user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check: an unknown user still pays one argon2 verification."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class HashSlots:
    """Bounds the argon2 work running at once (each verification takes the hasher's ``memory_cost``, 64 MiB by
    default): ``size`` run, at most ``queue`` wait, and any more login is refused at once with 429, before any
    hashing. A flood of logins then costs at most ``size`` x 64 MiB, whatever its size."""

    def __init__(self, size: int, queue: int) -> None:
        self.size = size
        self.queue = queue
        self._slots = asyncio.Semaphore(size)
        self.waiting = 0
        self.running = 0
        self.peak = 0  # the most verifications seen running at once (for tests and operators)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked() and self.waiting >= self.queue:
            raise RateLimited("too many logins at once; try again in a second", field="username",
                              details={"retry_after_s": 1})
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


class TokenExpired(Unauthorized):
    code = "token_expired"


class TokenInvalid(Unauthorized):
    code = "token_invalid"


@dataclass(frozen=True)
class TokenClaims:
    """A verified token. ``family``: the login session every token refreshed from one login shares (reusing a
    refresh token or logging out revokes it whole); ``version``: the user's token version when it was issued
    (a deactivation, a role or a password change bumps it, and older tokens stop working at once)."""

    principal: Principal
    token_type: TokenType
    jti: str
    expires_at: int
    family: str = ""
    version: int = 0


class TokenIssuer:
    """Issues and verifies the gateway's tokens."""

    def __init__(self, secret: str, issuer: str, access_ttl_s: int, refresh_ttl_s: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(self, p: Principal, token_type: TokenType, *, now: float | None = None, family: str | None = None,
              version: int = 0) -> str:
        issued = int(now if now is not None else time.time())
        ttl = self.access_ttl_s if token_type == "access" else self.refresh_ttl_s
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": p.user_id,
            "usr": p.username,
            "role": p.role,
            "typ": token_type,
            "iat": issued,
            "exp": issued + ttl,
            "jti": uuid.uuid4().hex,
            "fam": family or uuid.uuid4().hex,
            "ver": version,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def pair(self, p: Principal, *, family: str | None = None, version: int = 0) -> dict[str, Any]:
        """The login/refresh answer: a new session ``family`` at login, the refreshed token's on a refresh."""
        family = family or uuid.uuid4().hex
        return {
            "access_token": self.issue(p, "access", family=family, version=version),
            "refresh_token": self.issue(p, "refresh", family=family, version=version),
            "token_type": "bearer",
            "expires_in": self.access_ttl_s,
            "user": {"id": p.user_id, "username": p.username, "role": p.role},
        }

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        """Decode and check a token.

        Raises:
            TokenExpired: the token's ``exp`` has passed.
            TokenInvalid: bad signature, wrong issuer or type, or missing claims.
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("the token has expired; refresh it or log in again") from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid token: {exc}") from exc
        if claims.get("typ") != expected:
            raise TokenInvalid(f"a {expected} token is required")
        role = claims.get("role")
        if role not in ROLES:
            raise TokenInvalid("invalid token: unknown role")
        p = Principal(user_id=str(claims["sub"]), username=str(claims.get("usr", "")), role=role)
        try:
            version = int(claims.get("ver", 0))
        except (TypeError, ValueError) as exc:
            raise TokenInvalid("invalid token: bad version") from exc
        return TokenClaims(principal=p, token_type=expected, jti=str(claims["jti"]), expires_at=int(claims["exp"]),
                           family=str(claims.get("fam") or claims["jti"]), version=version)

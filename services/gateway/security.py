"""Password hashing (argon2) and JWT access/refresh tokens (PyJWT, HS256)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from libs.core.errors import Unauthorized
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


class TokenExpired(Unauthorized):
    code = "token_expired"


class TokenInvalid(Unauthorized):
    code = "token_invalid"


@dataclass(frozen=True)
class TokenClaims:
    principal: Principal
    token_type: TokenType
    jti: str
    expires_at: int


class TokenIssuer:
    """Issues and verifies the gateway's tokens."""

    def __init__(self, secret: str, issuer: str, access_ttl_s: int, refresh_ttl_s: int) -> None:
        self._secret = secret
        self._issuer = issuer
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(self, p: Principal, token_type: TokenType, *, now: float | None = None) -> str:
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
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def pair(self, p: Principal) -> dict[str, Any]:
        """The login/refresh answer."""
        return {
            "access_token": self.issue(p, "access"),
            "refresh_token": self.issue(p, "refresh"),
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
        return TokenClaims(principal=p, token_type=expected, jti=str(claims["jti"]), expires_at=int(claims["exp"]))

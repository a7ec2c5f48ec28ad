"""Internal calls are authenticated: short-lived Ed25519-signed tokens, verified by every service.

The gateway signs one token per upstream call, on behalf of the user (``sub`` = user id, ``role``,
``cmp`` = the campaigns in the caller's scope, ``"*"`` for all). A service calling another not on behalf of
a user (the CLI to the CRM) signs with its own identity (``sub`` = ``service:<name>``, ``role`` =
``service``). Every internal service runs :func:`internal_auth_middleware`: no valid token, 401.

Keys. Each signer has an Ed25519 private key and a key id (``kid``, in the token's header); every verifier
has the trusted public keys by ``kid``, each bound to the one issuer that may use it. Only a key bound to
the ``gateway`` issuer may sign for a user; any other key signs only its own service identity. Settings:

- ``SB_AUTH_PUBLIC_KEYS``: JSON ``{"<kid>": {"issuer": "<name>", "key": "<base64 raw public key>"}}``;
- ``SB_<SERVICE>_AUTH_PRIVATE_KEY`` (base64 raw 32-byte seed) and ``SB_<SERVICE>_AUTH_KID``: the signer's.

Rotation: add the new public key everywhere, switch the signer to the new private key and kid, remove the
old public key once the longest token lifetime has passed.

Without ``SB_AUTH_PUBLIC_KEYS`` and outside production, development keys are used: one random master
secret in ``SB_AUTH_DEV_DIR`` (default ``.data/auth``), created on first use, from which each issuer's key
(``kid`` = ``dev-<issuer>``) is derived, so every process of a checkout agrees without configuration. In
production the dev keys are never used and the service refuses to start without configured keys.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from libs.core.errors import Forbidden, Unauthorized

ALGORITHM = "EdDSA"
GATEWAY = "gateway"
SERVICE_ROLE = "service"
USER_ROLES = ("admin", "supervisor", "agent")
ALL_CAMPAIGNS = "*"
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
DEV_MASTER = "dev-master.key"
DEV_KID_PREFIX = "dev-"


class AuthConfigError(RuntimeError):
    """The keys in the settings are missing or malformed."""


class InternalTokenInvalid(Unauthorized):
    code = "internal_token_invalid"


class InternalTokenExpired(Unauthorized):
    code = "internal_token_expired"


# --- callers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who an internal request comes from, as its verified token says."""

    subject: str  # the user id, or ``service:<name>``
    role: str  # admin | supervisor | agent | service
    issuer: str
    campaigns: frozenset[str] | None = None  # None: every campaign (admins, services)

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE_ROLE

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def user_id(self) -> str:
        return self.subject

    def in_scope(self, campaign_id: str | None) -> bool:
        """Whether a campaign is in the caller's scope (admins and services: every campaign)."""
        return self.campaigns is None or (campaign_id is not None and campaign_id in self.campaigns)

    def require(self, roles: Iterable[str], what: str) -> None:
        """Refuse (403) a caller whose role is not one of ``roles`` (services always pass).

        Raises:
            Forbidden: naming the role and ``what`` was refused.
        """
        if not self.is_service and self.role not in roles:
            raise Forbidden(f"a {self.role} may not {what}", field="role")

    def require_scope(self, campaign_id: str | None, field: str = "campaign_id") -> None:
        """Refuse (403) a campaign outside the caller's scope.

        Raises:
            Forbidden: naming ``field``.
        """
        if not self.in_scope(campaign_id):
            raise Forbidden(f"campaign {campaign_id!r} is not in your scope", field=field)


CALLER = web.RequestKey("caller", Caller)


def caller_of(request: web.Request) -> Caller:
    """The verified caller of an internal request (set by :func:`internal_auth_middleware`)."""
    return request[CALLER]


# --- keys ------------------------------------------------------------------------------------------


def _b64decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def private_key(seed_b64: str) -> Ed25519PrivateKey:
    try:
        seed = _b64decode(seed_b64)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError as exc:
        raise AuthConfigError("an auth private key must be the base64 of a raw 32-byte Ed25519 seed") from exc


def public_key(key_b64: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(_b64decode(key_b64))
    except ValueError as exc:
        raise AuthConfigError("an auth public key must be the base64 of a raw 32-byte Ed25519 key") from exc


def public_b64(key: Ed25519PrivateKey) -> str:
    return b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def new_key_pair(issuer: str, kid: str) -> dict[str, Any]:
    """A fresh key: the private seed for the signer's settings, and its ``SB_AUTH_PUBLIC_KEYS`` entry."""
    seed = secrets.token_bytes(32)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return {"kid": kid, "issuer": issuer, "private_key": b64(seed),
            "public_keys_entry": {kid: {"issuer": issuer, "key": public_b64(key)}}}


class DevKeys:
    """Development keys derived from one random master secret kept in ``folder`` (never in production)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._master: bytes | None = None
        self._keys: dict[str, Ed25519PrivateKey] = {}

    def master(self) -> bytes:
        if self._master is None:
            path = self.folder / DEV_MASTER
            if not path.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp = self.folder / f".{DEV_MASTER}.{os.getpid()}.{secrets.token_hex(4)}"
                tmp.write_bytes(secrets.token_bytes(32))
                tmp.chmod(0o600)
                try:
                    os.link(tmp, path)  # atomic: the first process to get here wins, the others read its secret
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            master = path.read_bytes()
            if len(master) != 32:
                raise AuthConfigError(f"{path} must hold 32 bytes; delete it to make a new one")
            self._master = master
        return self._master

    def key(self, issuer: str) -> Ed25519PrivateKey:
        if issuer not in self._keys:
            seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                        info=f"switchboard-dev-auth:{issuer}".encode()).derive(self.master())
            self._keys[issuer] = Ed25519PrivateKey.from_private_bytes(seed)
        return self._keys[issuer]


@dataclass(frozen=True)
class TrustedKey:
    issuer: str
    key: Ed25519PublicKey


def parse_public_keys(raw: str) -> dict[str, TrustedKey]:
    """``SB_AUTH_PUBLIC_KEYS``: ``{"<kid>": {"issuer": "...", "key": "<base64>"}}``."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AuthConfigError(f"SB_AUTH_PUBLIC_KEYS is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise AuthConfigError("SB_AUTH_PUBLIC_KEYS must be a JSON object of kid -> {issuer, key}")
    out: dict[str, TrustedKey] = {}
    for kid, entry in data.items():
        if not isinstance(entry, dict) or not entry.get("issuer") or not entry.get("key"):
            raise AuthConfigError(f"SB_AUTH_PUBLIC_KEYS[{kid!r}] needs an issuer and a key")
        out[str(kid)] = TrustedKey(str(entry["issuer"]), public_key(str(entry["key"])))
    return out


class AuthSettingsLike:
    """What :func:`keys_from` reads from a service's settings (see ``libs.core.settings``)."""

    env: str
    auth_public_keys: str
    auth_private_key: Any
    auth_kid: str
    auth_dev_dir: Path
    auth_ttl_s: float
    auth_max_ttl_s: float


def _secret(value: Any) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value or "")


# --- signing ---------------------------------------------------------------------------------------


class Signer:
    """Signs internal tokens as one issuer with one key."""

    def __init__(self, issuer: str, kid: str, key: Ed25519PrivateKey, ttl_s: float = 60.0) -> None:
        self.issuer = issuer
        self.kid = kid
        self._key = key
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, settings: Any, issuer: str) -> Signer:
        """The signer of this service: its configured key, or the development key of ``issuer``.

        Raises:
            AuthConfigError: production without a private key and kid.
        """
        seed = _secret(settings.auth_private_key)
        if seed:
            if not settings.auth_kid:
                raise AuthConfigError(f"a private key needs its key id: set SB_{issuer.upper()}_AUTH_KID")
            return cls(issuer, settings.auth_kid, private_key(seed), settings.auth_ttl_s)
        if settings.env == "production":
            raise AuthConfigError(f"SB_{issuer.upper()}_AUTH_PRIVATE_KEY and SB_{issuer.upper()}_AUTH_KID are "
                                  "required in production")
        return cls(issuer, DEV_KID_PREFIX + issuer, DevKeys(settings.auth_dev_dir).key(issuer), settings.auth_ttl_s)

    def for_user(self, audience: str, user_id: str, role: str, campaigns: Iterable[str] | None,
                 *, now: float | None = None, ttl_s: float | None = None) -> str:
        """A token for a call to ``audience`` on behalf of a user (only the gateway's key may)."""
        scope: Any = ALL_CAMPAIGNS if campaigns is None else sorted(campaigns)
        return self._sign(audience, user_id, role, scope, now, ttl_s)

    def for_service(self, audience: str, *, now: float | None = None, ttl_s: float | None = None) -> str:
        """A token for a call to ``audience`` as this service itself."""
        return self._sign(audience, f"service:{self.issuer}", SERVICE_ROLE, ALL_CAMPAIGNS, now, ttl_s)

    def _sign(self, audience: str, subject: str, role: str, scope: Any, now: float | None,
              ttl_s: float | None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {"iss": self.issuer, "aud": audience, "sub": subject, "role": role, "cmp": scope,
                  "iat": issued, "exp": issued + int(ttl_s if ttl_s is not None else self.ttl_s)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


# --- verifying -------------------------------------------------------------------------------------


class Verifier:
    """Verifies internal tokens addressed to one service."""

    def __init__(self, audience: str, keys: Mapping[str, TrustedKey], *, dev: DevKeys | None = None,
                 max_ttl_s: float = 300.0, leeway_s: float = 5.0) -> None:
        self.audience = audience
        self._keys = dict(keys)
        self._dev = dev
        self.max_ttl_s = max_ttl_s
        self.leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: Any, audience: str) -> Verifier:
        """The verifier of this service: the configured public keys, or the development keys.

        Raises:
            AuthConfigError: production without ``SB_AUTH_PUBLIC_KEYS``, or malformed keys.
        """
        if settings.auth_public_keys:
            return cls(audience, parse_public_keys(settings.auth_public_keys), max_ttl_s=settings.auth_max_ttl_s)
        if settings.env == "production":
            raise AuthConfigError("SB_AUTH_PUBLIC_KEYS is required in production")
        return cls(audience, {}, dev=DevKeys(settings.auth_dev_dir), max_ttl_s=settings.auth_max_ttl_s)

    def _trusted(self, kid: str) -> TrustedKey | None:
        if kid in self._keys:
            return self._keys[kid]
        if self._dev is not None and kid.startswith(DEV_KID_PREFIX) and len(kid) > len(DEV_KID_PREFIX):
            issuer = kid[len(DEV_KID_PREFIX):]
            self._keys[kid] = TrustedKey(issuer, self._dev.key(issuer).public_key())
            return self._keys[kid]
        return None

    def verify(self, token: str) -> Caller:
        """The caller named by a valid token.

        Raises:
            InternalTokenExpired: its ``exp`` has passed.
            InternalTokenInvalid: unknown key, bad signature, another audience, a lifetime longer than
                allowed, or claims the key's issuer may not make.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InternalTokenInvalid(f"invalid internal token: {exc}") from exc
        kid = header.get("kid")
        trusted = self._trusted(kid) if isinstance(kid, str) else None
        if trusted is None:
            raise InternalTokenInvalid(f"internal token signed with an unknown key {kid!r}")
        try:
            claims = jwt.decode(token, trusted.key, algorithms=[ALGORITHM], audience=self.audience,
                                issuer=trusted.issuer, leeway=self.leeway_s,
                                options={"require": ["iss", "aud", "sub", "iat", "exp"]})
        except jwt.ExpiredSignatureError as exc:
            raise InternalTokenExpired("the internal token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InternalTokenInvalid(f"invalid internal token: {exc}") from exc
        if claims["exp"] - claims["iat"] > self.max_ttl_s:
            raise InternalTokenInvalid(f"internal tokens live at most {self.max_ttl_s:.0f} s")
        return self._caller(trusted.issuer, claims)

    @staticmethod
    def _caller(issuer: str, claims: Mapping[str, Any]) -> Caller:
        role, subject, scope = claims.get("role"), str(claims["sub"]), claims.get("cmp")
        if role == SERVICE_ROLE:
            if subject != f"service:{issuer}":
                raise InternalTokenInvalid(f"a {issuer} key signs only as service:{issuer}")
            return Caller(subject, SERVICE_ROLE, issuer)
        if issuer != GATEWAY:
            raise InternalTokenInvalid("only the gateway signs on behalf of users")
        if role not in USER_ROLES or not subject:
            raise InternalTokenInvalid("invalid internal token: unknown role")
        if scope == ALL_CAMPAIGNS and role == "admin":
            campaigns = None
        elif isinstance(scope, list) and all(isinstance(c, str) for c in scope):
            campaigns = frozenset(scope)
        else:
            raise InternalTokenInvalid("invalid internal token: cmp must list campaign ids")
        return Caller(subject, str(role), issuer, campaigns)


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def internal_auth_middleware(verifier: Verifier, exempt: frozenset[str] = EXEMPT) -> Any:
    """Every request but ``exempt`` paths must carry a valid internal token addressed to this service."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path in exempt:
            return await handler(request)
        token = bearer(request)
        if token is None:
            raise Unauthorized("internal call without a token: send 'Authorization: Bearer <internal token>'",
                               field="Authorization")
        request[CALLER] = verifier.verify(token)
        return await handler(request)

    return middleware


def service_auth(signer: Signer, audience: str) -> Callable[[ClientRequest, ClientHandlerType],
                                                            Awaitable[ClientResponse]]:
    """An aiohttp client middleware: every request without an ``Authorization`` header gets a fresh
    service token of ``signer`` for ``audience``."""

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if "Authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {signer.for_service(audience)}"
        return await handler(request)

    return middleware


# Every issuer that signs internal tokens in a deployment: the gateway (for users) and the services that call
# another as themselves (router -> CRM, CRM -> channels, channels -> router), and the operator's CLI.
SIGNERS = ("gateway", "router", "crm", "channels", "cli")


class KeySet:
    """Fresh keys for a set of issuers, as a production-like environment needs them (benchmarks, tests of
    the production settings): ``env()`` holds ``SB_AUTH_PUBLIC_KEYS`` and each issuer's private key and kid;
    ``signer(issuer)`` signs as one of them."""

    def __init__(self, issuers: Iterable[str], version: str = "1") -> None:
        self._pairs = {issuer: new_key_pair(issuer, f"{issuer}-{version}") for issuer in issuers}

    def env(self) -> dict[str, str]:
        public: dict[str, Any] = {}
        out: dict[str, str] = {}
        for issuer, pair in self._pairs.items():
            public.update(pair["public_keys_entry"])
            out[f"SB_{issuer.upper()}_AUTH_PRIVATE_KEY"] = pair["private_key"]
            out[f"SB_{issuer.upper()}_AUTH_KID"] = pair["kid"]
        out["SB_AUTH_PUBLIC_KEYS"] = json.dumps(public)
        return out

    def signer(self, issuer: str, ttl_s: float = 60.0) -> Signer:
        pair = self._pairs[issuer]
        return Signer(issuer, pair["kid"], private_key(pair["private_key"]), ttl_s)

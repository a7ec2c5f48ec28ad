"""Webhook signatures: Meta's ``X-Hub-Signature-256`` and Twilio's ``X-Twilio-Signature``, compared in
constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def meta_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_ok(secret: str | None, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(meta_signature(secret, body).encode(), header.strip().lower().encode())


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's documented algorithm: Base64(HMAC-SHA1(auth token, URL + each POST parameter name and
    value, sorted by name)). Repeated names keep their values in order, sorted by value as Twilio does."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_signature_ok(auth_token: str | None, url: str, params: Iterable[tuple[str, str]],
                        header: str | None) -> bool:
    if not auth_token or not header:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params).encode(), header.strip().encode())

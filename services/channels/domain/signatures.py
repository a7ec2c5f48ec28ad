"""Webhook signatures, checked exactly as the providers' own libraries check them, compared in constant time.

- Meta (WhatsApp, Instagram; also our ARI forwarder): ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
  body with the app secret>``.
- Twilio: ``X-Twilio-Signature``, as twilio-python's ``twilio/request_validator.py`` (``RequestValidator.validate``)
  accepts it, no more and no less; ``tests/channels/test_signatures.py`` runs that library's test vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import ParseResult, parse_qs, urlparse

META_PREFIX = "sha256="


def meta_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return META_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_ok(secret: str | None, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is Meta's signature of the raw ``body``: the ``sha256=`` prefix and lower-case hex, as Meta
    sends them (no other algorithm, no other spelling), compared in constant time."""
    if not secret or not header:
        return False
    return hmac.compare_digest(meta_signature(secret, body).encode(), header.encode())


# ---- Twilio ------------------------------------------------------------------------------------------------------
# The helpers below follow twilio-python's request_validator.py line for line (remove_port, add_port,
# compute_signature, compute_hash, validate), so the quirks are the same: any port is removed (not only the
# default one), the default port is added only when the URL has none, each name's values are de-duplicated and
# sorted, and a JSON body is signed through the URL's ``bodySHA256`` query parameter.


def _without_port(uri: ParseResult) -> str:
    if not uri.port:
        return uri.geturl()
    return uri._replace(netloc=uri.netloc.split(":")[0]).geturl()


def _with_port(uri: ParseResult) -> str:
    if uri.port:
        return uri.geturl()
    port = 443 if uri.scheme == "https" else 80
    return uri._replace(netloc=f"{uri.netloc}:{port}").geturl()


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Base64(HMAC-SHA1(auth token, URL + for each parameter name in sorted order, for each of its distinct
    values in sorted order, name + value)), as Twilio signs a webhook."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode().strip()


def twilio_body_hash(body: str) -> str:
    """The ``bodySHA256`` Twilio puts in the URL of a JSON webhook: hex SHA-256 of the body."""
    return hashlib.sha256(body.encode()).hexdigest()


def twilio_signature_ok(auth_token: str | None, url: str, params: Iterable[tuple[str, str]] | str,
                        header: str | None) -> bool:
    """Whether ``header`` is Twilio's ``X-Twilio-Signature`` of a request to ``url``.

    Args:
        auth_token: the account's auth token (the channel's ``auth_token``).
        url: the full URL Twilio requested, with its query string.
        params: the form's (name, value) pairs, repeated names included; or, for a JSON webhook, its body as text
            (then the URL must carry ``bodySHA256``, the body's hash, and the URL alone is signed).
        header: the ``X-Twilio-Signature`` value.
    """
    if not auth_token or header is None:
        return False
    try:
        uri = urlparse(url)
        with_port, without_port = _with_port(uri), _without_port(uri)
    except ValueError:  # a port that is not a number: the reference raises
        return False
    pairs: list[tuple[str, str]]
    if isinstance(params, str):
        body_hash = parse_qs(uri.query).get("bodySHA256")
        if body_hash is None:
            # The reference signs only an empty body this way; a non-empty one without the hash makes it raise.
            if params:
                return False
        elif not hmac.compare_digest(twilio_body_hash(params).encode(), body_hash[0].encode()):
            return False
        pairs = []
    else:
        pairs = list(params)
    given = header.encode()
    ok_without = hmac.compare_digest(twilio_signature(auth_token, without_port, pairs).encode(), given)
    ok_with = hmac.compare_digest(twilio_signature(auth_token, with_port, pairs).encode(), given)
    return ok_without or ok_with

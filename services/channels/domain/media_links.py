"""Signed, expiring links to our own media (``blob:<sha256>``) on channels' public port, for the providers that
fetch media by URL (Twilio's ``MediaUrl`` for MMS, Instagram's attachment ``payload.url``).

A link is ``{public_base_url}/media/<sha>?exp=<unix seconds>&type=<content type>&sig=<hex>``: ``sig`` is
HMAC-SHA256 over the sha, the expiry and the content type, with a key derived from the channel-secret keys
(``SB_CHANNELS_SECRET_KEYS``; the first signs, every one verifies, so keys rotate like the secrets do). Without
a valid, unexpired signature the path answers 403: the store is never listable or guessable through it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from urllib.parse import urlencode

SHA = re.compile(r"^[0-9a-f]{64}$")
MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
PATH = "/media"
_LABEL = b"switchboard media link v1"


def link_key(secret: bytes) -> bytes:
    """The key that signs links, derived from one channel-secret key (never the key itself)."""
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


def signature(key: bytes, sha: str, exp: int, mime_type: str) -> str:
    return hmac.new(key, f"{sha}\n{exp}\n{mime_type}".encode(), hashlib.sha256).hexdigest()


def media_link(base_url: str, key: bytes, sha: str, mime_type: str, now: float, ttl_s: int) -> str:
    """The public URL of blob ``sha`` served as ``mime_type`` until ``now + ttl_s``."""
    if not SHA.match(sha):
        raise ValueError(f"not a blob sha: {sha!r}")
    mime = mime_type.lower() if MIME.match(mime_type.lower()) else "application/octet-stream"
    exp = int(now) + ttl_s
    query = urlencode({"exp": exp, "type": mime, "sig": signature(key, sha, exp, mime)})
    return f"{base_url.rstrip('/')}{PATH}/{sha}?{query}"


def link_problem(keys: Sequence[bytes], sha: str, exp: str, mime_type: str, sig: str, now: float) -> str | None:
    """Why a link is refused (``None``: it is good): a malformed part, a signature no key made, or expired."""
    if not SHA.match(sha) or not exp.isdigit() or len(exp) > 12 or not MIME.match(mime_type):
        return "malformed media link"
    if not any(hmac.compare_digest(signature(k, sha, int(exp), mime_type), sig) for k in keys):
        return "bad media link signature"
    if int(exp) < now:
        return "expired media link"
    return None

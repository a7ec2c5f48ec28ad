"""Secrets at rest: AES-256-GCM with a key id, so keys can rotate while old values stay readable.

A stored value is ``sb1:<key id>:<base64url(nonce + ciphertext + tag)>``. The associated data binds it to where it
lives (for example ``channels.channel:<id>:app_secret``), so a value copied to another row or column does not
decrypt. Keys come from settings as ``<id>:<base64 of 32 bytes>`` separated by commas; the first one encrypts,
every one decrypts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sb1"
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
NONCE_BYTES = 12
# Outside production, with no keys configured: a key derived from this constant (the source is public, so it
# protects nothing; it only lets a fresh clone run). Production refuses to start without real keys.
DEV_KEY_ID = "dev"
DEV_KEY = hashlib.sha256(b"switchboard development secret-at-rest key; never for production").digest()


class SecretBoxError(ValueError):
    """A key list that cannot be used, or a stored value no configured key opens; the message says which."""


@dataclass(frozen=True)
class SecretBox:
    """Encrypts with the first key, decrypts with whichever key a value names."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretBoxError("no key")

    @classmethod
    def parse(cls, spec: str) -> SecretBox:
        """Keys from ``"<id>:<base64 key>,<id>:<base64 key>"`` (the first one is current).

        Raises:
            SecretBoxError: empty, a malformed or repeated id, or a key that is not 32 bytes of base64.
        """
        keys: list[tuple[str, bytes]] = []
        for i, item in enumerate(x.strip() for x in spec.split(",") if x.strip()):
            kid, sep, encoded = item.partition(":")
            if not sep or not KEY_ID.fullmatch(kid):
                raise SecretBoxError(f"key {i + 1}: write it as <id>:<base64 key>, the id of 1-32 letters, digits, "
                                     "'.', '_' or '-'")
            if kid in (k for k, _ in keys):
                raise SecretBoxError(f"key {i + 1}: the id {kid!r} is used twice")
            try:
                key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise SecretBoxError(f"key {kid!r} is not base64") from None
            if len(key) != 32:
                raise SecretBoxError(f"key {kid!r} has {len(key)} bytes; AES-256 needs 32")
            keys.append((kid, key))
        return cls(tuple(keys))

    @classmethod
    def development(cls) -> SecretBox:
        return cls(((DEV_KEY_ID, DEV_KEY),))

    @property
    def current(self) -> str:
        """The id of the key new values are encrypted with."""
        return self.keys[0][0]

    def encrypt(self, plaintext: str, where: str) -> str:
        kid, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), where.encode())
        return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, where: str) -> str:
        """The plaintext of a stored value.

        Raises:
            SecretBoxError: not a value of this format, a key id that is not configured, or a value that does not
                open with its key here (changed, or moved from another row or column).
        """
        prefix, _, rest = stored.partition(":")
        kid, _, data = rest.partition(":")
        if prefix != PREFIX or not data:
            raise SecretBoxError(f"{where} is not encrypted")
        key = dict(self.keys).get(kid)
        if key is None:
            raise SecretBoxError(f"{where} was encrypted with key {kid!r}, which is not configured")
        try:
            raw = base64.urlsafe_b64decode(data)
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretBoxError(f"{where} does not open with key {kid!r}: it was changed or moved") from None

    @staticmethod
    def key_id(stored: str) -> str | None:
        """The key id a stored value names, or ``None`` when it is not an encrypted value (plaintext)."""
        prefix, _, rest = stored.partition(":")
        kid, sep, _ = rest.partition(":")
        return kid if prefix == PREFIX and sep else None


def new_key_spec(kid: str) -> str:
    """A fresh ``<id>:<base64 key>`` for the settings."""
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


if __name__ == "__main__":  # python -m libs.core.secretbox <key id>: a fresh key for SB_*_SECRET_KEYS
    import sys

    print(new_key_spec(sys.argv[1] if len(sys.argv) > 1 else "k1"))

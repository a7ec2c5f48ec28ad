"""The idempotency key of an outbound send: the provider call of part ``n`` of command ``id`` always carries
``<id>:<n>``, so a send repeated after a crash is recognised by a provider that honours the key."""

from __future__ import annotations

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(outbound_id: str, part: int = 0) -> str:
    return f"{outbound_id}:{part}"

"""The channels service's JetStream publisher: what webhooks bring and delivery statuses."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext

from libs.contracts import Contract
from libs.messaging import publish_many


class JetStreamPublisher:
    """``StreamPublisher`` over JetStream: every message with its ``Nats-Msg-Id``, all acks awaited."""

    def __init__(self, js: JetStreamContext, timeout_s: float = 5.0) -> None:
        self.js = js
        self.timeout_s = timeout_s

    async def publish(self, batch: Sequence[Contract]) -> list[bool]:
        acks = await publish_many(self.js, list(batch), timeout=self.timeout_s)
        return [bool(ack.duplicate) for ack in acks]

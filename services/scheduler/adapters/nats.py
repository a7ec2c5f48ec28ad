"""The scheduler's NATS adapter: due timers published on the TIMERS stream."""

from __future__ import annotations

from nats.js import JetStreamContext

from libs.contracts import TimerDue
from libs.messaging import publish_many


class JetStreamDuePublisher:
    """Publishes due timers with their fixed ``Nats-Msg-Id`` and waits for every ack."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def publish(self, due: list[TimerDue]) -> None:
        await publish_many(self.js, list(due))

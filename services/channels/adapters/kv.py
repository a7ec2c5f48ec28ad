"""The ``channels`` KV bucket: the non-secret snapshot of every channel, for the other services."""

from __future__ import annotations

import json

from nats.js import JetStreamContext

from libs.core.errors import Transient
from services.channels.domain.channels import Channel

BUCKET = "channels"


class SnapshotPublisher:
    """Writes ``ChannelSnapshot`` JSON, plus a ``revision`` that other services may ignore, per channel id."""

    def __init__(self, js: JetStreamContext, timeout_s: float = 5.0) -> None:
        self.js = js
        self.timeout_s = timeout_s

    async def put(self, ch: Channel) -> None:
        value = ch.snapshot().model_dump(mode="json") | {"revision": ch.revision}
        try:
            kv = await self.js.key_value(BUCKET)
            await kv.put(ch.id, json.dumps(value).encode())
        except Exception as exc:
            raise Transient(f"could not publish channel snapshot: {type(exc).__name__}") from exc

    async def delete(self, channel_id: str) -> None:
        try:
            kv = await self.js.key_value(BUCKET)
            await kv.delete(channel_id)
        except Exception as exc:
            raise Transient(f"could not delete channel snapshot: {type(exc).__name__}") from exc

"""NATS KV I/O: campaign snapshots written with compare-and-set by version, channel types read from ``channels``."""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from libs.contracts.campaigns import CampaignSnapshot
from libs.core.errors import Transient
from libs.core.logging import get_logger

log = get_logger(__name__)

CAMPAIGNS_BUCKET = "campaigns"
CHANNELS_BUCKET = "channels"


class SnapshotStore:
    """Writes snapshots to the ``campaigns`` bucket; a newer version already there is never overwritten,
    so replicas publishing concurrently converge on the highest version."""

    def __init__(self, js: JetStreamContext, bucket: str = CAMPAIGNS_BUCKET, attempts: int = 8) -> None:
        self.js = js
        self.bucket = bucket
        self.attempts = attempts

    async def put(self, snap: CampaignSnapshot) -> bool:
        """Write ``snap`` unless the bucket holds a newer or identical one. Returns whether it wrote."""
        kv = await self.js.key_value(self.bucket)
        value = snap.model_dump_json().encode()
        for _ in range(self.attempts):
            try:
                entry = await kv.get(snap.id)
            except KeyNotFoundError:
                try:
                    await kv.create(snap.id, value)
                    return True
                except KeyWrongLastSequenceError:
                    continue
            if entry.value == value or _version(entry.value) > snap.version:
                return False
            try:
                await kv.update(snap.id, value, last=entry.revision)
                return True
            except KeyWrongLastSequenceError:
                continue
        raise Transient(f"could not write snapshot {snap.id} v{snap.version}: the key kept changing")

    async def delete(self, campaign_id: str) -> None:
        kv = await self.js.key_value(self.bucket)
        try:
            await kv.get(campaign_id)
        except KeyNotFoundError:
            return
        await kv.delete(campaign_id)


def _version(raw: bytes | None) -> int:
    try:
        return int(json.loads(raw or b"{}").get("version", 0))
    except (ValueError, AttributeError):
        return 0


class ChannelDirectory:
    """The channel types the channels service publishes in the ``channels`` bucket."""

    def __init__(self, js: JetStreamContext, bucket: str = CHANNELS_BUCKET) -> None:
        self.js = js
        self.bucket = bucket

    async def type_of(self, channel_id: str) -> str | None:
        try:
            kv = await self.js.key_value(self.bucket)
            entry = await kv.get(channel_id)
        except (KeyNotFoundError, NotFoundError):
            return None
        except Exception as exc:  # an invalid key or a NATS hiccup: the caller asks for the type instead
            log.warning("channel_lookup_failed", channel_id=channel_id, error=repr(exc))
            return None
        try:
            value = json.loads(entry.value or b"{}")
        except json.JSONDecodeError:
            return None
        return value.get("type") if isinstance(value, dict) else None

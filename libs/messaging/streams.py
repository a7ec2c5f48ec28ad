"""The JetStream streams and KV buckets of ARCHITECTURE.md, created idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

DLQ_STREAM = "DEADLETTER"
DLQ_PREFIX = "sb.dlq"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    duplicate_window_s: float = 120.0
    max_age_s: float = 7 * 24 * 3600.0
    extra: dict[str, object] = field(default_factory=dict)

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=self.subjects,
            retention=self.retention,
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window_s,
            max_age=self.max_age_s,
            discard=DiscardPolicy.OLD,
        )


STREAMS: tuple[StreamSpec, ...] = (
    # Providers retry a webhook for hours; a day of dedup window makes every retry a no-op.
    StreamSpec("INBOUND", ["sb.inbound.>"], duplicate_window_s=24 * 3600.0),
    StreamSpec("OUTBOUND", ["sb.outbound.>"], retention=RetentionPolicy.WORK_QUEUE, duplicate_window_s=3600.0),
    StreamSpec("CONVERSATIONS", ["sb.conv.>"], duplicate_window_s=3600.0),
    StreamSpec("AGENTS", ["sb.agent.>"]),
    StreamSpec("TIMERS", ["sb.timer.>"]),
    StreamSpec(DLQ_STREAM, [f"{DLQ_PREFIX}.>"], max_age_s=30 * 24 * 3600.0),
)

KV_BUCKETS: tuple[str, ...] = ("campaigns", "channels")


async def ensure_streams(js: JetStreamContext) -> None:
    """Create every stream and KV bucket, or bring an existing one up to date. Safe to run concurrently."""
    for spec in STREAMS:
        cfg = spec.config()
        try:
            await js.stream_info(spec.name)
            await js.update_stream(cfg)
        except NotFoundError:
            try:
                await js.add_stream(cfg)
            except BadRequestError:
                # Another replica created it between our check and our add.
                await js.update_stream(cfg)
    for bucket in KV_BUCKETS:
        await ensure_kv(js, bucket)


async def ensure_kv(js: JetStreamContext, bucket: str) -> None:
    """Create a KV bucket unless it exists; safe when another replica creates it at the same moment."""
    try:
        await js.key_value(bucket)
    except NotFoundError:  # BucketNotFoundError
        try:
            await js.create_key_value(KeyValueConfig(bucket=bucket, history=5))
        except BadRequestError:
            await js.key_value(bucket)

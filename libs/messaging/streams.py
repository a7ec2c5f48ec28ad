"""The JetStream streams and KV buckets of ARCHITECTURE.md, created when missing and never rewritten.

Every stream and bucket gets ``SB_NATS_REPLICAS`` replicas (1 in development, 3 in production) and every
stream a ``max_bytes`` and ``max_age`` limit (defaults below; ``SB_NATS_MAX_BYTES`` / ``SB_NATS_MAX_AGE_S``
override them per stream). A full stream refuses new messages (discard ``new``): the publisher sees an
error and retries, instead of the stream silently dropping its oldest unprocessed messages.

``ensure_streams`` runs at every boot of every replica. It creates what is missing and, on an existing
stream, only adds what the code needs and the stream lacks: a missing subject, more replicas than it has,
a limit where it has none. It never lowers replicas and never replaces a value an operator set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from libs.core.logging import get_logger
from libs.core.settings import ServiceSettings

log = get_logger(__name__)
T = TypeVar("T")

# JetStream's "no suitable peers for placement" (a peer restarting, or missing heartbeats on a busy node): the
# placement of an R3 stream is tried again for a while rather than failing the boot.
PLACEMENT_ERR_CODE = 10005
PLACEMENT_WAIT_S = 30.0


def _placement_refused(exc: BaseException) -> bool:
    return isinstance(exc, BadRequestError) and getattr(exc, "err_code", None) == PLACEMENT_ERR_CODE


async def placed(call: Callable[[], Awaitable[T]], *, wait_s: float = PLACEMENT_WAIT_S) -> T:
    """``call()`` (a stream add or update), again while JetStream has no peers to place its replicas on."""
    async for attempt in AsyncRetrying(retry=retry_if_exception(_placement_refused), reraise=True,
                                       stop=stop_after_delay(wait_s), wait=wait_exponential(0.2, max=3.0)):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover

DLQ_STREAM = "DEADLETTER"
DLQ_PREFIX = "sb.dlq"

MiB = 1024 * 1024
GiB = 1024 * MiB
DAY = 24 * 3600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    retention: RetentionPolicy = RetentionPolicy.LIMITS
    duplicate_window_s: float = 120.0
    max_age_s: float = 7 * DAY
    max_bytes: int = 1 * GiB

    def config(self, layout: JetStreamLayout | None = None) -> StreamConfig:
        layout = layout or JetStreamLayout()
        return StreamConfig(
            name=self.name,
            subjects=self.subjects,
            retention=self.retention,
            storage=StorageType.FILE,
            num_replicas=layout.replicas,
            duplicate_window=self.duplicate_window_s,
            max_age=layout.max_age_s.get(self.name, self.max_age_s),
            max_bytes=layout.max_bytes.get(self.name, self.max_bytes),
            discard=DiscardPolicy.NEW,
        )


@dataclass(frozen=True)
class JetStreamLayout:
    """Replicas and limits from settings (``libs.core.settings.NatsSettings``); the defaults suit development."""

    replicas: int = 1
    max_bytes: Mapping[str, int] = field(default_factory=dict)
    max_age_s: Mapping[str, float] = field(default_factory=dict)
    kv_max_bytes: int = 64 * MiB

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 5:
            raise ValueError(f"JetStream replicas must be 1 to 5, got {self.replicas}")
        unknown = (set(self.max_bytes) | set(self.max_age_s)) - {s.name for s in STREAMS}
        if unknown:
            raise ValueError(f"limits for unknown streams: {sorted(unknown)} (streams: {[s.name for s in STREAMS]})")


def layout_from_settings(settings: ServiceSettings | None = None) -> JetStreamLayout:
    """The layout ``SB_NATS_REPLICAS``, ``SB_NATS_MAX_BYTES`` and ``SB_NATS_MAX_AGE_S`` ask for (env if no settings)."""
    s = settings or ServiceSettings()
    return JetStreamLayout(replicas=s.nats_replicas, max_bytes=dict(s.nats_max_bytes),
                           max_age_s=dict(s.nats_max_age_s))


STREAMS: tuple[StreamSpec, ...] = (
    # Providers retry a webhook for hours; a day of dedup window makes every retry a no-op.
    StreamSpec("INBOUND", ["sb.inbound.>"], duplicate_window_s=DAY),
    StreamSpec("OUTBOUND", ["sb.outbound.>"], retention=RetentionPolicy.WORK_QUEUE, duplicate_window_s=3600.0),
    StreamSpec("CONVERSATIONS", ["sb.conv.>"], duplicate_window_s=3600.0, max_bytes=2 * GiB),
    StreamSpec("AGENTS", ["sb.agent.>"], max_bytes=512 * MiB),
    StreamSpec("TIMERS", ["sb.timer.>"], max_bytes=512 * MiB),
    StreamSpec(DLQ_STREAM, [f"{DLQ_PREFIX}.>"], max_age_s=30 * DAY),
)

KV_BUCKETS: tuple[str, ...] = ("campaigns", "channels", "users", "owners")
# Revisions kept per key (default 5); the owner index (one key per contact address) keeps only the current one.
KV_HISTORY: dict[str, int] = {"owners": 1}


def reconcile(current: StreamConfig, wanted: StreamConfig) -> StreamConfig | None:
    """The update an existing stream needs, or ``None``: add, never take away or overwrite.

    - subjects: the code's subjects that are missing are added; extra ones an operator added stay;
    - replicas: raised to the wanted count, never lowered (an operator may run more);
    - ``max_bytes`` / ``max_age``: set only where the stream has no limit at all (-1 / 0);
    - everything else (discard policy, dedup window, retention...) is left as it is.
    """
    changes: dict[str, Any] = {}
    subjects = list(current.subjects or [])
    missing = [s for s in wanted.subjects or [] if s not in subjects]
    if missing:
        changes["subjects"] = subjects + missing
    if (current.num_replicas or 1) < (wanted.num_replicas or 1):
        changes["num_replicas"] = wanted.num_replicas
    if current.max_bytes in (None, -1, 0) and wanted.max_bytes not in (None, -1):
        changes["max_bytes"] = wanted.max_bytes
    if not current.max_age and wanted.max_age:
        changes["max_age"] = wanted.max_age
    return replace(current, **changes) if changes else None


async def ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> str:
    """Create one stream, or reconcile the existing one; what happened: ``created``, ``updated`` or ``kept``."""
    assert wanted.name is not None
    try:
        info = await js.stream_info(wanted.name)
    except NotFoundError:
        try:
            await placed(lambda: js.add_stream(wanted))
            log.info("stream_created", stream=wanted.name, replicas=wanted.num_replicas)
            return "created"
        except BadRequestError as exc:  # another replica created it between our look and our add
            if _placement_refused(exc):
                raise
            info = await js.stream_info(wanted.name)
    update = reconcile(info.config, wanted)
    if update is None:
        return "kept"
    await placed(lambda: js.update_stream(update))
    log.info("stream_updated", stream=wanted.name, replicas=update.num_replicas, subjects=update.subjects)
    return "updated"


async def ensure_streams(js: JetStreamContext, layout: JetStreamLayout | None = None) -> None:
    """Create every stream and KV bucket that is missing; add what existing ones lack. Safe to run concurrently."""
    layout = layout or JetStreamLayout()
    for spec in STREAMS:
        await ensure_stream(js, spec.config(layout))
    for bucket in KV_BUCKETS:
        await ensure_kv(js, bucket, layout)


async def ensure_kv(js: JetStreamContext, bucket: str, layout: JetStreamLayout | None = None) -> None:
    """Create a KV bucket unless it exists (then only raise its replicas); safe when another replica races us."""
    layout = layout or JetStreamLayout()
    try:
        await js.key_value(bucket)
    except NotFoundError:  # BucketNotFoundError
        try:
            await placed(lambda: js.create_key_value(KeyValueConfig(
                bucket=bucket, history=KV_HISTORY.get(bucket, 5), replicas=layout.replicas,
                max_bytes=layout.kv_max_bytes, storage=StorageType.FILE)))
            return
        except BadRequestError as exc:
            if _placement_refused(exc):
                raise
            await js.key_value(bucket)
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    if (info.config.num_replicas or 1) < layout.replicas:
        await placed(lambda: js.update_stream(replace(info.config, num_replicas=layout.replicas)))
        log.info("stream_updated", stream=stream, replicas=layout.replicas)

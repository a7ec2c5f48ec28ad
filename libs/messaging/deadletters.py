"""The DEADLETTER stream as operators see it: list, show, replay, and the audit of who replayed what.

Every service's consumers copy what they give up on to ``sb.dlq.<stream>.<consumer>`` (see
``libs.messaging.consumer``), so one stream holds the dead letters of the whole platform. This module
reads it for the gateway's admin API and for ``switchboard dlq``; neither needs the owning service.

A replay publishes the original payload again on its original subject, with ``Sb-Replay-For:
<consumer>``: only that consumer handles it (every other consumer of the subject acks it unseen) and
``Nats-Msg-Id: replay:<dlq sequence>`` makes a double replay within the stream's duplicate window a no-op
that is reported as ``duplicate``. The dead letter itself stays in the stream (until its 30-day
``max_age``); the audit says it was replayed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.core import metrics
from libs.core.errors import Invalid, NotFound, Transient
from libs.core.logging import get_logger
from libs.messaging.consumer import REPLAY_FOR
from libs.messaging.streams import DLQ_PREFIX, DLQ_STREAM

log = get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The audit table's migrations are applied under this name (``switchboard migrate``, gateway start-up).
MIGRATION_SET = "deadletters"
_WINDOW = 512  # stream sequences read per step when walking the stream backwards
MAX_LIMIT = 500
MAX_PAYLOAD_SHOWN = 256 * 1024


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter: where it came from, why it failed, and (in ``show``) its payload."""

    sequence: int  # in the DEADLETTER stream
    stream: str
    consumer: str
    subject: str
    reason: str
    deliveries: int
    original_sequence: int | None
    time: str | None
    size: int
    payload: Any = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.payload is None:
            data.pop("payload")
        return data


def _token(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not all(c.isalnum() or c in "-_" for c in value) or len(value) > 128:
        raise Invalid(f"{name} must be a stream or consumer name (letters, digits, - and _)", field=name)
    return value


def _subject(stream: str | None, consumer: str | None) -> str:
    return f"{DLQ_PREFIX}.{stream or '*'}.{consumer or '*'}"


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _from_headers(seq: int, subject: str, headers: dict[str, str] | None, size: int, when: datetime | None,
                  payload: Any = None) -> DeadLetter:
    h = headers or {}
    _, _, rest = subject.partition(f"{DLQ_PREFIX}.")
    stream, _, consumer = rest.partition(".")
    return DeadLetter(sequence=seq, stream=h.get("Sb-Dlq-Stream", stream), consumer=h.get("Sb-Dlq-Consumer", consumer),
                      subject=h.get("Sb-Dlq-Subject", ""), reason=h.get("Sb-Dlq-Reason", ""),
                      deliveries=_int(h.get("Sb-Dlq-Deliveries")) or 0,
                      original_sequence=_int(h.get("Sb-Dlq-Sequence")),
                      time=when.isoformat() if when else None, size=size, payload=payload)


async def list_dead_letters(js: JetStreamContext, *, stream: str | None = None, consumer: str | None = None,
                            reason: str | None = None, before: int | None = None,
                            limit: int = 50) -> list[DeadLetter]:
    """The newest ``limit`` dead letters (newest first), filtered by stream, consumer and reason (substring,
    case-insensitive), older than DEADLETTER sequence ``before`` when given (to page).

    Raises:
        Invalid: a filter that cannot be a stream or consumer name, or a limit out of 1..500.
        Transient: JetStream did not answer.
    """
    stream, consumer = _token(stream, "stream"), _token(consumer, "consumer")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1..{MAX_LIMIT}", field="limit")
    needle = (reason or "").lower()
    subject = _subject(stream, consumer)
    try:
        info = await js.stream_info(DLQ_STREAM)
    except Exception as exc:
        raise Transient(f"dead letters unavailable: {type(exc).__name__}") from exc
    first, last = info.state.first_seq, info.state.last_seq
    if before is not None:
        last = min(last, before - 1)
    found: list[DeadLetter] = []
    end = last
    while end >= first and end > 0 and len(found) < limit:
        start = max(first, end - _WINDOW + 1)
        window = await _read_window(js, subject, start, end)
        for item in reversed(window):
            if needle and needle not in item.reason.lower():
                continue
            found.append(item)
            if len(found) == limit:
                break
        end = start - 1
    return found


async def _read_window(js: JetStreamContext, subject: str, start: int, end: int) -> list[DeadLetter]:
    """Headers of the dead letters with ``start <= sequence <= end`` matching ``subject``, in order."""
    try:
        sub = await js.subscribe(subject, stream=DLQ_STREAM, ordered_consumer=True,
                                 config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                                       opt_start_seq=start, headers_only=True))
    except Exception as exc:
        raise Transient(f"dead letters unavailable: {type(exc).__name__}") from exc
    out: list[DeadLetter] = []
    try:
        if await _none_match(sub):  # else a window with no match cost a 1 s wait: a filtered list walking
            return out              # back through 5,000 dead letters took 10 s
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except (NatsTimeout, TimeoutError):
                break  # nothing (more) matches after ``start``
            meta = msg.metadata
            seq = meta.sequence.stream
            if seq > end:
                break
            headers = dict(msg.headers or {})
            size = _int(headers.get("Nats-Msg-Size")) or 0
            out.append(_from_headers(seq, msg.subject, headers, size, meta.timestamp))
            if meta.num_pending == 0:
                break
    finally:
        try:
            await sub.unsubscribe()
        except Exception:
            pass
    return out


async def _none_match(sub: Any) -> bool:
    """Whether the server has nothing for ``sub`` from its start sequence on (and delivered nothing yet)."""
    try:
        info = await sub.consumer_info()
    except Exception:  # not known: read and wait as before
        return False
    # (delivered.stream_seq starts at the start sequence - 1; the consumer sequence counts what it delivered)
    return info.num_pending == 0 and info.delivered.consumer_seq == 0 and sub.pending_msgs == 0


async def get_dead_letter(js: JetStreamContext, sequence: int) -> DeadLetter:
    """One dead letter with its payload (JSON when it is JSON, else text; cut at 256 KiB).

    Raises:
        NotFound: no dead letter has this sequence (never, expired, or another stream's message).
        Transient: JetStream did not answer.
    """
    raw = await _raw(js, sequence)
    data = raw.data or b""
    payload: Any
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        payload = {"text": data[:MAX_PAYLOAD_SHOWN].decode(errors="replace"),
                   "truncated": len(data) > MAX_PAYLOAD_SHOWN}
    return _from_headers(sequence, raw.subject or "", raw.headers, len(data), raw.time, payload)


async def _raw(js: JetStreamContext, sequence: int) -> Any:
    if sequence < 1:
        raise Invalid("sequence must be a positive integer", field="sequence")
    try:
        raw = await js.get_msg(DLQ_STREAM, sequence)
    except NotFoundError as exc:
        raise NotFound(f"no dead letter {sequence}", field="sequence") from exc
    except Exception as exc:
        raise Transient(f"dead letters unavailable: {type(exc).__name__}") from exc
    if not (raw.subject or "").startswith(f"{DLQ_PREFIX}."):
        raise NotFound(f"no dead letter {sequence}", field="sequence")
    raw.headers = _utf8_headers(raw.hdrs)
    return raw


def _utf8_headers(hdrs: bytes | None) -> dict[str, str]:
    """The headers of a stored message, read as UTF-8 (nats-py's ``get_msg`` parses them as e-mail headers,
    which turns a reason with an accent into an ``email.header.Header``)."""
    if not hdrs:
        return {}
    out: dict[str, str] = {}
    for line in base64.b64decode(hdrs).decode(errors="replace").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            out.setdefault(name.strip(), value.strip())
    return out


@dataclass(frozen=True)
class Replay:
    """What one replay did: the dead letter, where it went, and whether JetStream had it already."""

    sequence: int
    stream: str
    consumer: str
    subject: str
    reason: str
    published_sequence: int
    duplicate: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def replay(js: JetStreamContext, sequence: int) -> Replay:
    """Publish dead letter ``sequence`` again on its original subject, for its consumer only.

    Raises:
        NotFound: no such dead letter. Invalid: it does not say where it came from.
        Transient: JetStream did not acknowledge the publish.
    """
    raw = await _raw(js, sequence)
    letter = _from_headers(sequence, raw.subject or "", raw.headers, len(raw.data or b""), raw.time)
    if not letter.subject or not letter.consumer:
        raise Invalid(f"dead letter {sequence} has no original subject or consumer", field="sequence")
    headers = {"Nats-Msg-Id": f"replay:{sequence}", REPLAY_FOR: letter.consumer}
    for name in ("traceparent", "tracestate"):
        if raw.headers and name in raw.headers:
            headers[name] = raw.headers[name]
    try:
        ack = await js.publish(letter.subject, raw.data or b"", headers=headers, timeout=5)
    except Exception as exc:
        raise Transient(f"replay of {sequence} not acknowledged: {type(exc).__name__}") from exc
    if not ack.duplicate:
        metrics.DEAD_LETTER_REPLAYS.labels(letter.stream, letter.consumer).inc()
    log.warning("dead_letter_replayed", sequence=sequence, subject=letter.subject, consumer=letter.consumer,
                duplicate=bool(ack.duplicate))
    return Replay(sequence=sequence, stream=letter.stream, consumer=letter.consumer, subject=letter.subject,
                  reason=letter.reason, published_sequence=ack.seq, duplicate=bool(ack.duplicate))


class ReplayAudit:
    """Who replayed which dead letter, when, and through what (``api`` or ``cli``), in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, done: Replay, *, actor: str, via: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            """INSERT INTO ops.dead_letter_replays (dlq_sequence, stream, consumer, subject, reason, actor, via,
                                                published_sequence, duplicate)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               RETURNING id, replayed_at""",
            done.sequence, done.stream, done.consumer, done.subject, done.reason, actor, via,
            done.published_sequence, done.duplicate)
        assert row is not None
        return {**done.to_dict(), "id": row["id"], "actor": actor, "via": via,
                "replayed_at": row["replayed_at"].isoformat()}

    async def history(self, *, sequence: int | None = None, actor: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        """The newest replays first, optionally of one dead letter or by one actor."""
        rows = await self.pool.fetch(
            """SELECT id, dlq_sequence, stream, consumer, subject, reason, actor, via, published_sequence,
                      duplicate, replayed_at
                 FROM ops.dead_letter_replays
                WHERE ($1::bigint IS NULL OR dlq_sequence = $1) AND ($2::text IS NULL OR actor = $2)
                ORDER BY id DESC LIMIT $3""", sequence, actor, limit)
        return [{**dict(r), "replayed_at": r["replayed_at"].isoformat()} for r in rows]

    async def counts(self, sequences: list[int]) -> dict[int, int]:
        """How many times each of ``sequences`` was replayed (non-duplicate replays)."""
        if not sequences:
            return {}
        rows = await self.pool.fetch(
            """SELECT dlq_sequence, count(*) AS n FROM ops.dead_letter_replays
                WHERE dlq_sequence = ANY($1::bigint[]) AND NOT duplicate GROUP BY dlq_sequence""", sequences)
        return {r["dlq_sequence"]: r["n"] for r in rows}

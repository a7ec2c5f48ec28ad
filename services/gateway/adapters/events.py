"""NATS side of the live events: one ephemeral ordered subscription per stream per replica, and replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.core import tracing
from libs.core.errors import Transient
from libs.core.logging import get_logger
from libs.messaging.consumer import REPLAY_FOR

log = get_logger(__name__)


@dataclass(frozen=True)
class Feed:
    """A stream of the events users see: its JetStream name, the subjects, and its name on the wire."""

    stream: str
    subject: str
    name: str


def _payload(msg: Msg | Any) -> dict[str, Any] | None:
    if msg.headers and REPLAY_FOR in msg.headers:  # a dead letter replayed for one durable consumer, not us
        return None
    try:
        value = json.loads(msg.data or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and value.get("type") else None


async def subscribe_live(js: JetStreamContext, feed: Feed, on_event: Callable[[str, int, dict[str, Any]], None],
                         traces: tracing.ContextMemory | None = None) -> Any:
    """Every new event of ``feed``, in order, to ``on_event(name, stream_seq, payload)``.

    An ordered consumer is ephemeral and per connection: each replica sees every event, and nothing
    is left on the server when the replica goes away. With tracing on, each push is a span of the event's
    trace, and ``traces`` remembers it per conversation (the agent's reply continues it).
    """

    async def cb(msg: Msg) -> None:
        payload = _payload(msg)
        if payload is None:
            if not (msg.headers and REPLAY_FOR in msg.headers):
                log.warning("event_not_json", subject=msg.subject)
            return
        try:
            if tracing.enabled():
                with tracing.consumer_span("gateway push", msg.headers, **{"messaging.destination.name": msg.subject}):
                    if traces is not None and payload.get("conversation_id"):
                        traces.remember(str(payload["conversation_id"]), tracing.current_headers())
                    on_event(feed.name, msg.metadata.sequence.stream, payload)
            else:
                on_event(feed.name, msg.metadata.sequence.stream, payload)
        except Exception:
            log.exception("event_dispatch_failed", subject=msg.subject)

    return await js.subscribe(feed.subject, cb=cb, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)


async def last_seq(js: JetStreamContext, feed: Feed) -> tuple[int, int]:
    """The stream's ``(first_seq, last_seq)`` now."""
    info = await js.stream_info(feed.stream)
    return info.state.first_seq, info.state.last_seq


async def replay(
    js: JetStreamContext,
    feed: Feed,
    since: int,
    until: int,
    on_event: Callable[[str, int, dict[str, Any]], None],
    *,
    timeout_s: float = 5.0,
) -> None:
    """Read back the events of ``feed`` with ``since < stream_seq <= until``, in order.

    Raises:
        Transient: the stream stopped answering in the middle of the replay.
    """
    if until <= since:
        return
    try:
        first = await js.get_msg(feed.stream, seq=since + 1, subject=feed.subject, next=True)
    except NotFoundError:
        return
    if first.seq is None or first.seq > until:
        return
    cfg = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first.seq)
    sub = await js.subscribe(feed.subject, ordered_consumer=True, config=cfg)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout_s)
            except TimeoutError as exc:
                raise Transient(f"replay of {feed.stream} stalled") from exc
            meta = msg.metadata
            seq = meta.sequence.stream
            if seq > until:
                return
            payload = _payload(msg)
            if payload is not None:
                on_event(feed.name, seq, payload)
            if seq >= until or meta.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()

"""This service's dead letters in the DEADLETTER stream: webhook items it could not normalize, written here, and
reading them back for operators."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.core.errors import Transient
from libs.core.logging import get_logger
from libs.messaging import DLQ_PREFIX, DLQ_STREAM
from services.channels.domain.common import Rejected

log = get_logger(__name__)

# The webhooks are no JetStream consumer, but their dead letters carry the same headers as run_consumer's, as if
# a consumer of this name had terminated them on their way into INBOUND.
WEBHOOK_CONSUMER = "channels-webhooks"
WEBHOOK_STREAM = "INBOUND"


async def dead_letter_webhook_items(js: JetStreamContext, *, channel_id: str, channel_type: str, body: bytes,
                                    rejected: Sequence[Rejected], timeout_s: float = 5.0) -> None:
    """Store each rejected item of a signed webhook body in the dead-letter stream with its reason.

    The payload is ``{"channel_id", "channel_type", "path", "item"}`` (``item`` as the provider sent it); a
    provider's retry of the same body stores nothing twice (``Nats-Msg-Id`` is the body's hash and the path).

    Raises:
        Transient: JetStream did not acknowledge: the provider must retry.
    """
    digest = hashlib.sha256(body).hexdigest()[:32]
    subject = f"{DLQ_PREFIX}.{WEBHOOK_STREAM}.{WEBHOOK_CONSUMER}"
    for r in rejected:
        # ensure_ascii: an item may hold a lone surrogate, which only an escape can carry.
        data = json.dumps({"channel_id": channel_id, "channel_type": channel_type, "path": r.path, "item": r.item})
        headers = {
            "Sb-Dlq-Reason": r.reason[:1000].replace("\n", " "),
            "Sb-Dlq-Subject": f"sb.inbound.{channel_type}.{channel_id}",
            "Sb-Dlq-Stream": WEBHOOK_STREAM,
            "Sb-Dlq-Consumer": WEBHOOK_CONSUMER,
            "Sb-Dlq-Deliveries": "1",
            "Nats-Msg-Id": f"dlq:webhook:{channel_id}:{digest}:{r.path}"[:250],
        }
        try:
            await js.publish(subject, data.encode(), headers=headers, timeout=timeout_s)
        except Exception as exc:
            raise Transient(f"the dead-letter stream did not acknowledge: {type(exc).__name__}") from exc
        log.warning("webhook_item_dead_lettered", channel_id=channel_id, path=r.path, reason=r.reason)


async def read_dead_letters(js: JetStreamContext, stream: str, durable: str, *, channel_id: str | None,
                            limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` dead letters of one consumer (older than stream sequence ``before``, the list
    cursor), newest first, optionally of one channel."""
    subject = f"{DLQ_PREFIX}.{stream}.{durable}"
    try:
        info = await js.stream_info(DLQ_STREAM, subjects_filter=subject)
        total = sum((info.state.subjects or {}).values())
        if total == 0:
            return []
        sub = await js.subscribe(subject, stream=DLQ_STREAM, ordered_consumer=True,
                                 config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    except Exception as exc:
        raise Transient(f"dead letters unavailable: {type(exc).__name__}") from exc
    found: list[dict[str, Any]] = []
    try:
        for _ in range(total):
            try:
                msg = await sub.next_msg(timeout=2.0)
            except NatsTimeout:
                break
            try:
                payload = json.loads(msg.data)
            except ValueError:
                payload = {"raw": msg.data.decode(errors="replace")}
            if channel_id and not (isinstance(payload, dict) and payload.get("channel_id") == channel_id):
                continue
            if before is not None and msg.metadata.sequence.stream >= before:
                continue
            headers = msg.headers or {}
            found.append({"sequence": msg.metadata.sequence.stream, "reason": headers.get("Sb-Dlq-Reason", ""),
                          "subject": headers.get("Sb-Dlq-Subject", ""),
                          "deliveries": int(headers.get("Sb-Dlq-Deliveries", "0") or 0),
                          "message": payload})
    finally:
        await sub.unsubscribe()
    return list(reversed(found[-limit:]))

"""Reading this service's dead letters back from the DEADLETTER stream, for operators."""

from __future__ import annotations

import json
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.core.errors import Transient
from libs.messaging import DLQ_PREFIX, DLQ_STREAM


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

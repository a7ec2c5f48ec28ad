"""run_consumer: fetch, decode, handle, then ack; nak with backoff; or terminate into the dead-letter stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from libs.contracts import Contract, decode
from libs.core.errors import AppError, StreamAction
from libs.core.logging import bound_contextvars, get_logger
from libs.messaging.streams import DLQ_PREFIX

log = get_logger(__name__)

C = TypeVar("C", bound=Contract)
S = TypeVar("S")
Handler = Callable[[C], Awaitable[None]]
# A service's ``HANDLERS``: the use case of each message type, as a function of the service object.
HandlerTable = Mapping[type[Contract], Callable[[S, Any], Awaitable[None]]]

BACKOFF_S = (0.5, 2.0, 5.0, 15.0, 30.0, 60.0)


def dispatch(service: S, handlers: HandlerTable[S]) -> Callable[[Contract], Awaitable[None]]:
    """The consumer handler of a service: the use case its ``HANDLERS`` table registers for the message's
    type (one dict lookup, no ``isinstance`` chain). A type the service does not handle is acknowledged
    (a stream carries other types too: delivery statuses among conversation events)."""

    async def handle(event: Contract) -> None:
        use_case = handlers.get(type(event))
        if use_case is None:
            log.debug("message_not_handled", type=event.type)
            return
        await use_case(service, event)

    return handle


def backoff_for(attempt: int) -> float:
    """Delay before redelivery ``attempt`` (1-based)."""
    return BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]


async def dead_letter(js: JetStreamContext, msg: Msg, reason: str, stream: str, durable: str) -> None:
    """Copy a message into the dead-letter stream with why it failed."""
    meta = msg.metadata
    headers = {
        "Sb-Dlq-Reason": reason[:1000].replace("\n", " "),
        "Sb-Dlq-Subject": msg.subject,
        "Sb-Dlq-Stream": stream,
        "Sb-Dlq-Consumer": durable,
        "Sb-Dlq-Deliveries": str(meta.num_delivered),
        "Nats-Msg-Id": f"dlq:{stream}:{meta.sequence.stream}",
    }
    await js.publish(f"{DLQ_PREFIX}.{stream}.{durable}", msg.data, headers=headers, timeout=5)
    log.warning("message_dead_lettered", subject=msg.subject, reason=reason, stream=stream, consumer=durable)


async def ensure_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subject: str | None = None,
    *,
    max_deliver: int = 8,
    ack_wait_s: float = 30.0,
    max_ack_pending: int = 1000,
) -> None:
    """Create or update a durable pull consumer."""
    cfg = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=filter_subject,
        max_deliver=max_deliver,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
    )
    await js.add_consumer(stream, cfg)


async def run_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    handler: Callable[[Contract], Awaitable[None]],
    stop: asyncio.Event,
    filter_subject: str | None = None,
    batch: int = 32,
    max_deliver: int = 8,
    ack_wait_s: float = 30.0,
    parallel_subjects: bool = False,
) -> None:
    """Consume a durable pull consumer until ``stop`` is set.

    For each message: decode the contract, call ``handler``, then

    - success: ack;
    - ``AppError`` whose action is NAK (transient): nak with a backoff delay;
    - ``AppError`` whose action is TERM (permanent), or an undecodable payload: copy to the dead-letter
      stream with the reason, then term;
    - any other exception: nak with backoff, and dead-letter once ``max_deliver`` is reached.

    Messages of a batch are handled one after another, so per-subject order is kept. With
    ``parallel_subjects`` the batch's subjects are handled concurrently, each still in order: one slow
    subject (a provider that hangs, for one channel) then does not hold up the others of the batch. The
    messages in hand are always finished before the loop looks at ``stop``.
    """
    await ensure_consumer(js, stream, durable, filter_subject, max_deliver=max_deliver, ack_wait_s=ack_wait_s)
    sub = await js.pull_subscribe_bind(durable, stream=stream)
    log.info("consumer_started", stream=stream, consumer=durable)
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except (NatsTimeout, TimeoutError):  # nothing to fetch this second
                continue
            except Exception as exc:  # connection hiccup: back off, never spin
                if stop.is_set():
                    break
                log.warning("consumer_fetch_failed", consumer=durable, error=repr(exc))
                await asyncio.sleep(0.5)
                continue
            groups: dict[str, list[Msg]] = {}
            for msg in msgs:
                groups.setdefault(msg.subject if parallel_subjects else "", []).append(msg)
            await asyncio.gather(*(_handle_in_order(js, group, handler, stream, durable, max_deliver)
                                   for group in groups.values()))
    finally:
        try:
            await sub.unsubscribe()
        except Exception:
            pass
        log.info("consumer_stopped", stream=stream, consumer=durable)


async def _handle_in_order(js: JetStreamContext, msgs: list[Msg], handler: Callable[[Contract], Awaitable[None]],
                           stream: str, durable: str, max_deliver: int) -> None:
    for msg in msgs:
        await _handle_one(js, msg, handler, stream, durable, max_deliver)


async def _handle_one(
    js: JetStreamContext,
    msg: Msg,
    handler: Callable[[Contract], Awaitable[None]],
    stream: str,
    durable: str,
    max_deliver: int,
) -> None:
    attempt = msg.metadata.num_delivered
    try:
        event = decode(msg.data)
    except (ValueError, ValidationError, json.JSONDecodeError) as exc:
        await dead_letter(js, msg, f"undecodable: {exc}", stream, durable)
        await msg.term()
        return
    with bound_contextvars(event_type=event.type, event_id=event.id):
        try:
            await handler(event)
        except AppError as err:
            if err.action is StreamAction.NAK and attempt < max_deliver:
                delay = max(err.retry_after_s or 0.0, backoff_for(attempt))
                log.info("message_retry", reason=err.message, attempt=attempt, delay_s=delay)
                await msg.nak(delay=delay)
                return
            if err.action is StreamAction.ACK:
                await msg.ack()
                return
            await dead_letter(js, msg, f"{err.code}: {err.message}", stream, durable)
            await msg.term()
            return
        except Exception as exc:
            if attempt >= max_deliver:
                await dead_letter(js, msg, f"exhausted {attempt} deliveries: {exc!r}", stream, durable)
                await msg.term()
                return
            log.exception("message_handler_failed", attempt=attempt)
            await msg.nak(delay=backoff_for(attempt))
            return
        await msg.ack()

"""run_consumer: fetch, decode, handle, then ack; nak with backoff; or terminate into the dead-letter stream.

The loop is built to outlive its dependencies: an error while acking, nak'ing, terminating or
dead-lettering is logged, counted (``sb_consumer_errors_total``) and left to JetStream's redelivery; a
JetStream error while creating or binding the consumer, or NATS going away, is retried with backoff
until ``stop`` is set. A message that exhausts ``max_deliver`` without any outcome (its handler hung
past ``ack_wait``, the process died, its ack was lost) is announced by JetStream's ``MAX_DELIVERIES``
advisory; the loop listens for it and copies the message, fetched by its stream sequence, to the
dead-letter stream with the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from tenacity import AsyncRetrying, stop_after_attempt, stop_after_delay, wait_random_exponential

from libs.contracts import Contract, decode
from libs.core import metrics, tracing
from libs.core.errors import AppError, StreamAction
from libs.core.logging import bound_contextvars, get_logger
from libs.messaging.streams import DLQ_PREFIX

log = get_logger(__name__)

C = TypeVar("C", bound=Contract)
S = TypeVar("S")
Handler = Callable[[C], Awaitable[None]]
# Handles the decoded messages of one fetch together; returns, per message in order, None (done: ack) or the
# error it raised (handled as ``run_consumer`` handles a handler's error).
BatchHandler = Callable[[list[Contract]], Awaitable[list[BaseException | None]]]
# A service's ``HANDLERS``: the use case of each message type, as a function of the service object.
HandlerTable = Mapping[type[Contract], Callable[[S, Any], Awaitable[None]]]

BACKOFF_S = (0.5, 2.0, 5.0, 15.0, 30.0, 60.0)
# A replayed dead letter is published on its original subject with this header: only the named
# consumer handles it; every other consumer of the subject acks it unseen.
REPLAY_FOR = "Sb-Replay-For"
ADVISORY_MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
# Loop restarts (setup or repeated fetch failures) back off up to this many seconds.
MAX_RESTART_DELAY_S = 10.0


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


def dlq_headers(*, reason: str, subject: str, stream: str, durable: str, deliveries: int, stream_seq: int,
                original: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of a dead letter; ``Nats-Msg-Id`` makes a second copy of the same message a no-op."""
    headers = {
        "Sb-Dlq-Reason": reason[:1000].replace("\n", " "),
        "Sb-Dlq-Subject": subject,
        "Sb-Dlq-Stream": stream,
        "Sb-Dlq-Consumer": durable,
        "Sb-Dlq-Deliveries": str(deliveries),
        "Sb-Dlq-Sequence": str(stream_seq),
        "Nats-Msg-Id": f"dlq:{stream}:{stream_seq}",
    }
    for name in ("traceparent", "tracestate"):  # a replay continues the message's trace
        if original and name in original:
            headers[name] = original[name]
    return headers


async def dead_letter(js: JetStreamContext, msg: Msg, reason: str, stream: str, durable: str) -> None:
    """Copy a message into the dead-letter stream with why it failed."""
    meta = msg.metadata
    headers = dlq_headers(reason=reason, subject=msg.subject, stream=stream, durable=durable,
                          deliveries=meta.num_delivered, stream_seq=meta.sequence.stream, original=msg.headers)
    await js.publish(f"{DLQ_PREFIX}.{stream}.{durable}", msg.data, headers=headers, timeout=5)
    metrics.DEAD_LETTERS.labels(stream, durable).inc()
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
    attempts: int = 5,
    max_delay_s: float = 20.0,
) -> None:
    """Create or update a durable pull consumer, retrying a JetStream that is starting or electing a leader.

    Raises:
        Exception: the last error, once ``attempts`` or ``max_delay_s`` are spent.
    """
    cfg = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=filter_subject,
        max_deliver=max_deliver,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
    )
    async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts) | stop_after_delay(max_delay_s),
                                       wait=wait_random_exponential(multiplier=0.2, max=3), reraise=True):
        with attempt:
            await js.add_consumer(stream, cfg)


class SubjectOrder:
    """Per-subject order across replicas and retries, for a work-queue stream (one subject per conversation).

    A message is handled only when it is the oldest message of its subject still in the stream: acknowledged
    (or terminated) ones are gone from a work queue, so an older one still there is being handled by another
    replica or waiting for its retry. A later message then goes back (nak with ``wait_s``) without counting as
    an attempt: its deliveries include every wait, on any replica, so its attempts are counted here, where
    the handler ran (for the last ``memory`` messages; with several replicas a message may get up to
    replicas x max_deliver tries before it is dead-lettered).
    """

    def __init__(self, js: JetStreamContext, stream: str, wait_s: float = 0.2, memory: int = 10_000) -> None:
        self.js, self.stream, self.wait_s, self.memory = js, stream, wait_s, memory
        self.tries: OrderedDict[int, int] = OrderedDict()

    async def blocked(self, msg: Msg, patience_s: float = 0.1) -> bool:
        """Whether an older message of the subject is still pending, after waiting ``patience_s`` for it (the
        usual case: another replica is sending it right now and acks within milliseconds)."""
        seq = msg.metadata.sequence.stream
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience_s
        pause = 0.005
        while True:
            try:
                # Read from the stream leader (not a direct get, which a lagging follower may answer).
                first = await self.js.get_msg(self.stream, seq=1, subject=msg.subject, next=True)
                if first.seq is None or first.seq >= seq:
                    return False
            except NotFoundError:
                return False
            except Exception as exc:  # the leader is moving: wait rather than risk an overtaking send
                log.warning("subject_order_check_failed", subject=msg.subject, error=repr(exc))
            if loop.time() + pause > deadline:
                return True
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.04)

    def attempt(self, msg: Msg) -> int:
        """Count one more run of the handler for this message here; the count so far."""
        seq = msg.metadata.sequence.stream
        self.tries[seq] = self.tries.get(seq, 0) + 1
        self.tries.move_to_end(seq)
        while len(self.tries) > self.memory:
            self.tries.popitem(last=False)
        return self.tries[seq]


@dataclass(frozen=True)
class _Hold:
    """How a consumer waits while its service cannot work: ``until()`` (None: it can), its stop, its ack wait."""

    until: Callable[[], Awaitable[Any] | None]
    stop: asyncio.Event
    ack_wait_s: float


class _Instruments:
    """The metric children of one consumer, bound once: the per-message cost is an increment; and its hold."""

    hold: _Hold | None = None

    def __init__(self, stream: str, durable: str) -> None:
        outcome = metrics.CONSUMER_MESSAGES
        self.ack = outcome.labels(stream, durable, "ack")
        self.nak = outcome.labels(stream, durable, "nak")
        self.term = outcome.labels(stream, durable, "term")
        self.dead_letter = outcome.labels(stream, durable, "dead_letter")
        self.seconds = metrics.CONSUMER_SECONDS.labels(durable)
        self.pending = metrics.CONSUMER_PENDING.labels(stream, durable)
        self.durable = durable

    def error(self, operation: str) -> None:
        metrics.CONSUMER_ERRORS.labels(self.durable, operation).inc()


class _Rebind(Exception):
    """The pull subscription looks broken (consumer gone, fetches keep failing): set it up again."""


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


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
    pending_every_s: float = 15.0,
    subject_order: bool = False,
    hold: Callable[[], Awaitable[Any] | None] | None = None,
    batch_handler: BatchHandler | None = None,
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

    The loop returns only when ``stop`` is set: setup and fetch failures are retried with backoff (see the
    module docstring). Every ``pending_every_s`` it reads the consumer's ``num_pending`` into
    ``sb_consumer_pending``.

    ``subject_order`` (work-queue streams) keeps each subject's order across replicas and retries too: see
    ``SubjectOrder``. The server then redelivers without limit, and ``max_deliver`` counts only real attempts.

    ``hold``, when given, is called before every fetch: None when the service can work, else an awaitable
    that completes once it can again (the router's live state rebuilt, say). The loop then fetches nothing
    meanwhile, and a message whose handler failed with a NAK error during the outage stays in hand (in
    progress) and runs again once it is over: a long outage never spends deliveries or dead-letters anything.

    ``batch_handler`` (not with ``parallel_subjects`` or ``subject_order``): the decoded messages of each fetch
    go to it together, so it can decide them with fewer round trips; each message is then acked, nak'ed or
    dead-lettered by its own outcome, as above. With tracing on, messages go one by one to ``handler`` (each
    keeps its consumer span).
    """
    gate = SubjectOrder(js, stream) if subject_order else None
    inst = _Instruments(stream, durable)
    if hold is not None:
        inst.hold = _Hold(hold, stop, ack_wait_s)
    advisories = None
    delay = 0.5
    log.info("consumer_started", stream=stream, consumer=durable)
    try:
        while not stop.is_set():
            try:
                if advisories is None:
                    advisories = await watch_max_deliveries(js, stream, durable)
                await ensure_consumer(js, stream, durable, filter_subject, max_deliver=-1 if gate else max_deliver,
                                      ack_wait_s=ack_wait_s)
                sub = await js.pull_subscribe_bind(durable, stream=stream)
            except Exception as exc:
                if stop.is_set():
                    break
                inst.error("setup")
                log.warning("consumer_setup_failed", stream=stream, consumer=durable, error=repr(exc),
                            retry_in_s=delay)
                await _pause(stop, delay)
                delay = min(delay * 2, MAX_RESTART_DELAY_S)
                continue
            try:
                await _consume(js, sub, handler, stop, inst, stream, durable, batch, max_deliver,
                               parallel_subjects, pending_every_s, gate, hold, batch_handler)
                delay = 0.5
            except _Rebind as why:
                inst.error("rebind")
                log.warning("consumer_rebinding", stream=stream, consumer=durable, reason=str(why),
                            retry_in_s=delay)
                await _pause(stop, delay)
                delay = min(delay * 2, MAX_RESTART_DELAY_S)
            finally:
                try:
                    await sub.unsubscribe()
                except Exception:
                    pass
    finally:
        if advisories is not None:
            try:
                await advisories.unsubscribe()
            except Exception:
                pass
        log.info("consumer_stopped", stream=stream, consumer=durable)


def _raise_if_cancelled() -> None:
    """End the loop on a cancel that was swallowed: on Python 3.11 ``asyncio.wait_for`` (inside nats-py's fetch)
    can drop a cancel that lands as its wait completes, and the cancelled loop then fetched on (a killed
    consumer task kept /readyz at 200). The task still counts the request (``cancelling()``)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _consume(js: JetStreamContext, sub: Any, handler: Callable[[Contract], Awaitable[None]],
                   stop: asyncio.Event, inst: _Instruments, stream: str, durable: str, batch: int,
                   max_deliver: int, parallel_subjects: bool, pending_every_s: float,
                   gate: SubjectOrder | None = None, hold: Callable[[], Awaitable[Any] | None] | None = None,
                   batch_handler: BatchHandler | None = None) -> None:
    failures = 0
    next_pending = 0.0
    while not stop.is_set():
        _raise_if_cancelled()
        if hold is not None and (until := hold()) is not None and not await _held(until, stop):
            return
        now = time.monotonic()
        if now >= next_pending:
            next_pending = now + pending_every_s
            await _read_pending(sub, inst)
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except (NatsTimeout, TimeoutError):  # nothing to fetch this second
            failures = 0
            continue
        except Exception as exc:  # connection hiccup, consumer gone: back off, never spin
            if stop.is_set():
                return
            failures += 1
            inst.error("fetch")
            log.warning("consumer_fetch_failed", consumer=durable, error=repr(exc), failures=failures)
            if failures >= 5:
                raise _Rebind(f"{failures} fetches failed, last: {exc!r}") from exc
            await _pause(stop, min(0.25 * 2 ** failures, 5.0))
            continue
        failures = 0
        if batch_handler is not None and gate is None and not tracing.enabled():
            await _handle_batch(js, msgs, batch_handler, inst, stream, durable, max_deliver)
        elif parallel_subjects:
            groups: dict[str, list[Msg]] = {}
            for msg in msgs:
                groups.setdefault(msg.subject, []).append(msg)
            await asyncio.gather(*(_handle_in_order(js, group, handler, inst, stream, durable, max_deliver, gate)
                                   for group in groups.values()))
        else:
            await _handle_in_order(js, msgs, handler, inst, stream, durable, max_deliver, gate)


async def _wait_in_hand(msgs: list[Msg], hold: _Hold) -> bool:
    """Wait, telling JetStream the messages are in progress, until the service can work again (True) or is
    stopping (False: the caller naks them as usual)."""
    until = hold.until()
    if until is None:
        return False
    waiting = asyncio.ensure_future(until)
    while True:
        if not await _held(waiting, hold.stop, timeout=hold.ack_wait_s / 3):
            return False
        if waiting.done():
            return True
        try:
            for msg in msgs:
                await msg.in_progress()
        except Exception:  # NATS away: the redelivery, if any, is an ordinary one
            return False


async def _held(until: Awaitable[Any], stop: asyncio.Event, timeout: float | None = None) -> bool:
    """Wait until the service can work (``until``), ``stop`` or ``timeout``; False once stopping."""
    waiting = asyncio.ensure_future(until)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if waiting.done() and not waiting.cancelled():
        waiting.exception()  # the hold's own failure is the service's business: it holds again if it must
    return not stop.is_set()


async def _read_pending(sub: Any, inst: _Instruments) -> None:
    try:
        info = await sub.consumer_info()
    except NotFoundError as exc:
        raise _Rebind("the consumer no longer exists") from exc
    except Exception:  # NATS away: the fetch loop says so; the gauge keeps its last value
        return
    inst.pending.set(info.num_pending)


async def _handle_in_order(js: JetStreamContext, msgs: list[Msg], handler: Callable[[Contract], Awaitable[None]],
                           inst: _Instruments, stream: str, durable: str, max_deliver: int,
                           gate: SubjectOrder | None = None) -> None:
    for msg in msgs:
        if gate is not None and await gate.blocked(msg):
            if await _settle(inst, "nak", msg.nak(delay=gate.wait_s)):
                inst.nak.inc()
            continue
        await _handle_one(js, msg, handler, inst, stream, durable, max_deliver, gate)


async def _settle(inst: _Instruments, operation: str, action: Awaitable[object]) -> bool:
    """Ack, nak or term; a failure is logged and counted, and JetStream redelivers after ``ack_wait``."""
    try:
        await action
        return True
    except Exception as exc:
        inst.error(operation)
        log.warning("consumer_settle_failed", consumer=inst.durable, operation=operation, error=repr(exc))
        return False


async def _give_up(js: JetStreamContext, msg: Msg, inst: _Instruments, reason: str, stream: str,
                   durable: str, attempt: int, *, exhausted: bool = False) -> None:
    """Dead-letter then term; if the dead-letter copy fails, nak so the message comes back (and, past
    ``max_deliver``, the MAX_DELIVERIES advisory still dead-letters it).

    Counted as outcome ``term`` for a permanent error (bad payload, refused by the domain) and
    ``dead_letter`` for a message that exhausted its deliveries; both are in the dead-letter stream.
    """
    try:
        await dead_letter(js, msg, reason, stream, durable)
    except Exception as exc:
        inst.error("dead_letter")
        log.warning("dead_letter_failed", consumer=durable, error=repr(exc))
        if await _settle(inst, "nak", msg.nak(delay=backoff_for(attempt))):
            inst.nak.inc()
        return
    (inst.dead_letter if exhausted else inst.term).inc()
    await _settle(inst, "term", msg.term())


async def _handle_one(
    js: JetStreamContext,
    msg: Msg,
    handler: Callable[[Contract], Awaitable[None]],
    inst: _Instruments,
    stream: str,
    durable: str,
    max_deliver: int,
    gate: SubjectOrder | None = None,
) -> None:
    taken = await _take(js, msg, inst, stream, durable, gate)
    if taken is None:
        return
    event, attempt = taken
    headers = msg.headers
    with bound_contextvars(event_type=event.type, event_id=event.id):
        if tracing.enabled():
            with tracing.consumer_span(f"{durable} process", headers, **{"messaging.destination.name": msg.subject}):
                await _process(js, msg, event, handler, inst, stream, durable, max_deliver, attempt, gate)
        else:
            await _process(js, msg, event, handler, inst, stream, durable, max_deliver, attempt, gate)


async def _take(js: JetStreamContext, msg: Msg, inst: _Instruments, stream: str, durable: str,
                gate: SubjectOrder | None) -> tuple[Contract, int] | None:
    """The decoded message and its attempt number; None when it is settled already (another consumer's replay:
    acked; undecodable: dead-lettered)."""
    headers = msg.headers
    if headers and headers.get(REPLAY_FOR, durable) != durable:  # another consumer's replay
        if await _settle(inst, "ack", msg.ack()):
            inst.ack.inc()
        return None
    attempt = gate.attempt(msg) if gate else msg.metadata.num_delivered
    try:
        return decode(msg.data), attempt
    except (ValueError, ValidationError, json.JSONDecodeError) as exc:
        await _give_up(js, msg, inst, f"undecodable: {exc}", stream, durable, attempt)
        return None


async def _handle_batch(js: JetStreamContext, msgs: list[Msg], batch_handler: BatchHandler, inst: _Instruments,
                        stream: str, durable: str, max_deliver: int) -> None:
    taken: list[tuple[Msg, Contract, int]] = []
    for msg in msgs:
        if (one := await _take(js, msg, inst, stream, durable, None)) is not None:
            taken.append((msg, *one))
    if not taken:
        return
    started = time.perf_counter()
    outcomes = await _run_batch(batch_handler, [event for _, event, _ in taken])
    while inst.hold is not None:
        # The whole service cannot work: the messages that failed for it stay in hand (in progress, their
        # deliveries not spent) and are decided again, together, once it can.
        again = [n for n, o in enumerate(outcomes) if isinstance(o, AppError) and o.action is StreamAction.NAK]
        if not again or not await _wait_in_hand([taken[n][0] for n in again], inst.hold):
            break
        for n, outcome in zip(again, await _run_batch(batch_handler, [taken[n][1] for n in again]), strict=True):
            outcomes[n] = outcome
    elapsed = time.perf_counter() - started
    for (msg, event, attempt), outcome in zip(taken, outcomes, strict=True):
        inst.seconds.observe(elapsed)
        with bound_contextvars(event_type=event.type, event_id=event.id):
            await _conclude(js, msg, outcome, inst, stream, durable, max_deliver, attempt)


async def _run_batch(batch_handler: BatchHandler, events: list[Contract]) -> list[BaseException | None]:
    try:
        return await batch_handler(events)
    except Exception as exc:  # the whole batch failed the same way
        return [exc] * len(events)


async def _process(js: JetStreamContext, msg: Msg, event: Contract, handler: Callable[[Contract], Awaitable[None]],
                   inst: _Instruments, stream: str, durable: str, max_deliver: int, attempt: int,
                   gate: SubjectOrder | None = None) -> None:
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        while True:
            try:
                await handler(event)
                break
            except AppError as err:
                # The whole service cannot work (not this message's fault): keep the message in hand, not
                # spending its deliveries, and run it again once the service can.
                if err.action is not StreamAction.NAK or inst.hold is None or not await _wait_in_hand([msg], inst.hold):
                    raise
    except Exception as exc:
        error = exc
    inst.seconds.observe(time.perf_counter() - started)
    await _conclude(js, msg, error, inst, stream, durable, max_deliver, attempt, gate)


async def _conclude(js: JetStreamContext, msg: Msg, error: BaseException | None, inst: _Instruments, stream: str,
                    durable: str, max_deliver: int, attempt: int, gate: SubjectOrder | None = None) -> None:
    """Settle a handled message by its outcome: ack; nak with backoff; or dead-letter and term."""
    if isinstance(error, AppError):
        err = error
        if err.action is StreamAction.NAK and attempt < max_deliver:
            delay = max(err.retry_after_s or 0.0, backoff_for(attempt))
            log.info("message_retry", reason=err.message, attempt=attempt, delay_s=delay)
            if await _settle(inst, "nak", msg.nak(delay=delay)):
                inst.nak.inc()
            return
        if err.action is StreamAction.ACK:
            if await _settle(inst, "ack", msg.ack()):
                inst.ack.inc()
            return
        await _give_up(js, msg, inst, f"{err.code}: {err.message}", stream, durable, attempt,
                       exhausted=err.action is StreamAction.NAK)
        return
    if error is not None:
        if attempt >= max_deliver:
            await _give_up(js, msg, inst, f"exhausted {attempt} deliveries: {error!r}", stream, durable, attempt,
                           exhausted=True)
            return
        log.error("message_handler_failed", attempt=attempt, exc_info=error)
        if await _settle(inst, "nak", msg.nak(delay=backoff_for(attempt))):
            inst.nak.inc()
        return
    # In subject order the next message of the subject is checked next: the ack must have landed first.
    if await _settle(inst, "ack", msg.ack_sync() if gate else msg.ack()):
        inst.ack.inc()


async def watch_max_deliveries(js: JetStreamContext, stream: str, durable: str) -> Any:
    """Dead-letter every message of ``durable`` that JetStream announces as past ``max_deliver``.

    The advisory is a core NATS message: a queue group makes one replica of the service copy each
    message, and the ``Nats-Msg-Id`` of the copy makes a second copy (from our own handler path, or a
    replica that saw it too) a no-op.
    """
    nc = js._nc  # the JetStream context's connection; nats-py has no public accessor

    async def on_advisory(adv: Msg) -> None:
        try:
            body = json.loads(adv.data)
            seq, deliveries = int(body["stream_seq"]), int(body.get("deliveries", 0))
        except (ValueError, KeyError, TypeError):
            log.warning("advisory_unreadable", subject=adv.subject)
            return
        try:
            await dead_letter_sequence(js, stream, durable, seq, deliveries,
                                       f"max_deliver exhausted after {deliveries} deliveries without an outcome "
                                       "(handler timed out, process died, or the ack was lost)")
        except Exception as exc:
            metrics.CONSUMER_ERRORS.labels(durable, "advisory").inc()
            log.error("advisory_dead_letter_failed", stream=stream, consumer=durable, stream_seq=seq,
                      error=repr(exc))

    return await nc.subscribe(f"{ADVISORY_MAX_DELIVERIES}.{stream}.{durable}", queue=f"sb-dlq.{durable}",
                              cb=on_advisory)


async def dead_letter_sequence(js: JetStreamContext, stream: str, durable: str, seq: int, deliveries: int,
                               reason: str) -> None:
    """Copy the message at ``stream``/``seq`` to the dead-letter stream (used for MAX_DELIVERIES advisories)."""
    raw = await js.get_msg(stream, seq)
    headers = dlq_headers(reason=reason, subject=raw.subject or "", stream=stream, durable=durable,
                          deliveries=deliveries, stream_seq=seq, original=dict(raw.headers or {}))
    ack = await js.publish(f"{DLQ_PREFIX}.{stream}.{durable}", raw.data or b"", headers=headers, timeout=5)
    if not ack.duplicate:
        metrics.DEAD_LETTERS.labels(stream, durable).inc()
        metrics.CONSUMER_MESSAGES.labels(stream, durable, "dead_letter").inc()
    log.warning("message_dead_lettered", subject=raw.subject, reason=reason, stream=stream, consumer=durable,
                stream_seq=seq, duplicate=bool(ack.duplicate))

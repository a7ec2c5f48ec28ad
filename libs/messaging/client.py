"""NATS connection with bounded retries, typed publish, and the KV watch helper."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError, TooManyStalledMsgsError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from libs.contracts import Contract
from libs.core import metrics, tracing
from libs.core.errors import Transient
from libs.core.logging import get_logger
from libs.messaging.streams import JetStreamLayout, ensure_streams, layout_from_settings

log = get_logger(__name__)


async def _on_error(exc: Exception) -> None:
    # nats-py's default logs a traceback for every failed reconnect attempt; one line says as much.
    log.warning("nats_error", error=repr(exc))


async def _on_disconnected() -> None:
    log.warning("nats_disconnected")


async def _on_reconnected() -> None:
    log.info("nats_reconnected")


async def connect(url: str, name: str, *, attempts: int = 10, max_delay_s: float = 30.0) -> NATS:
    """Connect to NATS, retrying with jitter a bounded number of times; later, reconnect forever."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((OSError, NatsTimeout, nats.errors.NoServersError)),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_delay_s),
        wait=wait_random_exponential(multiplier=0.2, max=3),
        reraise=True,
    ):
        with attempt:
            return await nats.connect(
                servers=[u.strip() for u in url.split(",") if u.strip()],  # a cluster: several seed URLs
                name=name,
                connect_timeout=3,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=_on_error,
                disconnected_cb=_on_disconnected,
                reconnected_cb=_on_reconnected,
            )
    raise AssertionError("unreachable")


@asynccontextmanager
async def nats_session(url: str, name: str, *, setup: bool = True, layout: JetStreamLayout | None = None
                       ) -> AsyncIterator[tuple[NATS, JetStreamContext]]:
    """Connect, ensure streams (replicas and limits from ``layout``, else from the environment), drain on exit."""
    nc = await connect(url, name)
    js = nc.jetstream()
    if setup:
        await ensure_streams(js, layout or layout_from_settings())
    try:
        yield nc, js
    finally:
        if not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), 10)
            except Exception:
                await nc.close()


_UNACKED = (TimeoutError, NatsTimeout, NoRespondersError, NoStreamResponseError,
            nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError)
# publish_async turns "no responders" into NoStreamResponseError and a full pending window into
# TooManyStalledMsgsError (also what it raises when our deadline cancels its wait for a slot).
_UNACKED_MANY = (*_UNACKED, TooManyStalledMsgsError)


_PUBLISH_SECONDS: dict[str, Any] = {}


def _observe_publish(stream: str, seconds: float) -> None:
    child = _PUBLISH_SECONDS.get(stream)
    if child is None:
        child = _PUBLISH_SECONDS[stream] = metrics.PUBLISH_SECONDS.labels(stream)
    child.observe(seconds)


def message_headers(msg: Contract) -> dict[str, str]:
    """``Nats-Msg-Id`` of the contract, plus ``traceparent`` of the current span when tracing is on."""
    headers = {"Nats-Msg-Id": msg.msg_id()}
    if tracing.enabled():
        tracing.inject(headers)
    return headers


async def publish(js: JetStreamContext, msg: Contract, *, timeout: float = 5.0) -> PubAck:
    """Publish a contract on its subject with ``Nats-Msg-Id`` and wait for the JetStream ack.

    Raises:
        Transient: JetStream did not acknowledge in time; the caller must not report success.
    """
    started = time.perf_counter()
    try:
        ack = await js.publish(msg.subject(), msg.model_dump_json().encode(), timeout=timeout,
                               headers=message_headers(msg))
    except _UNACKED as exc:
        raise Transient(f"JetStream did not acknowledge {msg.subject()}: {type(exc).__name__}") from exc
    _observe_publish(ack.stream, time.perf_counter() - started)
    return ack


async def publish_many(js: JetStreamContext, msgs: list[Contract], *, timeout: float = 5.0) -> list[PubAck]:
    """Publish several contracts in order and wait, within ``timeout`` overall, for every JetStream ack.

    The messages are pipelined with ``publish_async``: one reply subscription per ``JetStreamContext``
    resolves all the acks, instead of one inbox future, request task and timer per message. Acks that
    have not arrived when this returns or raises are cancelled, which frees nats-py's pending slots.

    Raises:
        Transient: some message was not acknowledged (no stream, timeout, connection closed, too many
            publishes in flight); any of them may still have been stored, so the caller re-publishes the
            batch with the same ids and JetStream dedups.
    """
    if len(msgs) <= 1:
        return [await publish(js, m, timeout=timeout) for m in msgs]
    acks: list[asyncio.Future[PubAck]] = []
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            for m in msgs:
                acks.append(await js.publish_async(m.subject(), m.model_dump_json().encode(),
                                                   headers=message_headers(m)))
            done = list(await asyncio.gather(*acks))
            _observe_publish(done[0].stream, time.perf_counter() - started)
            return done
    except _UNACKED_MANY as exc:
        raise Transient(f"JetStream did not acknowledge {len(msgs)} messages "
                        f"({msgs[0].subject()}...): {type(exc).__name__}") from exc
    finally:
        for ack in acks:
            if not ack.done():
                ack.cancel()


async def read_kv(js: JetStreamContext, bucket: str) -> dict[str, Any]:
    """Every current key of a bucket with its JSON value, read directly (a watch may lag a moment behind)."""
    kv = await js.key_value(bucket)
    try:
        keys = await kv.keys()
    except Exception:  # an empty bucket answers "no keys found"
        return {}
    out: dict[str, Any] = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except Exception:  # deleted meanwhile
            continue
        if entry.value:
            try:
                out[key] = json.loads(entry.value)
            except json.JSONDecodeError:
                log.error("kv_value_not_json", bucket=bucket, key=key)
    return out


async def watch_kv(
    js: JetStreamContext,
    bucket: str,
    on_change: Callable[[str, Any | None], object],
    *,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    check_every_s: float = 10.0,
) -> None:
    """Call ``on_change(key, value)`` for every current and future key of a bucket (``None`` on delete).

    Values are JSON. ``ready`` is set once the initial values have been delivered, so a service can turn
    ready only when its in-memory config is complete.

    The watch outlives NATS: if the watcher fails, or its (ephemeral) consumer is gone after a server
    restart (checked every ``check_every_s`` without updates), it is made again with backoff, and every
    key is delivered again, so nothing changed meanwhile is missed. An ``on_change`` that raises is
    logged and the watch goes on.
    """
    delay = 0.5
    while not stop.is_set():
        try:
            await _watch_once(js, bucket, on_change, stop, ready, check_every_s)
            return
        except Exception as exc:
            if stop.is_set():
                return
            metrics.CONSUMER_ERRORS.labels(f"kv:{bucket}", "watch").inc()
            log.warning("kv_watch_failed", bucket=bucket, error=repr(exc), retry_in_s=delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 10.0)


async def _watch_once(js: JetStreamContext, bucket: str,
                      on_change: Callable[[str, Any | None], object], stop: asyncio.Event,
                      ready: asyncio.Event | None, check_every_s: float) -> None:
    kv = await js.key_value(bucket)
    watcher = await kv.watchall()
    quiet_since = time.monotonic()
    try:
        while not stop.is_set():
            try:
                entry = await watcher.updates(timeout=1.0)
            except (NatsTimeout, TimeoutError):
                if time.monotonic() - quiet_since > check_every_s:
                    quiet_since = time.monotonic()
                    if watcher._sub is not None:  # raises NotFoundError when the server forgot it
                        await watcher._sub.consumer_info()
                continue
            quiet_since = time.monotonic()
            if entry is None:
                if ready is not None:
                    ready.set()
                continue
            value = None
            if entry.operation is None and entry.value:
                try:
                    value = json.loads(entry.value)
                except json.JSONDecodeError:
                    log.error("kv_value_not_json", bucket=bucket, key=entry.key)
                    continue
            try:
                result = on_change(entry.key, value)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("kv_change_failed", bucket=bucket, key=entry.key)
    finally:
        try:
            await watcher.stop()
        except Exception:
            pass

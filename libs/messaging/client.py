"""NATS connection with bounded retries, typed publish, and the KV watch helper."""

from __future__ import annotations

import asyncio
import json
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
from libs.core.errors import Transient
from libs.core.logging import get_logger
from libs.messaging.streams import JetStreamLayout, ensure_streams, layout_from_settings

log = get_logger(__name__)


async def connect(url: str, name: str, *, attempts: int = 10, max_delay_s: float = 30.0) -> NATS:
    """Connect to NATS, retrying with jitter a bounded number of times."""
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


async def publish(js: JetStreamContext, msg: Contract, *, timeout: float = 5.0) -> PubAck:
    """Publish a contract on its subject with ``Nats-Msg-Id`` and wait for the JetStream ack.

    Raises:
        Transient: JetStream did not acknowledge in time; the caller must not report success.
    """
    try:
        return await js.publish(
            msg.subject(),
            msg.model_dump_json().encode(),
            timeout=timeout,
            headers={"Nats-Msg-Id": msg.msg_id()},
        )
    except _UNACKED as exc:
        raise Transient(f"JetStream did not acknowledge {msg.subject()}: {type(exc).__name__}") from exc


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
    try:
        async with asyncio.timeout(timeout):
            for m in msgs:
                acks.append(await js.publish_async(
                    m.subject(), m.model_dump_json().encode(), headers={"Nats-Msg-Id": m.msg_id()}))
            return list(await asyncio.gather(*acks))
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
) -> None:
    """Call ``on_change(key, value)`` for every current and future key of a bucket (``None`` on delete).

    Values are JSON. ``ready`` is set once the initial values have been delivered, so a service can turn
    ready only when its in-memory config is complete.
    """
    kv = await js.key_value(bucket)
    watcher = await kv.watchall()
    try:
        while not stop.is_set():
            try:
                entry = await watcher.updates(timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
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
            result = on_change(entry.key, value)
            if asyncio.iscoroutine(result):
                await result
    finally:
        await watcher.stop()

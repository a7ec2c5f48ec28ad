"""Background work: the ``channels-outbound`` consumer and the ``channels`` KV watch that keeps every
replica's cache current."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from libs.core.service import LIFECYCLE
from libs.messaging import JETSTREAM, dispatch, start_consumer, watch_kv
from services.channels.adapters.kv import BUCKET
from services.channels.handlers import OUTBOUND_HANDLERS, VOICE_HANDLERS, CallConnector, ChannelRegistry, Deliverer
from services.channels.keys import OUTBOUND_DURABLE, VOICE_DURABLE


def start_outbound(app: web.Application, deliverer: Deliverer, *, max_deliver: int,
                   ack_wait_s: float) -> None:
    # One subject per conversation: a provider that is down or slow delays only its own conversations' sends,
    # and a conversation's replies reach the provider in the order they were sent, whichever replica takes them
    # and however often one is retried (subject_order).
    start_consumer(app, stream="OUTBOUND", durable=OUTBOUND_DURABLE, handler=dispatch(deliverer, OUTBOUND_HANDLERS),
                   filter_subject="sb.outbound.>", max_deliver=max_deliver, ack_wait_s=ack_wait_s,
                   parallel_subjects=True, subject_order=True)


def start_call_connector(app: web.Application, connector: CallConnector, *, ack_wait_s: float) -> None:
    start_consumer(app, stream="CONVERSATIONS", durable=VOICE_DURABLE, handler=dispatch(connector, VOICE_HANDLERS),
                   filter_subject="sb.conv.assigned.>", ack_wait_s=ack_wait_s)


async def start_registry_watch(app: web.Application, registry: ChannelRegistry) -> None:
    """Watch the bucket, then load every channel: a change made meanwhile arrives as a later update."""
    ready = asyncio.Event()

    async def on_change(key: str, value: Any | None) -> None:
        if not ready.is_set():
            return
        revision = value.get("revision") if isinstance(value, dict) else None
        await registry.refresh(key, revision if isinstance(revision, int) else None)

    lc = app[LIFECYCLE]
    lc.spawn(watch_kv(app[JETSTREAM], BUCKET, on_change, stop=lc.stopping, ready=ready), name="kv:channels")
    await asyncio.wait_for(ready.wait(), 30)
    await registry.load()

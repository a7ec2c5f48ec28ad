"""Rebuild of the live state from the durable record when Redis has lost it (the epoch key is gone).

The CONVERSATIONS stream holds every fact the router published (opened, messages, queued, offered,
assigned, transferred, closed), and AGENTS holds every presence change. Folding them gives the open
conversations, their messages and sequence numbers, the queues and the agents' loads. Campaign
membership and routing config come back from the snapshots (the campaign sync).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from libs.contracts import (
    AgentStatusChanged,
    ConversationAssigned,
    ConversationClosed,
    ConversationEvent,
    ConversationMessage,
    ConversationOffered,
    ConversationOpened,
    ConversationQueued,
    ConversationTransferred,
    decode,
)
from libs.core.logging import get_logger
from libs.messaging import SnapshotDirectory
from services.router.adapters.redis import RouterStore, now_ms

log = get_logger(__name__)

LOCK = "rebuild"


@dataclass
class _Conv:
    id: str
    campaign: str
    channel: str
    ctype: str
    contact: str
    cname: str = ""
    created: int = 0
    last_in: int = 0
    seq: int = 0
    state: str = "queued"
    queue: str = "q"
    agent: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    dedup: list[str] = field(default_factory=list)


def _ms(e: ConversationEvent | AgentStatusChanged) -> int:
    return int(e.occurred_at.timestamp() * 1000)


def fold(events: list[Any]) -> tuple[dict[str, _Conv], dict[str, AgentStatusChanged]]:
    """Replay events in stream order into the open conversations and the agents' last presence."""
    convs: dict[str, _Conv] = {}
    agents: dict[str, AgentStatusChanged] = {}
    for e in events:
        if isinstance(e, AgentStatusChanged):
            agents[e.agent_id] = e
            continue
        if not isinstance(e, ConversationEvent):
            continue
        if isinstance(e, ConversationOpened):
            convs[e.conversation_id] = _Conv(e.conversation_id, e.campaign_id or "", e.channel_id, e.channel_type,
                                             e.contact_address, e.contact_name or "", _ms(e), _ms(e))
        c = convs.get(e.conversation_id)
        if c is None:
            continue
        c.seq = max(c.seq, e.seq)
        if isinstance(e, ConversationMessage):
            c.messages.append({"seq": e.seq, "direction": e.direction, "message_id": e.message_id,
                               "provider_message_id": e.provider_message_id, "text": e.text, "media": e.media,
                               "kind": e.kind, "at": e.occurred_at.isoformat()})
            if e.direction == "in":
                c.last_in = _ms(e)
                if e.provider_message_id:
                    c.dedup.append(f"in:{e.channel_id}:{e.provider_message_id}")
        elif isinstance(e, ConversationQueued):
            c.state, c.agent = "queued", ""
            c.queue = "hold" if e.reason == "out_of_hours" else "q"
            c.campaign = e.campaign_id or c.campaign
        elif isinstance(e, ConversationOffered | ConversationAssigned):
            c.state, c.agent, c.queue = ("offered" if isinstance(e, ConversationOffered) else "assigned",
                                         e.agent_id or "", "")
        elif isinstance(e, ConversationTransferred):
            c.campaign = e.to_campaign_id or c.campaign
        elif isinstance(e, ConversationClosed):
            del convs[e.conversation_id]
    return convs, agents


class Rebuilder:
    """Rebuilds the live state; then ``resync`` (the router's campaign sync) mirrors the snapshots again."""

    def __init__(self, js: JetStreamContext, store: RouterStore, directory: SnapshotDirectory,
                 resync: Callable[[], Awaitable[None]] | None = None) -> None:
        self.js = js
        self.store = store
        self.directory = directory
        self.resync = resync

    async def ensure_state(self) -> None:
        if not await self.store.has_epoch():
            await self.rebuild()

    async def rebuild(self) -> dict[str, int]:
        """Rebuild once across replicas: one takes the lock, the others wait for the epoch."""
        if not await self.store.try_lock(LOCK, 120):
            for _ in range(1200):
                if await self.store.has_epoch():
                    break
                await asyncio.sleep(0.1)
            if self.resync is not None:
                await self.resync()
            return {}
        try:
            if await self.store.has_epoch():
                return {}
            log.warning("router_rebuild_started")
            events = await self._read("CONVERSATIONS", "sb.conv.>") + await self._read("AGENTS",
                                                                                       "sb.agent.event.status.>")
            convs, agents = fold(events)
            await self._write(convs, agents)
            await self.store.set_epoch()
            log.warning("router_rebuild_done", conversations=len(convs), agents=len(agents), events=len(events))
        finally:
            await self.store.unlock(LOCK)
        if self.resync is not None:
            await self.resync()
        return {"conversations": len(convs), "agents": len(agents)}

    async def _read(self, stream: str, subject: str) -> list[Any]:
        out: list[Any] = []
        # No per-subject counts: a stream holds one subject per conversation, too many to list.
        if (await self.js.stream_info(stream)).state.messages == 0:
            return out
        sub = await self.js.subscribe(subject, stream=stream, ordered_consumer=True,
                                      deliver_policy=DeliverPolicy.ALL)
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=2.0)
                except NatsTimeout:
                    break
                try:
                    out.append(decode(msg.data))
                except ValueError:
                    pass
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return out

    def _weight(self, c: _Conv) -> int:
        snap = self.directory.get(c.campaign)
        return snap.weight(c.ctype) if snap else 1

    def _priority(self, c: _Conv) -> int:
        snap = self.directory.get(c.campaign)
        return snap.routing.priority if snap else 0

    async def _write(self, convs: dict[str, _Conv], agents: dict[str, AgentStatusChanged]) -> None:
        s = self.store
        pipe = s.r.pipeline(transaction=False)
        loads: dict[str, int] = {}
        for c in convs.values():
            w = self._weight(c)
            prio = self._priority(c)
            state, queue, agent = c.state, c.queue, c.agent
            if state == "offered":  # the offer's timer is gone with the state: offer it anew
                state, queue, agent = "queued", "q", ""
            pipe.hset(s.key("conv", c.id), mapping={
                "id": c.id, "state": state, "campaign": c.campaign, "channel": c.channel, "ctype": c.ctype,
                "contact": c.contact, "cname": c.cname, "agent": agent, "prio": prio, "weight": w, "seq": c.seq,
                "created": c.created, "arrived": c.created, "last_in": c.last_in, "kind": "message",
                "queue": queue, "replied": 1, "offers": 0, "assigns": 0})
            pipe.delete(s.key("msgs", c.id))
            if c.messages:
                pipe.rpush(s.key("msgs", c.id), *(json.dumps(m) for m in c.messages))
            pipe.set(s.key("open", c.channel, c.contact), c.id)
            pipe.sadd(s.key("copen", c.campaign), c.id)
            pipe.sadd(s.p + "open_all", c.id)
            for d in c.dedup:
                pipe.set(s.key("dedup", d), c.id, px=24 * 3600 * 1000)
            if state == "queued" and queue == "hold":
                pipe.zadd(s.key("hold", c.campaign), {c.id: c.created})
            elif state == "queued":
                pipe.zadd(s.key("q", c.campaign), {c.id: (50 - max(-50, min(50, prio))) * 10**13 + c.created})
            elif agent:
                loads[agent] = loads.get(agent, 0) + w
                pipe.sadd(s.key("aconv", agent), c.id)
        now = now_ms()
        for aid in set(agents) | set(loads):
            a = agents.get(aid)
            pipe.hset(s.key("agent", aid), mapping={
                "status": a.status if a else "offline", "reason": (a.reason or "") if a else "",
                "load": loads.get(aid, 0), "last_act": now, "since": now, "missed": 0,
                # Status event ids continue above any published before the loss (they dedup by id).
                "ver": now})
        await pipe.execute()

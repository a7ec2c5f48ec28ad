"""Rebuild of the live state from the durable record when Redis has lost it (the epoch key is gone).

The epoch goes when Redis comes back empty, and also when it comes back from its files or from a replica
(``epoch_guard``: another server holds the state, which may have lost its last writes). One replica (lock)
then:

1. publishes whatever the outbox still holds, so every decision Redis kept is in the stream;
2. reads the CONVERSATIONS stream (every fact the router published: opened, messages, queued, offered,
   assigned, transferred, closed) and AGENTS (presence), waiting until no straggling publish arrives;
3. asks the CRM for open conversations whose opening is older than the stream's retention, and folds the
   stream's events on top of what the CRM recorded;
4. wipes the router's keys (a partial state is not trusted) and writes the open conversations, their messages
   and ``seq``, queues, out-of-hours backlogs, agent loads and presence, and the dedup keys of every inbound
   message and reply in the stream;
5. sets the epoch. Campaign membership and routing config come back from the snapshots (the campaign sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from libs.contracts import (
    AgentStatusChanged,
    Contract,
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
from libs.messaging import SnapshotDirectory, publish_many
from services.router.adapters.redis import RouterStore
from services.router.domain import now_ms

log = get_logger(__name__)

LOCK = "rebuild"
DAY_MS = 24 * 3600 * 1000
# The CRM's open conversations, page by page: a dict per conversation (``GET /conversations?status=open``),
# and one conversation with its messages (``GET /conversations/{id}``).
OpenConversations = Callable[[], Awaitable[list[dict[str, Any]]]]
ConversationRecord = Callable[[str], Awaitable[dict[str, Any]]]


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
    # Events up to ``base_seq`` are in the CRM's record already; state follows the highest ``state_seq``.
    base_seq: int = 0
    state_seq: int = 0


@dataclass
class Marks:
    """Dedup keys to restore: inbound message ids (-> conversation) and replies sent (-> seq), with their age."""

    inbound: dict[str, tuple[str, int]] = field(default_factory=dict)
    replies: dict[str, tuple[int, int]] = field(default_factory=dict)


def _ms(e: ConversationEvent | AgentStatusChanged) -> int:
    return int(e.occurred_at.timestamp() * 1000)


def _iso_ms(value: Any) -> int:
    if isinstance(value, str) and value:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    return 0


def seed_from_crm(row: dict[str, Any], messages: list[dict[str, Any]]) -> _Conv:
    """An open conversation as the CRM recorded it (its opening is no longer in the stream)."""
    status = row.get("status") or "queued"
    state = status if status in ("queued", "offered", "assigned") else "queued"
    c = _Conv(row["id"], row.get("campaign_id") or "", row["channel_id"], row["channel_type"], row["contact_address"],
              created=_iso_ms(row.get("opened_at")), seq=int(row.get("last_seq") or 0), state=state,
              queue="q" if state == "queued" else "", agent=(row.get("agent_id") or "") if state != "queued" else "")
    c.base_seq = c.state_seq = c.seq
    for m in messages:
        c.messages.append({"seq": m.get("seq"), "direction": m.get("direction"), "message_id": m.get("id"),
                           "provider_message_id": m.get("provider_message_id"), "text": m.get("text"),
                           "media": m.get("media") or [], "kind": m.get("kind") or "message",
                           "at": m.get("occurred_at")})
        if m.get("direction") == "in":
            c.last_in = max(c.last_in, _iso_ms(m.get("occurred_at")))
    c.last_in = c.last_in or c.created
    return c


def fold(events: list[Any], seeds: dict[str, _Conv] | None = None
         ) -> tuple[dict[str, _Conv], dict[str, AgentStatusChanged], Marks]:
    """Replay events in stream order into the open conversations, the agents' last presence and the dedup marks.

    ``seeds`` are conversations opened before the stream's first event (from the CRM): an event of one of them
    applies only when it is newer (``seq``) than what the seed already holds.
    """
    seeds = dict(seeds or {})
    convs: dict[str, _Conv] = {}
    agents: dict[str, AgentStatusChanged] = {}
    marks = Marks()
    for e in events:
        if isinstance(e, AgentStatusChanged):
            agents[e.agent_id] = e
            continue
        if not isinstance(e, ConversationEvent):
            continue
        if isinstance(e, ConversationMessage):
            if e.direction == "in" and e.provider_message_id:
                marks.inbound[f"in:{e.channel_id}:{e.provider_message_id}"] = (e.conversation_id, _ms(e))
            elif e.direction == "out":
                marks.replies[e.message_id] = (e.seq, _ms(e))
        if isinstance(e, ConversationOpened):
            seeds.pop(e.conversation_id, None)
            convs[e.conversation_id] = _Conv(e.conversation_id, e.campaign_id or "", e.channel_id, e.channel_type,
                                             e.contact_address, e.contact_name or "", _ms(e), _ms(e))
        c = convs.get(e.conversation_id)
        if c is None and e.conversation_id in seeds:
            c = convs[e.conversation_id] = seeds.pop(e.conversation_id)
        if c is None or e.seq <= c.base_seq:
            continue
        c.seq = max(c.seq, e.seq)
        if isinstance(e, ConversationClosed):
            del convs[e.conversation_id]
            continue
        if isinstance(e, ConversationMessage):
            # Every message counts, whatever order the stream holds them in (a re-published one comes late).
            if all(m["seq"] != e.seq for m in c.messages[-8:]):
                c.messages.append({"seq": e.seq, "direction": e.direction, "message_id": e.message_id,
                                   "provider_message_id": e.provider_message_id, "text": e.text, "media": e.media,
                                   "kind": e.kind, "at": e.occurred_at.isoformat()})
            if e.direction == "in":
                c.last_in = max(c.last_in, _ms(e))
            continue
        if e.seq < c.state_seq:  # a state change published late: a newer one is already applied
            continue
        c.state_seq = e.seq
        if isinstance(e, ConversationQueued):
            c.state, c.agent = "queued", ""
            c.queue = "hold" if e.reason == "out_of_hours" else "q"
            c.campaign = e.campaign_id or c.campaign
        elif isinstance(e, ConversationOffered | ConversationAssigned):
            c.state, c.agent, c.queue = ("offered" if isinstance(e, ConversationOffered) else "assigned",
                                         e.agent_id or "", "")
        elif isinstance(e, ConversationTransferred):
            c.campaign = e.to_campaign_id or c.campaign
    convs.update(seeds)  # open in the CRM, and nothing of them in the stream
    for c in convs.values():
        c.messages.sort(key=lambda m: m["seq"] or 0)
    return convs, agents, marks


# How far a rebuilt conversation's seq jumps past the last one the stream held (see ``Rebuilder._write``).
SEQ_GAP = 1000


class Rebuilder:
    """Rebuilds the live state once across replicas; then ``resync`` (the router's campaign sync) mirrors the
    snapshots again.

    Args:
        crm_open: the CRM's open conversations (None: the stream alone, e.g. in tests without a CRM).
        crm_record: one conversation with its messages, from the CRM.
        dedup_ttl_ms: how long an inbound message id is remembered (``SB_ROUTER_DEDUP_TTL_S``).
    """

    # A rebuilder that dies is replaced after at most this long. At 15 s, a rebuild of 170,000 events on a loaded
    # machine (the event loop busy folding them) let its lock lapse and threw away a minute of work, 4 times in
    # one bench.chaos run; renewed every few seconds, so only a stall this long loses it.
    LOCK_TTL_S = 45.0
    LOCK_RENEW_S = 3.0
    QUIET_S = 1.0  # no straggling router event for this long: every publish in flight has landed
    STRAGGLERS_MAX_S = 6.0
    READ_STALL_S = 60.0  # nothing delivered for this long while the stream holds more: the rebuild fails
    CRM_ATTEMPTS = 30

    def __init__(self, js: JetStreamContext, store: RouterStore, directory: SnapshotDirectory, publisher: Any, *,
                 resync: Callable[[], Awaitable[None]] | None = None, crm_open: OpenConversations | None = None,
                 crm_record: ConversationRecord | None = None, dedup_ttl_ms: int = 7 * DAY_MS) -> None:
        self.js = js
        self.store = store
        self.directory = directory
        self.publisher = publisher
        self.resync = resync
        self.crm_open = crm_open
        self.crm_record = crm_record
        self.dedup_ttl_ms = dedup_ttl_ms
        self.read_progress = 0  # messages read by the rebuilds so far (logged, and watched by the tests)

    async def ensure_state(self) -> None:
        if not await self.store.has_epoch():
            await self.rebuild()
        elif indexed := await self.store.index_open_by_channel():  # state kept from before that index
            log.info("router_channel_index_filled", conversations=indexed)

    async def rebuild(self) -> dict[str, int]:
        """Rebuild once across replicas: one holds the lock (renewing it while it works); the others wait for
        the epoch, and take over if the holder's lock lapses (it died, or Redis lost the lock with the rest)."""
        while True:
            if await self.store.has_epoch():
                if self.resync is not None:
                    await self.resync()
                return {}
            token = await self.store.try_lock(LOCK, self.LOCK_TTL_S)
            if token is not None:
                break
            await asyncio.sleep(0.2)
        keeper = asyncio.create_task(self._keep_lock(token), name="rebuild-lock")
        began = time.monotonic()
        try:
            if await self.store.has_epoch():
                return {}
            log.warning("router_rebuild_started")
            flushed = await self.publisher.sweep(0)
            events = await self._read("CONVERSATIONS", "sb.conv.>", settle=True)
            events += await self._read("AGENTS", "sb.agent.event.status.>")
            read_s = time.monotonic() - began
            convs, agents, marks = fold(events)
            seeds = await self._crm_seeds(convs, events)
            if seeds:
                convs, agents, marks = fold(events, seeds)
            self._still_ours(keeper)
            written = time.monotonic()
            wiped = await self.store.wipe()
            requeued = await self._write(convs, agents, marks)
            write_s = time.monotonic() - written
            # Offers pending at the loss are offered anew: say so, or the record keeps them offered to the agent.
            await publish_many(self.js, list[Contract](requeued), timeout=10.0)
            self._still_ours(keeper)
            if not await self.store.set_epoch(lock=(LOCK, token)):
                raise RuntimeError("the rebuild lock was lost before the epoch was set; another replica rebuilds")
            log.warning("router_rebuild_done", conversations=len(convs), from_crm=len(seeds), agents=len(agents),
                        events=len(events), outbox_published=flushed, keys_wiped=wiped, read_s=round(read_s, 2),
                        write_s=round(write_s, 2), seconds=round(time.monotonic() - began, 2))
        finally:
            keeper.cancel()
            with contextlib.suppress(Exception):  # Redis down: the lock lapses by itself
                await self.store.unlock(LOCK, token)
        if self.resync is not None:
            await self.resync()
        return {"conversations": len(convs), "agents": len(agents), "from_crm": len(seeds)}

    async def _keep_lock(self, token: str) -> None:
        """Renew the lock every third of its life; end (done) the moment it is no longer ours."""
        try:
            while await self.store.renew_lock(LOCK, token, self.LOCK_TTL_S):
                await asyncio.sleep(self.LOCK_RENEW_S)
        except Exception as exc:  # Redis unreachable: the lock may lapse; the rebuild stops at its next check
            log.warning("router_rebuild_lock_not_renewed", error=repr(exc)[:300])

    @staticmethod
    def _still_ours(keeper: asyncio.Task[None]) -> None:
        if keeper.done():
            raise RuntimeError("the rebuild lock lapsed (Redis lost it, or this replica stalled); another rebuilds")

    async def _crm_seeds(self, convs: dict[str, _Conv], events: list[Any]) -> dict[str, _Conv]:
        """Open conversations the CRM has recorded but whose opening the stream no longer holds."""
        if self.crm_open is None or self.crm_record is None:
            return {}
        state = (await self.js.stream_info("CONVERSATIONS")).state
        if state.first_seq <= 1 and not state.num_deleted:
            return {}  # nothing ever left the stream: every conversation's opening is in it
        record_of = self.crm_record
        known = {e.conversation_id for e in events if isinstance(e, ConversationOpened)}
        rows = await self._from_crm(self.crm_open)
        seeds: dict[str, _Conv] = {}
        for row in rows:
            cid = row.get("id")
            if not isinstance(cid, str) or cid in known or cid in convs:
                continue
            record = await self._from_crm(functools.partial(record_of, cid))
            seeds[cid] = seed_from_crm(row, record.get("messages") or [])
        return seeds

    async def _from_crm(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """The CRM's answer; while it is down, wait for it (the state is not rebuilt without its record)."""
        for attempt in range(self.CRM_ATTEMPTS):
            try:
                return await call()
            except Exception as exc:
                if attempt == self.CRM_ATTEMPTS - 1:
                    raise
                log.warning("router_rebuild_crm_unavailable", error=repr(exc)[:300])
                await asyncio.sleep(min(5.0, 0.5 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def _read(self, stream: str, subject: str, *, settle: bool = False) -> list[Any]:
        """Every message of ``subject``; with ``settle``, keep reading until no router event arrived for
        ``QUIET_S`` (a publish in flight when the state went lands before the state is rebuilt).

        An ordered consumer with a callback: no task or timer per message (a wait per message made a rebuild
        of 45,000 events take 20 s). The read ends only once the server has nothing left to deliver and this
        process has handled all it delivered: a pause in delivery (a loaded machine, NATS restarting) is
        waited out, never taken for the end. Ending at the first 2 s without a message rebuilt the state from
        a prefix of the stream under load (a rebuild read 46,545 events two minutes after one read 171,538),
        and forgot every conversation opened after it. Nothing delivered for ``READ_STALL_S``: the rebuild
        fails (and runs again) rather than write a partial state."""
        out: list[Any] = []
        if (await self.js.stream_info(stream)).state.messages == 0 and not settle:
            return out
        loop = asyncio.get_running_loop()
        caught_up = asyncio.Event()
        last = [loop.time()]  # when the last message (before catching up) or router event (after) arrived
        handled = [0]  # stream sequence of the last message handled

        async def on_msg(msg: Any) -> None:
            try:
                event = decode(msg.data)
            except ValueError:
                event = None
            if event is not None:
                out.append(event)
            if not caught_up.is_set() or isinstance(event, ConversationEvent):
                last[0] = loop.time()
            handled[0] = max(handled[0], msg.metadata.sequence.stream)
            self.read_progress += 1
            if msg.metadata.num_pending == 0:
                caught_up.set()
            elif self.read_progress % 1000 == 0:  # a long read lets the lock's renewal and the probes run
                await asyncio.sleep(0)

        sub = await self.js.subscribe(subject, stream=stream, ordered_consumer=True, cb=on_msg,
                                      deliver_policy=DeliverPolicy.ALL, pending_msgs_limit=1_000_000)
        try:
            if (await self.js.stream_info(stream)).state.messages == 0:
                caught_up.set()
            while not caught_up.is_set():  # until the last stored message of the subject
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(caught_up.wait(), 0.5)
                idle = loop.time() - last[0]
                if caught_up.is_set() or idle < 2.0:
                    continue
                if await self._nothing_left(sub, handled[0]):  # e.g. no message of this subject at all
                    break
                if idle > self.READ_STALL_S:
                    raise RuntimeError(f"the rebuild's read of {stream} stalled for {idle:.0f} s "
                                       f"at {len(out)} messages; the rebuild runs again")
                log.warning("router_rebuild_read_waiting", stream=stream, read=len(out), idle_s=round(idle, 1))
            if settle:
                began = loop.time()
                while (quiet := loop.time() - last[0]) < self.QUIET_S and loop.time() - began < self.STRAGGLERS_MAX_S:
                    await asyncio.sleep(self.QUIET_S - quiet)
        finally:
            await sub.unsubscribe()
        return out

    @staticmethod
    async def _nothing_left(sub: Any, handled: int) -> bool:
        """Whether the server has nothing more to deliver to ``sub`` and all it delivered was handled. A consumer
        that delivered nothing (``consumer_seq`` 0) with nothing pending is over too: the server moves its
        delivered stream sequence past the stream's messages of other subjects (AGENTS holding commands but no
        status event), which no handled message ever reaches."""
        try:
            info = await sub.consumer_info()
        except Exception:  # NATS away, or the ordered consumer being recreated: not known to be over
            return False
        return info.num_pending == 0 and sub.pending_msgs == 0 and (
            info.delivered.consumer_seq == 0 or info.delivered.stream_seq <= handled)

    def _weight(self, c: _Conv) -> int:
        snap = self.directory.get(c.campaign)
        return snap.weight(c.ctype) if snap else 1

    def _priority(self, c: _Conv) -> int:
        snap = self.directory.get(c.campaign)
        return snap.routing.priority if snap else 0

    async def _write(self, convs: dict[str, _Conv], agents: dict[str, AgentStatusChanged], marks: Marks
                     ) -> list[ConversationQueued]:
        """Write the state; return the ``conversation.queued`` events of the offers it turned back into queued."""
        ops: list[list[Any]] = []
        loads: dict[str, int] = {}
        now = now_ms()
        requeued: list[ConversationQueued] = []
        for c in convs.values():
            w = self._weight(c)
            prio = self._priority(c)
            state, queue, agent = c.state, c.queue, c.agent
            # A decision taken just before the loss may still be on its way to the stream (its publish in flight
            # on a starved replica, or buffered while NATS reconnects) and land after the read. Had the next
            # event reused its seq, it would carry the same id: JetStream and the CRM would drop it as a
            # redelivery (one chaos run ended with the router and the CRM disagreeing on a closure). Past the gap
            # a straggler is only older, and every reader already ignores an older state change.
            c.seq += SEQ_GAP
            if state == "offered":  # the offer's timer is gone with the state: offer it anew
                state, queue, agent = "queued", "q", ""
                c.seq += 1
                requeued.append(ConversationQueued(
                    id=f"{c.id}-{c.seq}", conversation_id=c.id, campaign_id=c.campaign or None, channel_id=c.channel,
                    channel_type=c.ctype, contact_address=c.contact, seq=c.seq, reason="offer_lost"))
            fields = {"id": c.id, "state": state, "campaign": c.campaign, "channel": c.channel, "ctype": c.ctype,
                      "contact": c.contact, "cname": c.cname, "agent": agent, "prio": prio, "weight": w, "seq": c.seq,
                      "created": c.created, "arrived": c.created, "last_in": c.last_in, "kind": "message",
                      "queue": queue, "replied": 1, "offers": 0, "assigns": 0,
                      "answered": int(any(m.get("direction") == "out" for m in c.messages)),
                      "last_ref": next((m.get("provider_message_id") or "" for m in reversed(c.messages)
                                        if m.get("direction") == "in"), "") if c.ctype == "email" else ""}
            ops.append(["h", f"conv:{c.id}", {k: str(v) for k, v in fields.items()}])
            if c.messages:
                ops.append(["r", f"msgs:{c.id}", [json.dumps(m) for m in c.messages]])
            ops += [["s", f"open:{c.channel}:{c.contact}", c.id, ""], ["a", f"copen:{c.campaign}", c.id],
                    ["a", f"chopen:{c.channel}", c.id], ["a", "open_all", c.id]]
            if state == "queued" and queue == "hold":
                ops.append(["z", f"hold:{c.campaign}", str(c.created), c.id])
            elif state == "queued":
                ops.append(["z", f"q:{c.campaign}", str((50 - max(-50, min(50, prio))) * 10**13 + c.created), c.id])
            elif agent:
                loads[agent] = loads.get(agent, 0) + w
                ops.append(["a", f"aconv:{agent}", c.id])
        for msg_id, (cid, at) in marks.inbound.items():
            if (ttl := self.dedup_ttl_ms - (now - at)) > 0:
                ops.append(["s", f"dedup:{msg_id}", cid, str(ttl)])
        for message_id, (seq, at) in marks.replies.items():
            if (ttl := DAY_MS - (now - at)) > 0:
                ops.append(["s", f"sent:{message_id}", str(seq), str(ttl)])
        for aid in set(agents) | set(loads):
            a = agents.get(aid)
            ops.append(["h", f"agent:{aid}", {
                "status": a.status if a else "offline", "reason": (a.reason or "") if a else "",
                "load": str(loads.get(aid, 0)), "last_act": str(now), "since": str(now), "missed": "0",
                # Status event ids continue above any published before the loss (they dedup by id).
                "ver": str(now)}])
        await self.store.restore(ops)
        return requeued

"""The ledger of ``bench.chaos``: every source of truth read directly, then reconciled.

Sources: the customers' record (which webhooks were answered 2xx), the agents' record (which replies the
gateway accepted), the INBOUND and CONVERSATIONS streams of JetStream, the CRM's tables in PostgreSQL, the
router's live state in Redis and the provider peer's record of what it received. :func:`reconcile` is pure, so
the tests can feed it histories with known faults.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy

from services.router.adapters.rebuild import SEQ_GAP

# Events that give a conversation to an agent, and those that take it back.
TAKES = ("conversation.offered", "conversation.assigned")
RELEASES = ("conversation.queued", "conversation.closed", "conversation.transferred")
# The router's states as the CRM names them.
SAME_STATE = {"opened": "queued", "new": "queued"}


@dataclass(slots=True)
class Event:
    """One conversation event as stored in CONVERSATIONS, with when the router decided it (``at``, seconds)."""

    type: str
    id: str
    conversation_id: str
    seq: int
    agent_id: str | None
    at: float
    stored: float
    contact: str = ""
    direction: str | None = None
    provider_message_id: str | None = None


@dataclass
class Sources:
    """Everything the ledger reads, already collected."""

    acked: set[str]  # provider message ids answered 2xx at least once
    inbound: set[str]  # provider message ids stored in INBOUND
    events: list[Event]
    crm_messages: list[tuple[str, str, str]]  # (provider message id, message row id, conversation id)
    crm_conversations: dict[str, tuple[str, str | None]]  # id -> (status, agent id)
    router_conversations: dict[str, tuple[str, str | None]]  # id -> (state, agent id); absent keys: not in Redis
    replies_accepted: dict[str, str]  # reply text -> conversation id, for replies the gateway answered 201
    replies_tried: set[str]  # every reply text an agent sent, answered or not
    peer_texts: list[str]  # the text of every message the provider peer created
    capacity: int
    weight: int = 1


@dataclass
class Ledger:
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    double_assigned: int = 0
    over_capacity: int = 0
    router_crm_disagree: int = 0
    replies_duplicated: int = 0
    replies_lost: int = 0
    contact_overlaps: int = 0
    # Diagnostics (not invariants): how each count came about, a few examples of each.
    detail: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    MUST_BE_ZERO = ("lost", "duplicated", "double_assigned", "over_capacity", "router_crm_disagree",
                    "replies_duplicated", "replies_lost", "contact_overlaps")

    def note(self, what: str, example: str) -> None:
        self.detail[what] = self.detail.get(what, 0) + 1
        if len(self.examples[what]) < 5:
            self.examples[what].append(example)

    def failed(self) -> list[str]:
        return [name for name in self.MUST_BE_ZERO if getattr(self, name)]


def reconcile(s: Sources) -> Ledger:
    led = Ledger(acknowledged=len(s.acked))
    _messages(s, led)
    by_conv: dict[str, list[Event]] = defaultdict(list)
    for e in s.events:
        by_conv[e.conversation_id].append(e)
    for evs in by_conv.values():
        evs.sort(key=lambda e: e.seq)
    _assignments(by_conv, led)
    _capacity(s, led)
    _agreement(s, by_conv, led)
    _replies(s, led)
    _contacts(by_conv, led)
    return led


def _messages(s: Sources, led: Ledger) -> None:
    """Every acknowledged webhook is one message event, in one conversation, and one CRM row."""
    events: dict[str, set[str]] = defaultdict(set)
    convs: dict[str, set[str]] = defaultdict(set)
    for e in s.events:
        if e.type == "conversation.message" and e.direction == "in" and e.provider_message_id:
            events[e.provider_message_id].add(e.id)
            convs[e.provider_message_id].add(e.conversation_id)
    rows: dict[str, set[str]] = defaultdict(set)
    crm_convs: dict[str, set[str]] = defaultdict(set)
    for pid, row, cid in s.crm_messages:
        rows[pid].add(row)
        crm_convs[pid].add(cid)
    for pid in s.acked:
        missing = [where for where, found in (("INBOUND", pid in s.inbound), ("CONVERSATIONS", pid in events),
                                              ("CRM", pid in rows)) if not found]
        if missing:
            led.lost += 1
            led.note("lost: not in " + "+".join(missing), pid)
    for pid in set(events) | set(rows):
        why = []
        if len(events.get(pid, ())) > 1:
            why.append(f"{len(events[pid])} message events")
        if len(convs.get(pid, ()) | crm_convs.get(pid, set())) > 1:
            why.append("several conversations")
        if len(rows.get(pid, ())) > 1:
            why.append(f"{len(rows[pid])} CRM rows")
        if why:
            led.duplicated += 1
            led.note("duplicated: " + ", ".join(why), pid)


def _assignments(by_conv: dict[str, list[Event]], led: Ledger) -> None:
    """In each conversation's own order, an agent takes it only when nobody holds it (or the same agent moves
    from offered to assigned)."""
    for cid, evs in by_conv.items():
        holder: str | None = None
        seqs = [e.seq for e in evs]
        # A rebuild makes each open conversation's seq jump SEQ_GAP (services/router/adapters/rebuild.py):
        # that gap is by design; a smaller one is an event missing from the stream.
        if seqs[0] != 1 or any(1 < b - a < SEQ_GAP or b <= a for a, b in itertools.pairwise(seqs)):
            led.note("diagnostic: conversation events with a gap in seq", cid)
        for e in evs:
            if e.type in TAKES:
                if holder is not None and holder != e.agent_id:
                    led.double_assigned += 1
                    led.note("double assigned", f"{cid} held by {holder}, then {e.type} to {e.agent_id}")
                holder = e.agent_id
            elif e.type in RELEASES:
                holder = None


def _capacity(s: Sources, led: Ledger) -> None:
    """Replay every take and release in the order the router decided them (Redis time, microseconds); within
    one decision, releases first. An agent holding more than its capacity at any moment is over capacity."""
    order = {t: 0 for t in RELEASES} | {t: 1 for t in TAKES}
    held: dict[str, dict[str, int]] = defaultdict(dict)
    holder: dict[str, str] = {}
    over: set[str] = set()
    for e in sorted((e for e in s.events if e.type in order), key=lambda e: (e.at, order[e.type], e.stored)):
        if e.type in RELEASES:
            agent = holder.pop(e.conversation_id, None)
            if agent is not None:
                held[agent].pop(e.conversation_id, None)
            continue
        if e.agent_id is None:
            continue
        previous = holder.get(e.conversation_id)
        if previous is not None and previous != e.agent_id:
            held[previous].pop(e.conversation_id, None)
        holder[e.conversation_id] = e.agent_id
        held[e.agent_id][e.conversation_id] = s.weight
        load = sum(held[e.agent_id].values())
        if load > s.capacity and (e.agent_id, e.conversation_id) not in over:
            over.add((e.agent_id, e.conversation_id))  # type: ignore[arg-type]
            led.over_capacity += 1
            led.note("over capacity", f"{e.agent_id} load {load} > {s.capacity} at {e.type} of {e.conversation_id}")


def _agreement(s: Sources, by_conv: dict[str, list[Event]], led: Ledger) -> None:
    """The router (Redis) and the CRM (PostgreSQL) tell the same final state and agent of every conversation.

    A conversation no longer in Redis counts as closed there when CONVERSATIONS holds its closure (closed
    conversations expire, and a rebuild brings back only open ones)."""
    for cid in set(by_conv) | set(s.crm_conversations):
        crm = s.crm_conversations.get(cid)
        router = s.router_conversations.get(cid)
        if router is None and any(e.type == "conversation.closed" for e in by_conv.get(cid, ())):
            router = ("closed", None)
        if crm is None or router is None:
            led.router_crm_disagree += 1
            led.note("router/crm: " + ("missing in the CRM" if crm is None else "missing in the router"), cid)
            continue
        crm_state = SAME_STATE.get(crm[0], crm[0])
        router_state = SAME_STATE.get(router[0], router[0])
        same_agent = router_state not in TAKES_STATES or (router[1] or None) == (crm[1] or None)
        if crm_state != router_state or not same_agent:
            led.router_crm_disagree += 1
            led.note("router/crm: different state", f"{cid} router {router} crm {crm}")


TAKES_STATES = ("offered", "assigned")


def _replies(s: Sources, led: Ledger) -> None:
    """Every reply the gateway accepted reached the peer once; no reply reached it twice."""
    counts: dict[str, int] = defaultdict(int)
    for text in s.peer_texts:
        counts[text] += 1
    for text, n in counts.items():
        if n > 1:
            led.replies_duplicated += 1
            led.note("reply reached the provider more than once", f"{text!r} x{n}")
        elif text not in s.replies_tried:
            led.note("diagnostic: the provider got a reply no agent sent", text)
    for text, cid in s.replies_accepted.items():
        if not counts.get(text):
            led.replies_lost += 1
            led.note("accepted reply never reached the provider", f"{cid}: {text!r}")


def _contacts(by_conv: dict[str, list[Event]], led: Ledger) -> None:
    """A contact has one open conversation at a time: the next one opens only after the last one closed."""
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for cid, evs in by_conv.items():
        opened = next((e for e in evs if e.type == "conversation.opened"), None)
        if opened is None:
            continue
        closed = next((e for e in evs if e.type == "conversation.closed"), None)
        spans[opened.contact].append((opened.at, closed.at if closed else float("inf"), cid))
    for contact, items in spans.items():
        items.sort()
        for (_, end, cid), (start, _, nxt) in itertools.pairwise(items):
            if start < end:
                led.contact_overlaps += 1
                led.note("two open conversations of one contact", f"{contact}: {cid} and {nxt}")


# ---- reading the sources -------------------------------------------------------------------------------
def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def read_stream(js: Any, stream: str, subject: str) -> list[tuple[Any, float]]:
    """Every message of ``subject`` in ``stream``, in order, as (decoded JSON, stored at in seconds)."""
    out: list[tuple[Any, float]] = []
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return out
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL,
                             pending_msgs_limit=100_000)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=5.0)
            except (NatsTimeout, TimeoutError):
                break
            try:
                data = json.loads(msg.data)
            except ValueError:
                data = None
            out.append((data, msg.metadata.timestamp.timestamp()))
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return out


def conversation_events(raw: list[tuple[Any, float]], channel_id: str) -> list[Event]:
    events = []
    for data, stored in raw:
        if not isinstance(data, dict) or data.get("channel_id") != channel_id or "seq" not in data:
            continue
        events.append(Event(type=data["type"], id=data["id"], conversation_id=data["conversation_id"],
                            seq=int(data["seq"]), agent_id=data.get("agent_id"), at=_seconds(data["occurred_at"]),
                            stored=stored, contact=data.get("contact_address", ""), direction=data.get("direction"),
                            provider_message_id=data.get("provider_message_id")))
    return events


async def crm_rows(pool: Any, channel_id: str) -> tuple[list[tuple[str, str, str]], dict[str, tuple[str, str | None]]]:
    async with pool.acquire() as conn:
        msgs = await conn.fetch(
            "SELECT m.provider_message_id, m.id, m.conversation_id FROM crm.messages m "
            "JOIN crm.conversations c ON c.id = m.conversation_id "
            "WHERE c.channel_id = $1 AND m.direction = 'in'", channel_id)
        convs = await conn.fetch("SELECT id, status, agent_id FROM crm.conversations WHERE channel_id = $1",
                                 channel_id)
    return ([(r["provider_message_id"], r["id"], r["conversation_id"]) for r in msgs],
            {r["id"]: (r["status"], r["agent_id"]) for r in convs})


async def router_states(redis: Any, prefix: str, cids: list[str]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(cids), 1000):
        chunk = cids[start:start + 1000]
        pipe = redis.pipeline(transaction=False)
        for cid in chunk:
            pipe.hmget(f"{prefix}conv:{cid}", "state", "agent")
        for cid, (state, agent) in zip(chunk, await pipe.execute(), strict=True):
            if state is not None:
                out[cid] = (state, agent or None)
    return out

"""Contact-center KPIs from the durable record of conversation and agent events, pure functions.

One conversation's events become one :class:`Contact`: when it joined the queue in hours (its arrival), when an
agent answered it, whether it was abandoned (closed while still queued: the customer left, or it was closed
before anybody took it), its handling segments per agent and its transfers. :func:`aggregate` groups contacts
by interval and by campaign, agent or channel; every measure is in :class:`Kpis`.

Definitions (the same in the dashboard, the reports and the forecast):

- offered: contacts that joined a queue in hours (an out-of-hours backlog counts from its release);
- answered: offered contacts an agent took (``conversation.assigned``); ``wait`` = answer - arrival;
- abandoned: offered contacts closed before any answer;
- service level: answered within the campaign's threshold / (answered + abandoned);
- ASA: average wait of the answered; AHT: average handling time (answer to close, over every agent who held
  it) of the answered contacts that closed;
- abandonment rate: abandoned / offered; transfers: ``conversation.transferred`` events;
- occupancy (per agent, then summed): time holding at least one conversation / time logged in (any state but
  offline), from the agents' status events.

A contact belongs to the interval (and day) of its arrival, and to the agent who answered it first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Group = Literal["campaign", "agent", "channel", "total"]
INTERVALS = (15, 30, 60, 1440)  # minutes; 1440 = by day


@dataclass
class Segment:
    agent_id: str
    start: datetime
    end: datetime | None = None


@dataclass
class Contact:
    """One conversation as the KPIs see it."""

    conversation_id: str
    campaign_id: str | None
    channel_type: str
    arrived_at: datetime | None = None  # joined a queue in hours
    answered_at: datetime | None = None
    answered_by: str | None = None
    closed_at: datetime | None = None
    abandoned: bool = False
    transfers: int = 0
    transfers_by: dict[str, int] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)

    @property
    def wait_s(self) -> float | None:
        if self.arrived_at is None or self.answered_at is None:
            return None
        return max(0.0, (self.answered_at - self.arrived_at).total_seconds())

    @property
    def handle_s(self) -> float | None:
        """Time held by agents, summed over segments; only once the conversation closed."""
        if self.closed_at is None or not self.segments:
            return None
        return sum(((s.end or self.closed_at) - s.start).total_seconds() for s in self.segments)

    @property
    def queued_until(self) -> datetime | None:
        """When it stopped waiting (answered or abandoned); ``None`` while still waiting."""
        return self.answered_at or (self.closed_at if self.abandoned else None)


def contact_of(events: Iterable[Mapping[str, Any]]) -> Contact | None:
    """Fold one conversation's events (``type``, ``occurred_at``, ``agent_id``, ``payload``, ``campaign_id``,
    ``channel_type``, ``conversation_id``; in ``seq`` order) into a :class:`Contact`."""
    contact: Contact | None = None
    holder: Segment | None = None
    for ev in events:
        payload = ev.get("payload") or {}
        if contact is None:
            contact = Contact(str(ev["conversation_id"]), ev.get("campaign_id") or payload.get("campaign_id"),
                              str(ev.get("channel_type") or payload.get("channel_type") or ""))
        at: datetime = ev["occurred_at"]
        kind = ev["type"]
        if kind == "conversation.queued":
            if holder is not None:  # taken back from an agent (offline, first reply missed): segment ends
                holder.end = at
                holder = None
            if contact.arrived_at is None and payload.get("reason") != "out_of_hours" and contact.closed_at is None:
                contact.arrived_at = at
        elif kind == "conversation.assigned":
            agent = ev.get("agent_id") or payload.get("agent_id")
            if contact.arrived_at is None:  # assigned without a queued event: it arrived then
                contact.arrived_at = at
            if contact.answered_at is None:
                contact.answered_at, contact.answered_by = at, agent
            if holder is not None and holder.agent_id != agent:
                holder.end = at
                holder = None
            if holder is None and agent:
                holder = Segment(str(agent), at)
                contact.segments.append(holder)
        elif kind == "conversation.transferred":
            contact.transfers += 1
            source = payload.get("from_agent_id") or (holder.agent_id if holder else None)
            if source:
                contact.transfers_by[str(source)] = contact.transfers_by.get(str(source), 0) + 1
            target = payload.get("to_agent_id")
            if holder is not None and target != holder.agent_id:
                holder.end = at
                holder = None
            if target:
                holder = Segment(str(target), at)
                contact.segments.append(holder)
        elif kind == "conversation.closed":
            contact.closed_at = at
            if holder is not None:
                holder.end = at
                holder = None
            if contact.arrived_at is not None and contact.answered_at is None:
                contact.abandoned = True
    return contact


def bucket(at: datetime, minutes: int, tz: Any) -> datetime:
    """The start of the interval of ``minutes`` (15, 30, 60, or 1440 for the day) holding ``at``, in ``tz``."""
    local = at.astimezone(tz)
    if minutes >= 1440:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    floored = (local.hour * 60 + local.minute) // minutes * minutes
    return local.replace(hour=floored // 60, minute=floored % 60, second=0, microsecond=0)


@dataclass
class Kpis:
    """The measures of one group (an interval, a campaign, an agent, a channel)."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    transfers: int = 0
    wait_sum_s: float = 0.0
    handled: int = 0
    handle_sum_s: float = 0.0
    waited_sum_s: float = 0.0  # waits of everybody, abandoned until they left (Erlang A's patience)
    busy_s: float = 0.0
    logged_s: float = 0.0

    def add(self, c: Contact, threshold_s: float, *, agent: str | None = None) -> None:
        """Count one contact (for an agent's group: only what that agent did)."""
        if agent is None:
            self.offered += 1
            self.transfers += c.transfers
            if c.abandoned:
                self.abandoned += 1
                if c.closed_at and c.arrived_at:
                    self.waited_sum_s += max(0.0, (c.closed_at - c.arrived_at).total_seconds())
        else:
            self.transfers += c.transfers_by.get(agent, 0)
        wait = c.wait_s
        if wait is not None and (agent is None or c.answered_by == agent):
            if agent is not None:
                self.offered += 1
            self.answered += 1
            self.wait_sum_s += wait
            self.waited_sum_s += wait if agent is None else 0.0
            if wait <= threshold_s:
                self.answered_within += 1
        handle = c.handle_s if agent is None else _agent_handle(c, agent)
        if handle is not None and c.answered_at is not None and (agent is None or handle > 0):
            self.handled += 1
            self.handle_sum_s += handle

    def as_dict(self) -> dict[str, Any]:
        judged = self.answered + self.abandoned
        return {
            "offered": self.offered,
            "answered": self.answered,
            "answered_within": self.answered_within,
            "abandoned": self.abandoned,
            "transfers": self.transfers,
            "service_level": round(100.0 * self.answered_within / judged, 2) if judged else None,
            "asa_s": round(self.wait_sum_s / self.answered, 2) if self.answered else None,
            "aht_s": round(self.handle_sum_s / self.handled, 2) if self.handled else None,
            "abandonment_rate": round(100.0 * self.abandoned / self.offered, 2) if self.offered else None,
            "occupancy": round(100.0 * self.busy_s / self.logged_s, 2) if self.logged_s else None,
            "handled": self.handled,
            "handle_sum_s": round(self.handle_sum_s, 3),
            "wait_sum_s": round(self.wait_sum_s, 3),
        }


def _agent_handle(c: Contact, agent: str) -> float | None:
    if c.closed_at is None:
        return None
    spent = sum(((s.end or c.closed_at) - s.start).total_seconds() for s in c.segments if s.agent_id == agent)
    return spent if spent > 0 else None


def group_keys(c: Contact, group: Group) -> list[str]:
    if group == "campaign":
        return [c.campaign_id or ""]
    if group == "channel":
        return [c.channel_type]
    if group == "agent":
        agents = {s.agent_id for s in c.segments} | ({c.answered_by} if c.answered_by else set())
        return sorted(a for a in agents if a)
    return [""]


def aggregate(contacts: Iterable[Contact], *, group: Group, minutes: int, tz: Any,
              thresholds: Mapping[str, float], default_threshold_s: float = 20.0
              ) -> dict[tuple[datetime, str], Kpis]:
    """KPIs per (interval start, group key). Contacts that never joined a queue in hours are left out."""
    out: dict[tuple[datetime, str], Kpis] = {}
    for c in contacts:
        if c.arrived_at is None:
            continue
        start = bucket(c.arrived_at, minutes, tz)
        threshold = thresholds.get(c.campaign_id or "", default_threshold_s)
        for key in group_keys(c, group):
            out.setdefault((start, key), Kpis()).add(c, threshold, agent=key if group == "agent" else None)
    return out


# ------------------------------------------------------------------------------------------- occupancy

@dataclass
class AgentState:
    at: datetime
    status: str


Span = tuple[datetime, datetime]


def logged_spans(states: Iterable[AgentState], start: datetime, end: datetime) -> list[Span]:
    """When an agent was logged in (any state but offline) between ``start`` and ``end``, from its status
    events; the state before the first event in the window is ``before`` (offline unless given)."""
    spans: list[Span] = []
    on_since: datetime | None = None
    for s in sorted(states, key=lambda x: x.at):
        at = min(max(s.at, start), end)
        if s.status != "offline" and on_since is None:
            on_since = at
        elif s.status == "offline" and on_since is not None:
            if at > on_since:
                spans.append((on_since, at))
            on_since = None
    if on_since is not None and end > on_since:
        spans.append((on_since, end))
    return spans


def union(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans merged, in time order."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: list[Span], ys: list[Span]) -> list[Span]:
    """The instants in both lists of merged spans."""
    out: list[Span] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def seconds_by_bucket(spans: Iterable[Span], minutes: int, tz: Any) -> dict[datetime, float]:
    """The seconds of ``spans`` falling in each interval of ``minutes`` (local to ``tz``)."""
    out: dict[datetime, float] = {}
    for a, b in spans:
        cursor = a
        while cursor < b:
            start = bucket(cursor, minutes, tz)
            step = timedelta(days=1) if minutes >= 1440 else timedelta(minutes=minutes)
            nxt = bucket(start + step + timedelta(hours=2 if minutes >= 1440 else 0), minutes, tz)
            piece_end = min(b, nxt)
            out[start] = out.get(start, 0.0) + (piece_end - cursor).total_seconds()
            cursor = piece_end
    return out


def agent_segments(contacts: Iterable[Contact], now: datetime) -> dict[str, list[Span]]:
    """Per agent, the merged spans during which they held at least one conversation (one still held: until
    ``now``)."""
    raw: dict[str, list[Span]] = {}
    for c in contacts:
        for s in c.segments:
            end = s.end or c.closed_at or now
            if end is not None:
                raw.setdefault(s.agent_id, []).append((s.start, end))
    return {agent: union(spans) for agent, spans in raw.items()}


def queue_length_series(contacts: Iterable[Contact], points: Iterable[datetime]) -> list[int]:
    """How many contacts were waiting at each instant of ``points``."""
    spans = [(c.arrived_at, c.queued_until) for c in contacts if c.arrived_at is not None]
    return [sum(1 for a, b in spans if a is not None and a <= p and (b is None or b > p)) for p in points]

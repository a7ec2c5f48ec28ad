"""Fan-out of live events to WebSocket connections, with gap-free, duplicate-free resume.

Each gateway replica sees every event (its own ephemeral subscription). A connection receives the
events its principal may see, in stream order. A resuming connection is registered in buffering mode
first, then replays the stream from its cursor, then flushes what arrived live meanwhile; a per-stream
high-water mark drops anything already sent, so nothing is lost and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from services.gateway.domain import CampaignDirectory, ConversationOwners, Principal, receives_event

CONVERSATIONS = "conversations"
AGENTS = "agents"


def wire_event(stream: str, seq: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The WebSocket form of a stream message.

    Conversation events carry ``seq`` = their CONVERSATIONS stream sequence (the resume cursor for
    ``?since=``); the contract's own per-conversation counter moves to ``conversation_seq``. Agent events
    carry ``agent_seq`` = their AGENTS stream sequence (``?since_agent=``); their ``seq`` is filled per
    connection with the connection's current cursor, so a client may always resume from the last ``seq``.
    """
    event = dict(payload)
    own = event.pop("seq", None)
    if own is not None:
        event["conversation_seq"] = own
    event["stream"] = stream
    if stream == CONVERSATIONS:
        event["seq"] = seq
    else:
        event["agent_seq"] = seq
    return event


class Connection:
    """One WebSocket's outgoing side: a bounded queue the socket writer drains."""

    def __init__(
        self,
        principal: Principal,
        *,
        queue_size: int,
        cursors: Mapping[str, int] | None = None,
        resuming: bool = False,
    ) -> None:
        self.principal = principal
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self.cursors: dict[str, int] = {CONVERSATIONS: 0, AGENTS: 0, **(cursors or {})}
        self.buffering = resuming
        self._buffer: list[tuple[str, int, dict[str, Any]]] = []
        self.overflowed = asyncio.Event()

    def offer(self, stream: str, seq: int, event: dict[str, Any]) -> None:
        """A live event: held while the connection replays, else delivered."""
        if self.buffering:
            self._buffer.append((stream, seq, event))
        else:
            self.deliver(stream, seq, event)

    def deliver(self, stream: str, seq: int, event: dict[str, Any]) -> None:
        if seq <= self.cursors.get(stream, 0) or self.overflowed.is_set():
            return
        self.cursors[stream] = seq
        out = event if stream == CONVERSATIONS else {**event, "seq": self.cursors[CONVERSATIONS]}
        try:
            self.queue.put_nowait(out)
        except asyncio.QueueFull:
            # A client too slow to keep up is disconnected; it resumes from its last seq.
            self.overflowed.set()

    def notify(self, message: dict[str, Any]) -> None:
        """A control message of the gateway itself (``ready``, ``gap``, ``pong``), outside the streams."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()

    def go_live(self) -> None:
        """End of replay: deliver what arrived meanwhile (minus what the replay already sent)."""
        buffered, self._buffer = self._buffer, []
        self.buffering = False
        for stream, seq, event in buffered:
            self.deliver(stream, seq, event)


class Hub:
    """The connections of this replica, and who gets each event."""

    def __init__(self, directory: CampaignDirectory, owners: ConversationOwners | None = None) -> None:
        self.directory = directory
        self.owners = owners or ConversationOwners()
        self._by_user: dict[str, set[Connection]] = {}
        self._watchers: set[Connection] = set()  # supervisors and admins see beyond their own events

    def register(self, conn: Connection) -> None:
        if conn.principal.role == "agent":
            self._by_user.setdefault(conn.principal.user_id, set()).add(conn)
        else:
            self._watchers.add(conn)

    def unregister(self, conn: Connection) -> None:
        self._watchers.discard(conn)
        conns = self._by_user.get(conn.principal.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_user[conn.principal.user_id]

    @property
    def connections(self) -> int:
        return len(self._watchers) + sum(len(c) for c in self._by_user.values())

    def audience(self, payload: Mapping[str, Any], *, learn: bool) -> set[str]:
        if learn:
            self.owners.learn(payload)
        return self.owners.audience(payload)

    def dispatch(self, stream: str, seq: int, payload: Mapping[str, Any]) -> None:
        """A live event from the stream: offer it to every connection that may see it."""
        agents = self.audience(payload, learn=True)
        event = wire_event(stream, seq, payload)
        for agent in agents:
            for conn in self._by_user.get(agent, ()):
                conn.offer(stream, seq, event)
        for conn in self._watchers:
            if receives_event(conn.principal, payload, agents, self.directory):
                conn.offer(stream, seq, event)

    def replay_one(self, conn: Connection, stream: str, seq: int, payload: Mapping[str, Any]) -> None:
        """A past event read back for one resuming connection."""
        agents = self.audience(payload, learn=False)
        if receives_event(conn.principal, payload, agents, self.directory):
            conn.deliver(stream, seq, wire_event(stream, seq, payload))

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

from libs.messaging.snapshots import SnapshotDirectory
from services.gateway.domain import ConversationOwners, Principal, receives_event, shown_to

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
        self._buffer: list[tuple[str, int, dict[str, Any], bool]] = []
        self.overflowed = asyncio.Event()

    def offer(self, stream: str, seq: int, event: dict[str, Any], *, late: bool = False) -> None:
        """A live event: held while the connection replays, else delivered.

        ``late`` events are older than what the connection may already have (the messages a conversation
        received before it reached this agent): they are sent without moving the cursor.
        """
        if self.buffering:
            self._buffer.append((stream, seq, event, late))
        elif late:
            self.notify(event)
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
        for stream, seq, event, late in buffered:
            if late:
                self.notify(event)
            else:
                self.deliver(stream, seq, event)


class Backlog:
    """Messages of conversations that no agent holds yet (they arrive before the offer or assignment).

    When a conversation reaches an agent, that agent gets its backlog once; assignment or closing ends it.
    Bounded in conversations and in events per conversation.
    """

    def __init__(self, conversations: int = 10_000, per_conversation: int = 50) -> None:
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._sent: dict[str, set[str]] = {}
        self._limits = (conversations, per_conversation)

    def keep(self, conversation_id: str, event: dict[str, Any]) -> None:
        events = self._events.setdefault(conversation_id, [])
        self._sent.setdefault(conversation_id, set())
        if len(events) < self._limits[1]:
            events.append(event)
        if len(self._events) > self._limits[0]:
            oldest = next(iter(self._events))
            self._events.pop(oldest)
            self._sent.pop(oldest, None)

    def hand_over(self, conversation_id: str, agents: set[str], *, final: bool) -> list[tuple[str, dict[str, Any]]]:
        """The backlog events each of ``agents`` has not had yet; ``final`` forgets the conversation."""
        events = self._events.get(conversation_id, [])
        sent = self._sent.get(conversation_id, set())
        out = [(agent, event) for agent in sorted(agents - sent) for event in events]
        sent |= agents
        if final:
            self._events.pop(conversation_id, None)
            self._sent.pop(conversation_id, None)
        return out


class Hub:
    """The connections of this replica, and who gets each event."""

    BACKLOG_KINDS = ("conversation.message",)
    HAND_OVER = ("conversation.offered", "conversation.assigned", "conversation.transferred")
    ENDS = ("conversation.assigned", "conversation.closed")

    def __init__(self, directory: SnapshotDirectory, owners: ConversationOwners | None = None) -> None:
        self.directory = directory
        self.owners = owners or ConversationOwners()
        self.backlog = Backlog()
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
                conn.offer(stream, seq, self.shown(conn, event))
        for conn in self._watchers:
            if receives_event(conn.principal, payload, agents, self.directory):
                conn.offer(stream, seq, event)
        if stream == CONVERSATIONS:
            self._track_backlog(payload, agents, event)

    def _track_backlog(self, payload: Mapping[str, Any], agents: set[str], event: dict[str, Any]) -> None:
        conv = payload.get("conversation_id")
        if not conv:
            return
        kind = payload.get("type")
        if not agents and kind in self.BACKLOG_KINDS:
            self.backlog.keep(str(conv), event)
        elif kind in self.HAND_OVER or kind in self.ENDS:
            holders = agents if kind in self.HAND_OVER else set()
            for agent, late in self.backlog.hand_over(str(conv), holders, final=kind in self.ENDS):
                for conn in self._by_user.get(agent, ()):
                    conn.offer(CONVERSATIONS, int(late["seq"]), self.shown(conn, late), late=True)
                for conn in self._watchers:
                    if conn.principal.user_id == agent:
                        conn.offer(CONVERSATIONS, int(late["seq"]), late, late=True)

    def replay_one(self, conn: Connection, stream: str, seq: int, payload: Mapping[str, Any]) -> None:
        """A past event read back for one resuming connection."""
        agents = self.audience(payload, learn=False)
        if receives_event(conn.principal, payload, agents, self.directory):
            conn.deliver(stream, seq, self.shown(conn, wire_event(stream, seq, payload)))

    def shown(self, conn: Connection, event: dict[str, Any]) -> dict[str, Any]:
        """The event as this connection's user may see it: an agent of a campaign that hides contact numbers
        gets them masked (``domain.shown_to``); supervisors and admins get the event as it is."""
        return dict(shown_to(conn.principal, event, self.directory)) if conn.principal.role == "agent" else event

"""In-memory stand-ins for the channels service's ports, with the adapters' rules: a unit of work that rolls
back when its block raises, a stream that recognizes a re-published ``Nats-Msg-Id``, a provider and a
phone system that keep what they were asked to do."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from libs.contracts import Contract, MediaRef, OutboundMessage
from libs.core.errors import Conflict, Transient
from services.channels.domain.channels import Channel


class FakeChannels:
    """``ChannelStore`` and, inside a unit of work, ``ChannelWrites`` over a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, Channel] = {}

    async def all(self) -> list[Channel]:
        return [self.rows[k] for k in sorted(self.rows)]

    async def get(self, channel_id: str, *, for_update: bool = False) -> Channel | None:
        ch = self.rows.get(channel_id)
        return ch.model_copy(deep=True) if ch else None

    async def insert(self, ch: Channel, *, if_absent: bool = False) -> bool:
        if ch.id in self.rows:
            if if_absent:
                return False
            raise Conflict(f"channel {ch.id!r} already exists", field="id")
        if ch.type == "email" and any(o.type == "email" and o.address == ch.address for o in self.rows.values()):
            raise Conflict(f"another email channel already receives {ch.address}", field="address")
        self.rows[ch.id] = ch.model_copy(deep=True)
        return True

    async def update(self, ch: Channel) -> None:
        self.rows[ch.id] = ch.model_copy(deep=True)

    async def delete(self, channel_id: str) -> bool:
        return self.rows.pop(channel_id, None) is not None


class FakeUnitOfWork:
    def __init__(self, channels: FakeChannels) -> None:
        self.channels = channels
        self._before: dict[str, Channel] = {}

    async def __aenter__(self) -> Self:
        self._before = copy.deepcopy(self.channels.rows)
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if et is not None:
            self.channels.rows = self._before


class FakeSnapshots:
    """``SnapshotSink``: the KV bucket; ``down`` makes every write fail as the adapter does (``Transient``)."""

    def __init__(self) -> None:
        self.bucket: dict[str, dict[str, Any]] = {}
        self.down = False

    async def put(self, ch: Channel) -> None:
        if self.down:
            raise Transient("could not publish channel snapshot: down")
        self.bucket[ch.id] = ch.snapshot().model_dump(mode="json") | {"revision": ch.revision}

    async def delete(self, channel_id: str) -> None:
        if self.down:
            raise Transient("could not delete channel snapshot: down")
        self.bucket.pop(channel_id, None)


class FakeStream:
    """``StreamPublisher``: the stream's messages, deduplicated by ``Nats-Msg-Id`` as JetStream does."""

    def __init__(self) -> None:
        self.messages: list[Contract] = []
        self._ids: set[str] = set()

    async def publish(self, batch: Sequence[Contract]) -> list[bool]:
        duplicates = []
        for msg in batch:
            duplicate = msg.msg_id() in self._ids
            if not duplicate:
                self._ids.add(msg.msg_id())
                self.messages.append(msg)
            duplicates.append(duplicate)
        return duplicates


class FakeDeliveryLog:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sends: dict[str, dict[str, Any]] = {}  # outbound id -> the pending or sent send

    async def sent_ids(self, outbound_id: str) -> list[str]:
        return [r["provider_message_id"] for r in self.rows if r["outbound_id"] == outbound_id]

    async def begin(self, channel_id: str, outbound_id: str, idempotency_key: str) -> int:
        send = self.sends.setdefault(outbound_id, {"state": "pending", "attempts": 0, "key": idempotency_key})
        send["attempts"] += 1
        return int(send["attempts"])

    async def record(self, channel_id: str, provider_ids: list[str], outbound_id: str,
                     conversation_id: str | None, agent_id: str | None) -> None:
        for pid in provider_ids:
            self.rows.append({"channel_id": channel_id, "provider_message_id": pid, "outbound_id": outbound_id,
                              "conversation_id": conversation_id, "agent_id": agent_id})
        if outbound_id in self.sends:
            self.sends[outbound_id]["state"] = "sent"

    async def find(self, channel_id: str, provider_message_id: str) -> dict[str, str | None] | None:
        for r in self.rows:
            if r["channel_id"] == channel_id and r["provider_message_id"] == provider_message_id:
                return {k: r[k] for k in ("outbound_id", "conversation_id", "agent_id")}
        return None


class FakeProvider:
    """A provider's API (``Sender``): what it was sent, and the message id it answered."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        self.sent.append((msg.to, msg.text))
        return [f"wamid.{len(self.sent)}"]


class FakeVoiceCalls:
    def __init__(self) -> None:
        self.stages: dict[tuple[str, str], tuple[str, str]] = {}

    async def record(self, rows: list[tuple[str, str, str, str]]) -> None:
        for channel_id, call_id, contact, stage in rows:
            old = self.stages.get((channel_id, call_id))
            if old is None or old[1] not in ("ended", "missed"):
                self.stages[(channel_id, call_id)] = (contact, stage)

    async def active_call(self, channel_id: str, contact_address: str) -> str | None:
        for (ch, call), (contact, stage) in self.stages.items():
            if ch == channel_id and contact == contact_address and stage in ("ringing", "answered"):
                return call
        return None


class FakePhoneSystem:
    """``CallOriginator``: the calls it connected to an agent's extension."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, str]] = []

    async def connect_to_agent(self, ch: Channel, call_id: str, agent_id: str) -> str:
        self.connected.append((call_id, agent_id))
        return f"PJSIP/{agent_id}"


class FakeMedia:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, data: bytes, *, mime_type: str, filename: str | None) -> MediaRef:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return MediaRef(kind="file", url=f"blob:{sha}", provider_id=sha, mime_type=mime_type, filename=filename)

    async def get(self, ref: str) -> bytes | None:
        return self.blobs.get(ref.removeprefix("blob:"))

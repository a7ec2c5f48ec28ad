"""What the channels use cases need from the outside world, as interfaces (no driver imported here).

``app.py`` wires the PostgreSQL, NATS, blob-store and provider adapters; ``tests/channels/fakes.py``
implements the same interfaces in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from libs.contracts import Contract, MediaRef, OutboundMessage
from services.channels.domain.channels import Channel
from services.channels.domain.voice import PlaceCall


class ChannelStore(Protocol):
    """Reads of the channel registry outside a transaction."""

    async def all(self) -> list[Channel]: ...

    async def get(self, channel_id: str) -> Channel | None: ...


class ChannelWrites(Protocol):
    """Writes of the channel registry inside a unit of work. A taken id or e-mail address is ``Conflict``."""

    async def get(self, channel_id: str, *, for_update: bool = False) -> Channel | None: ...

    async def insert(self, ch: Channel, *, if_absent: bool = False) -> bool: ...

    async def update(self, ch: Channel) -> None: ...

    async def delete(self, channel_id: str) -> bool: ...


class UnitOfWork(Protocol):
    """One transaction over the registry: committed when the block ends, rolled back when it raises."""

    @property
    def channels(self) -> ChannelWrites: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class SnapshotSink(Protocol):
    """The ``channels`` KV bucket (``adapters.kv.SnapshotPublisher``); a failure is ``Transient``."""

    async def put(self, ch: Channel) -> None: ...

    async def delete(self, channel_id: str) -> None: ...


class StreamPublisher(Protocol):
    """Publishes contracts on JetStream and waits for every ack (``adapters.nats``).

    Returns, per message, whether JetStream had it already (a duplicate ``Nats-Msg-Id``).

    Raises:
        Transient: some message was not acknowledged.
    """

    async def publish(self, batch: Sequence[Contract]) -> list[bool]: ...


class DeliveryLog(Protocol):
    """Provider message ids of what was sent (``channels.delivery``)."""

    async def sent_ids(self, outbound_id: str) -> list[str]: ...

    async def begin(self, channel_id: str, outbound_id: str, idempotency_key: str) -> int:
        """Record a send as pending before the provider is called; how many calls of it there have been."""
        ...

    async def record(self, channel_id: str, provider_ids: list[str], outbound_id: str,
                     conversation_id: str | None, agent_id: str | None) -> None:
        """What the provider answered; the send is no longer pending."""
        ...

    async def find(self, channel_id: str, provider_message_id: str) -> dict[str, str | None] | None: ...


class EmailThreads(Protocol):
    """Subject and references of each e-mail, for reply threading."""

    async def record(self, channel_id: str, message_id: str, subject: str, refs: list[str],
                     direction: str) -> None: ...

    async def find(self, channel_id: str, message_id: str) -> tuple[str, list[str]] | None: ...


class VoiceCalls(Protocol):
    """The latest stage of each call."""

    async def record(self, rows: list[tuple[str, str, str, str]]) -> None: ...

    async def active_call(self, channel_id: str, contact_address: str) -> str | None: ...


class MediaStore(Protocol):
    """Content-addressed media in the blob store (``adapters.blobs.MediaBlobs``)."""

    async def put(self, data: bytes, *, mime_type: str, filename: str | None) -> MediaRef: ...

    async def get(self, ref: str) -> bytes | None: ...


class Sender(Protocol):
    """A provider's API: sends one outbound command, returns the provider's message ids."""

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]: ...


class CallDialer(Protocol):
    """A voice provider's click-to-call (``providers.ari.AriOriginator``, ``providers.twilio.TwilioVoice``):
    rings the agent, then the contact; returns the provider's call id."""

    async def dial(self, ch: Channel, call: PlaceCall) -> str: ...


class CallOriginator(Protocol):
    """The phone system: connects a call in progress to an agent's extension (``providers.ari``)."""

    async def connect_to_agent(self, ch: Channel, call_id: str, agent_id: str) -> str: ...


class ChannelUsage(Protocol):
    """What a channel is still needed for (``adapters/usage.py``): the active campaigns that use it (the campaigns
    KV bucket) and the conversations open on it (the router)."""

    def campaigns_using(self, channel_id: str) -> list[tuple[str, str]]:
        """(id, name) of the active campaigns whose channels include it."""
        ...

    async def open_conversations(self, channel_id: str) -> tuple[int, list[str]]:
        """How many conversations are open on it, and some of their ids.

        Raises:
            Transient: the router is unavailable (nothing is deleted without knowing).
        """
        ...

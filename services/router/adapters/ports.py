"""What the router's use cases need from the outside world, as interfaces (no driver imported here):
the live state in Redis (one Lua decision per call) and the publisher of the decisions' facts."""

from __future__ import annotations

from typing import Any, Protocol

from libs.contracts import Contract
from libs.core.errors import Transient

Fact = tuple[str, str]  # (outbox entry id, fact JSON)


class StateLost(Transient):
    """The live state is lost (or being rebuilt); the router rebuilds it and the caller retries."""


class LiveState(Protocol):
    """The router's live state (``adapters.redis.RouterStore``)."""

    async def run(self, name: str, **args: Any) -> tuple[Any, list[Fact]]:
        """Run one decision script atomically; its result and the facts it appended to the outbox.

        Raises:
            StateLost: the state is gone; Conflict / Forbidden / Invalid: the decision refused.
        """
        ...

    async def run_many(self, name: str, many: list[dict[str, Any]]) -> list[tuple[Any, list[Fact]] | Exception]:
        """Run the script once per item, in order, in one round trip; per item its answer or its error.

        Raises:
            Transient: Redis is unreachable.
        """
        ...

    async def has_epoch(self) -> bool: ...
    async def conversation(self, cid: str) -> dict[str, str] | None: ...
    async def messages(self, cid: str) -> list[dict[str, Any]]: ...
    async def held_count(self, campaign_id: str) -> int: ...
    async def sent_seq(self, message_id: str) -> int | None: ...
    async def decisions(self, cid: str) -> list[dict[str, Any]]: ...
    async def agent(self, aid: str) -> dict[str, str]: ...
    async def agent_conversations(self, aid: str) -> list[str]: ...
    async def conversations(self, cids: list[str]) -> list[dict[str, str]]: ...
    async def queue(self, campaign_id: str, limit: int = 100) -> dict[str, Any]: ...
    async def position(self, campaign_id: str, cid: str) -> int | None: ...
    async def channel_conversations(self, channel_id: str, limit: int = 100) -> tuple[int, list[str]]: ...
    async def stats(self, campaign_id: str) -> dict[str, str]: ...
    async def agents(self, aids: list[str]) -> list[dict[str, str]]: ...


class OwnerIndex(Protocol):
    """The CRM's owner index (``adapters.owners``): the assigned user of a contact address in a campaign."""

    async def owner(self, campaign_id: str, channel_type: str, address: str) -> str | None:
        """The user the account (or the contact) is assigned to, or None.

        Raises:
            Transient: the index is unavailable (the inbound message is delivered again).
        """
        ...


class FactPublisher(Protocol):
    """Publishes a decision's facts on JetStream and clears them from the outbox (``adapters.nats``)."""

    async def publish(self, facts: list[Fact]) -> list[Contract]: ...

    async def sweep(self, grace_ms: int) -> int: ...

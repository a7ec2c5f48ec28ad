"""Outbox facts from the Lua decisions become contracts on NATS; a sweeper re-publishes leftovers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from libs.contracts import (
    AgentStatusChanged,
    Contract,
    ConversationAssigned,
    ConversationClosed,
    ConversationMessage,
    ConversationOffered,
    ConversationOpened,
    ConversationQueued,
    ConversationTransferred,
    OutboundMessage,
    TimerCancel,
    TimerSet,
)
from libs.core.logging import get_logger
from libs.messaging import publish_many
from services.router.adapters.ports import Fact
from services.router.adapters.redis import RouterStore
from services.router.domain import now_ms

log = get_logger(__name__)

OWNER = "router"

_CONVERSATION_EVENTS: dict[str, type[Contract]] = {
    m.TYPE: m for m in (ConversationOpened, ConversationQueued, ConversationOffered, ConversationAssigned,
                        ConversationMessage, ConversationClosed, ConversationTransferred)
}
_JSON_FIELDS = {"explanation_json": "explanation", "fields_json": "fields"}
_TIME_FIELDS = ("expires_at", "release_at")


def _dt(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _at(raw: str | float) -> datetime:
    """A fact's time: the Redis clock in microseconds (a string, too long for a Lua number's JSON)."""
    if isinstance(raw, str):
        us = int(raw)
        return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return _dt(raw)  # an outbox entry written before the clock was microseconds


def to_contract(fact: dict[str, Any]) -> Contract:
    """Turn one Lua fact into the contract it announces; ids are deterministic so a re-publish dedups."""
    kind = fact.pop("kind")
    at = _at(fact.pop("at"))
    if kind in _CONVERSATION_EVENTS:
        data = fact.pop("data", None)
        if data:
            fact.update(json.loads(data))
        for raw, name in _JSON_FIELDS.items():
            if raw in fact:
                fact[name] = json.loads(fact.pop(raw))
        for name in _TIME_FIELDS:
            if name in fact:
                fact[name] = _dt(fact[name])
        for name in ("agent_id", "campaign_id"):
            if not fact.get(name):
                fact[name] = None
        return _CONVERSATION_EVENTS[kind].model_validate(
            {**fact, "id": f"{fact['conversation_id']}-{fact['seq']}", "occurred_at": at})
    if kind == "outbound.message":
        data = fact.pop("data", None)
        body = json.loads(data) if data else {**fact, "occurred_at": at}
        return OutboundMessage.model_validate(body)
    if kind == "agent.status":
        return AgentStatusChanged(id=f"{fact['agent_id']}-status-{fact['ver']}", occurred_at=at,
                                  agent_id=fact["agent_id"], status=fact["status"],
                                  reason=fact.get("reason") or None, load=int(fact.get("load", 0)))
    if kind == "timer.set":
        return TimerSet(id=f"{fact['timer_id']}-set", occurred_at=at, timer_id=fact["timer_id"], owner=OWNER,
                        purpose=fact["purpose"], fire_at=_dt(fact["fire_at"]),
                        data={"ref": fact["ref"], "token": fact["token"]})
    if kind == "timer.cancel":
        return TimerCancel(id=f"{fact['timer_id']}-cancel", occurred_at=at, timer_id=fact["timer_id"],
                           owner=OWNER)
    raise ValueError(f"unknown outbox fact {kind!r}")


class Publisher:
    """Publishes the facts of a decision in order; once JetStream has them, they leave the outbox."""

    ACK_TIMEOUT_S = 5.0

    def __init__(self, js: JetStreamContext, store: RouterStore) -> None:
        self.js = js
        self.store = store

    async def publish(self, facts: list[Fact]) -> list[Contract]:
        """Publish the facts (pipelined) and return once JetStream acknowledged them all; their outbox entries
        are then deleted by the next decision's script. Facts not acknowledged stay in the outbox for the
        sweeper (their ids are deterministic, so a re-publish dedups).

        Raises:
            Transient: JetStream did not acknowledge.
        """
        if not facts:
            return []
        contracts = [to_contract(json.loads(body)) for _, body in facts]
        await publish_many(self.js, contracts, timeout=self.ACK_TIMEOUT_S)
        self.store.published([i for i, _ in facts])
        return contracts

    async def close(self, budget_s: float = 1.0) -> None:
        """At shutdown: wait a little for outstanding acks, then delete what was published."""
        try:
            await asyncio.wait_for(self.js.publish_async_completed(), budget_s)
            await asyncio.sleep(0)  # let the ack callbacks run
            await self.store.flush_published()
        except Exception as exc:  # the sweeper of any replica re-publishes what is left (NATS dedups)
            log.info("outbox_flush_failed", error=repr(exc))

    async def sweep(self, grace_ms: int) -> int:
        """Re-publish every outbox entry older than ``grace_ms`` (their decision's publisher died or failed).

        Raises:
            Transient: JetStream did not acknowledge (what is left stays for the next sweep).
        """
        await self.store.flush_published()  # what was published must not be re-published
        total = 0
        upto = now_ms() - grace_ms
        while facts := await self.store.outbox_until(upto):
            log.warning("outbox_sweep", count=len(facts))
            await self.publish(facts)
            await self.store.flush_published()
            total += len(facts)
        return total

    async def sweep_forever(self, grace_ms: int, every_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep(grace_ms)
            except Exception as exc:
                log.warning("outbox_sweep_failed", error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), every_s)
            except TimeoutError:
                pass

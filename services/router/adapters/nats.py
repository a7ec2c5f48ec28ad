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
from services.router.adapters.redis import Fact, RouterStore

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


def to_contract(fact: dict[str, Any]) -> Contract:
    """Turn one Lua fact into the contract it announces; ids are deterministic so a re-publish dedups."""
    kind = fact.pop("kind")
    at = _dt(fact.pop("at"))
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
    """Publishes the facts of a decision in order, then removes them from the outbox."""

    def __init__(self, js: JetStreamContext, store: RouterStore) -> None:
        self.js = js
        self.store = store
        self._pending: set[asyncio.Task[None]] = set()
        self._to_delete: list[str] = []

    async def publish(self, facts: list[Fact]) -> list[Contract]:
        """Publish and acknowledge; on failure the facts stay in the outbox for the sweeper.

        Raises:
            Transient: JetStream did not acknowledge.
        """
        if not facts:
            return []
        contracts = [to_contract(json.loads(body)) for _, body in facts]
        await publish_many(self.js, contracts)
        # Not awaited, and coalesced: the decisions published in the same loop iteration share one XDEL
        # (it cost as much client CPU as the decision itself when sent one per decision). A failed or
        # lost delete only means the sweeper re-publishes, and JetStream dedups it.
        if not self._to_delete:
            task = asyncio.create_task(self._flush_deletes())
            self._pending.add(task)
            task.add_done_callback(self._deleted)
        self._to_delete.extend(i for i, _ in facts)
        return contracts

    async def _flush_deletes(self) -> None:
        await asyncio.sleep(0)
        ids, self._to_delete = self._to_delete, []
        await self.store.outbox_delete(ids)

    def _deleted(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("outbox_delete_failed", error=repr(task.exception()))

    async def sweep(self, grace_ms: int) -> int:
        """Re-publish outbox entries older than ``grace_ms`` (their decision's publisher died)."""
        facts = await self.store.outbox_older_than(grace_ms)
        if facts:
            log.warning("outbox_sweep", count=len(facts))
            await self.publish(facts)
        return len(facts)

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

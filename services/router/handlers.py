"""Router use cases: each takes a command or event, runs one atomic decision, and publishes its facts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from libs.contracts import (
    CampaignSnapshot,
    CloseConversation,
    Contract,
    InboundMessage,
    OutboundMessage,
    SetPresence,
    TimerDue,
    new_id,
    utcnow,
)
from libs.core.errors import NotFound
from libs.core.logging import bound_contextvars, get_logger
from libs.messaging import SnapshotDirectory
from services.router.adapters.nats import Publisher
from services.router.adapters.redis import RouterStore, StateLost, now_ms
from services.router.domain import (
    Closure,
    Reply,
    StatusChange,
    Transfer,
    check_closure,
    check_reply,
    check_transfer,
    route_new_conversation,
    routing_config,
)
from services.router.settings import RouterSettings

log = get_logger(__name__)


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at else None


def _iso(ms: str | int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat()


class Router:
    """The routing engine's use cases over the Redis store, the publisher and the campaign directory."""

    def __init__(self, store: RouterStore, publisher: Publisher, directory: SnapshotDirectory,
                 settings: RouterSettings, rebuild: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.directory = directory
        self.settings = settings
        self._synced: dict[str, str] = {}
        # The snapshot objects last found in sync: the per-message check is then one identity test.
        self._synced_snaps: dict[str, CampaignSnapshot] = {}
        self._rebuild = rebuild
        self._rebuilding: asyncio.Task[Any] | None = None

    async def _decide(self, script: str, **args: Any) -> Any:
        """Run one decision and publish its facts; return once JetStream has acknowledged all of them.

        So whoever waits on this (the inbound ack, an HTTP answer, a timer's ack) never reports a decision
        whose facts live only in Redis: Redis losing its last writes then loses nothing acknowledged.

        Raises:
            Transient: Redis or JetStream failed; facts left unpublished stay in the outbox for the sweeper.
        """
        try:
            result, facts = await self.store.run(script, **args)
        except StateLost:
            self._start_rebuild()
            raise
        await self.publisher.publish(facts)
        return result

    def _start_rebuild(self) -> None:
        self.forget_synced()
        if self._rebuild is not None and (self._rebuilding is None or self._rebuilding.done()):
            self._rebuilding = asyncio.create_task(self._rebuild(), name="router-rebuild")

    def forget_synced(self) -> None:
        self._synced.clear()
        self._synced_snaps.clear()

    # ---- campaigns ----------------------------------------------------------------------------------
    async def on_campaign_change(self, key: str, value: dict[str, Any] | None) -> None:
        """KV watch callback: keep the directory, and mirror routing config into Redis."""
        try:
            snap = self.directory.apply(key, value)
        except (ValidationError, ValueError) as exc:
            log.error("campaign_snapshot_invalid", campaign_id=key, error=str(exc)[:500])
            return
        try:
            await self.sync_campaign(key, snap)
        except Exception as exc:  # Redis down: the next message or change syncs it
            log.warning("campaign_sync_failed", campaign_id=key, error=repr(exc))

    async def sync_campaign(self, key: str, snap: CampaignSnapshot | None) -> None:
        if snap is None:
            self._synced.pop(key, None)
            self._synced_snaps.pop(key, None)
            await self._decide("sync", campaign=key, deleted=True)
            return
        cfg, digest = routing_config(snap)
        if self._synced.get(key) != digest:
            await self._decide("sync", campaign=key, ver=snap.version, digest=digest, cfg=cfg, agents=snap.agents)
            self._synced[key] = digest
        self._synced_snaps[key] = snap
        if snap.schedule is None or snap.schedule.is_open(utcnow()):
            # A schedule that opened (or was removed) releases the out-of-hours backlog now.
            if await self.store.held_count(key):
                await self._release(key, snap)

    async def _ensure_synced(self, snap: CampaignSnapshot) -> None:
        if self._synced_snaps.get(snap.id) is snap:
            return
        _, digest = routing_config(snap)
        if self._synced.get(snap.id) != digest:
            await self.sync_campaign(snap.id, snap)

    async def resync_all(self) -> None:
        """Mirror every snapshot into Redis again (after the live state was rebuilt)."""
        self.forget_synced()
        for snap in self.directory:
            await self.sync_campaign(snap.id, snap)

    # ---- inbound ------------------------------------------------------------------------------------
    async def handle_inbound(self, msg: InboundMessage, *, refresh: Callable[[], Awaitable[None]] | None = None
                             ) -> dict[str, Any]:
        """Find or open the conversation, append the message, and route a new conversation.

        Raises:
            NotFound: the channel belongs to no active campaign (the message is dead-lettered).
        """
        snap = self.directory.for_channel(msg.channel_id)
        if snap is None and refresh is not None:
            await refresh()
            snap = self.directory.for_channel(msg.channel_id)
        if snap is None:
            raise NotFound(f"channel {msg.channel_id} has no active campaign", field="channel_id")
        await self._ensure_synced(snap)
        route = route_new_conversation(snap, utcnow())
        data = {"direction": "in", "message_id": msg.id, "provider_message_id": msg.provider_message_id,
                "text": msg.text, "media": [m.model_dump(exclude_none=True) for m in msg.media],
                "kind": msg.kind, "at": msg.occurred_at.isoformat(),
                "sent_at": msg.sent_at.isoformat() if msg.sent_at else None}
        with bound_contextvars(campaign_id=snap.id, channel_id=msg.channel_id):
            result = await self._decide(
                "ingest", msg_id=msg.msg_id(), cid=new_id(), channel=msg.channel_id, ctype=msg.channel_type,
                contact=msg.contact_address, cname=msg.contact_name, campaign=snap.id, msg=json.dumps(data),
                mode=route.mode, reply=route.reply, release_at=_ms(route.release_at),
                prio=snap.routing.priority, weight=snap.weight(msg.channel_type), kind=msg.kind,
                owner=msg.extra.get("assigned_agent_id"), dedup_ttl_ms=self.settings.dedup_ttl_s * 1000,
                # Queue age counts from when the platform received the message, not from when a replica
                # got to it, so replicas working in parallel keep arrival order.
                arrived=min(_ms(msg.occurred_at) or now_ms(), now_ms()))
        if result.get("duplicate"):
            # Seen before: its first delivery decided, but may have died before JetStream had the facts, which
            # then wait in the outbox. Publish what waits there before this delivery is acknowledged.
            await self.publisher.sweep(0)
        elif result.get("new"):
            log.info("conversation_opened", conversation_id=result["conversation_id"], mode=route.mode)
        return dict(result)

    # ---- agents -------------------------------------------------------------------------------------
    async def set_status(self, agent_id: str, change: StatusChange) -> dict[str, Any]:
        # Membership is mirrored by the campaign sync alone (versioned), never from this caller's view.
        for c in self.directory.campaigns_of(agent_id):
            snap = self.directory.get(c)
            if snap is not None:
                await self._ensure_synced(snap)
        result = await self._decide("presence", agent=agent_id, status=change.status, reason=change.reason)
        log.info("agent_status_set", agent_id=agent_id, status=change.status, previous=result["previous"])
        return await self.agent_view(agent_id)

    async def agent_view(self, agent_id: str) -> dict[str, Any]:
        a = await self.store.agent(agent_id)
        camps = self.directory.campaigns_of(agent_id)
        return {
            "agent_id": agent_id,
            "status": a.get("status", "offline"),
            "reason": a.get("reason") or None,
            "since": _iso(a.get("since")),
            "load": int(a.get("load", 0)),
            "capacity": {c: s.routing.agent_capacity for c in camps if (s := self.directory.get(c))},
            "missed_offers": int(a.get("missed", 0)),
            "campaigns": camps,
            "conversations": await self.store.agent_conversations(agent_id),
        }

    # ---- conversations ------------------------------------------------------------------------------
    async def _conv(self, cid: str) -> dict[str, str]:
        conv = await self.store.conversation(cid)
        if conv is None:
            if not await self.store.has_epoch():  # not known while the state is being rebuilt: not "not found"
                self._start_rebuild()
                raise StateLost("router live state is being rebuilt")
            raise NotFound(f"conversation {cid} not found", field="conversation_id")
        return conv

    async def conversation_view(self, cid: str, *, with_messages: bool = True) -> dict[str, Any]:
        conv = await self._conv(cid)
        view = await self._summary(conv)
        if with_messages:
            # In the order they were sent; seq (processing order) breaks ties.
            view["messages"] = sorted(await self.store.messages(cid), key=lambda m: (m.get("at") or "", m["seq"]))
        return view

    async def _summary(self, conv: dict[str, str]) -> dict[str, Any]:
        queue = {"q": "queue", "hold": "out_of_hours"}.get(conv.get("queue", ""))
        view: dict[str, Any] = {
            "id": conv["id"],
            "state": conv.get("state"),
            "queue": queue,
            "agent_id": conv.get("agent") or None,
            "campaign_id": conv.get("campaign"),
            "channel_id": conv.get("channel"),
            "channel_type": conv.get("ctype"),
            "contact_address": conv.get("contact"),
            "contact_name": conv.get("cname") or None,
            "priority": int(conv.get("prio", 0)),
            "created_at": _iso(conv.get("created")),
            "last_customer_message_at": _iso(conv.get("last_in")),
            "closed_at": _iso(conv.get("closed_at")),
            "close_reason": conv.get("close_reason") or None,
            "offer_expires_at": _iso(conv.get("offer_until")) if conv.get("state") == "offered" else None,
        }
        if queue == "queue":
            pos = await self.store.position(conv["campaign"], conv["id"])
            view["position"] = pos
            view["estimated_wait_s"] = await self._estimate(conv["campaign"], pos)
        return view

    async def _estimate(self, campaign_id: str, position: int | None) -> float | None:
        """Position times the recent interval between assignments of the campaign (an EWMA)."""
        if position is None:
            return None
        gap = float((await self.store.stats(campaign_id)).get("gap_ms", 0) or 0)
        return round(position * gap / 1000, 1) if gap else None

    async def conversations_of(self, agent_id: str) -> list[dict[str, Any]]:
        convs = await self.store.conversations(await self.store.agent_conversations(agent_id))
        return [await self._summary(c) for c in convs]

    async def decisions(self, cid: str) -> list[dict[str, Any]]:
        await self._conv(cid)
        return await self.store.decisions(cid)

    async def reply(self, cid: str, r: Reply) -> dict[str, Any]:
        if r.client_message_id:  # a retry gets the first answer, even once the conversation is gone from Redis
            message_id = f"{cid}-{r.client_message_id}"
            if (seq := await self.store.sent_seq(message_id)) is not None:
                return {"conversation_id": cid, "message_id": message_id, "seq": seq}
        conv = await self._conv(cid)
        check_reply(self.directory.get(conv.get("campaign", "")), r)
        out = OutboundMessage(conversation_id=cid, channel_id=conv["channel"], channel_type=conv["ctype"],
                              to=conv["contact"], text=r.text, media=r.media, agent_id=r.agent_id)
        if r.client_message_id:
            # The same id for a retry, so the script, the OUTBOUND stream and channels all see one reply.
            out.id = message_id
        data = {"direction": "out", "message_id": out.id, "text": r.text,
                "media": [m.model_dump(exclude_none=True) for m in r.media], "agent_id": r.agent_id,
                "kind": "message", "at": out.occurred_at.isoformat()}
        result = await self._decide("send", cid=cid, agent=r.agent_id, msg=json.dumps(data),
                                    out=out.model_dump_json(), once=out.id if r.client_message_id else None)
        return {"conversation_id": cid, "message_id": out.id, "seq": result["seq"]}

    async def close(self, cid: str, c: Closure, *, reason: str = "agent", idempotent: bool = False
                    ) -> dict[str, Any]:
        conv = await self._conv(cid)
        check_closure(self.directory.get(conv.get("campaign", "")), c, conv.get("kind", "message"))
        await self._decide("close", cid=cid, agent=c.agent_id, reason=reason, typ=c.typification_id,
                           fields=json.dumps(c.fields), idempotent=idempotent)
        log.info("conversation_closed", conversation_id=cid, reason=reason)
        return await self.conversation_view(cid, with_messages=False)

    async def answer_offer(self, cid: str, agent_id: str, action: str) -> dict[str, Any]:
        await self._conv(cid)
        await self._decide("offer", cid=cid, agent=agent_id, action=action)
        return await self.conversation_view(cid, with_messages=False)

    async def transfer(self, cid: str, t: Transfer) -> dict[str, Any]:
        conv = await self._conv(cid)
        snap = self.directory.get(conv.get("campaign", ""))
        check_transfer(snap, t, self.directory)
        assert snap is not None
        if t.to_campaign_id:
            target = self.directory.get(t.to_campaign_id)
            assert target is not None
            await self._ensure_synced(target)
        await self._decide("transfer", cid=cid, agent=t.agent_id, to_agent=t.to_agent_id,
                           to_campaign=t.to_campaign_id, typ=snap.transfer_typification)
        return await self.conversation_view(cid, with_messages=False)

    async def set_priority(self, cid: str, priority: int) -> dict[str, Any]:
        await self._conv(cid)
        await self._decide("priority", cid=cid, priority=priority)
        return await self.conversation_view(cid, with_messages=False)

    # ---- queues -------------------------------------------------------------------------------------
    async def queue_view(self, campaign_id: str) -> dict[str, Any]:
        snap = self.directory.get(campaign_id)
        q = await self.store.queue(campaign_id)
        if snap is None and not q["queued_count"] and not q["held_count"]:
            raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
        convs = {c["id"]: c for c in await self.store.conversations(q["queued"] + q["held"])}
        now = now_ms()
        gap = float(q["stats"].get("gap_ms", 0) or 0)

        def item(cid: str, pos: int | None) -> dict[str, Any]:
            c = convs.get(cid, {})
            return {"conversation_id": cid, "position": pos, "priority": int(c.get("prio", 0)),
                    "channel_type": c.get("ctype"), "waiting_s": round((now - int(c.get("arrived", now))) / 1000, 1),
                    "estimated_wait_s": round(pos * gap / 1000, 1) if (gap and pos) else None}

        members = sorted(set(q["members"]) | set(snap.agents if snap else []))
        agents = await self.store.agents(members)
        return {
            "campaign_id": campaign_id,
            "queued": q["queued_count"],
            "out_of_hours": q["held_count"],
            "average_wait_s": round(float(q["stats"].get("wait_ms", 0) or 0) / 1000, 1),
            "assigned_total": int(q["stats"].get("assigned", 0) or 0),
            "items": [item(cid, i + 1) for i, cid in enumerate(q["queued"])],
            "held": [item(cid, None) for cid in q["held"]],
            "agents": [{"agent_id": aid, "status": a.get("status", "offline"), "reason": a.get("reason") or None,
                        "since": _iso(a.get("since")), "load": int(a.get("load", 0)),
                        "capacity": snap.routing.agent_capacity if snap else None}
                       for aid, a in zip(members, agents, strict=True)],
            "agents_with_room": q["available_with_room"],
        }

    # ---- timers -------------------------------------------------------------------------------------
    async def on_timer(self, due: TimerDue) -> None:
        ref = str(due.data.get("ref", ""))
        token = str(due.data.get("token", ""))
        if due.purpose == "release":
            snap = self.directory.get(ref)
            if snap is None:
                return
            await self._ensure_synced(snap)
            await self._release(ref, snap)
            return
        result = await self._decide("timer", purpose=due.purpose, ref=ref, token=token)
        log.info("timer_handled", purpose=due.purpose, ref=ref, result=result.get("result"))

    async def _release(self, campaign_id: str, snap: CampaignSnapshot) -> None:
        now = utcnow()
        is_open = snap.schedule is None or snap.schedule.is_open(now)
        nxt = None if is_open or snap.schedule is None else snap.schedule.next_opening(now)
        result = await self._decide("timer", purpose="release", ref=campaign_id, token="0", open=is_open,
                                    next_ms=_ms(nxt), interval_ms=int(self.settings.release_interval_s * 1000))
        log.info("backlog_release", campaign_id=campaign_id, result=result.get("result"))

    # ---- commands from the AGENTS stream ------------------------------------------------------------
    async def on_agent_command(self, cmd: Contract) -> None:
        if isinstance(cmd, SetPresence):
            await self.set_status(cmd.agent_id, StatusChange.model_construct(status=cmd.status, reason=cmd.reason))
        elif isinstance(cmd, CloseConversation):
            # Already validated as a contract: no second validation pass.
            closure = Closure.model_construct(agent_id=cmd.agent_id, typification_id=cmd.typification_id,
                                              fields=cmd.fields)
            await self.close(cmd.conversation_id, closure, reason="agent", idempotent=True)

"""Router use cases: each takes a command or event, runs one atomic decision, and publishes its facts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from libs.contracts import (
    CampaignSnapshot,
    ChannelSnapshot,
    CloseConversation,
    Contract,
    InboundMessage,
    OutboundMessage,
    SendReply,
    SetPresence,
    TimerDue,
    new_id,
    utcnow,
)
from libs.core.errors import NotFound, Transient
from libs.core.logging import bound_contextvars, get_logger
from libs.core.validation import parse_body
from libs.messaging.snapshots import SnapshotDirectory
from services.router.adapters.ports import FactPublisher, LiveState, OwnerIndex, StateLost
from services.router.domain import (
    Closure,
    Reply,
    Route,
    StartIn,
    StatusChange,
    Transfer,
    check_close_reply,
    check_closure,
    check_reply,
    check_start,
    check_transfer,
    now_ms,
    route_new_conversation,
    routing_config,
)
from services.router.settings import RouterSettings
from services.router.views import RouterViews

log = get_logger(__name__)


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at else None


# How many (channel, contact) pairs the open-conversation hint keeps (about 200 bytes each).
OPEN_HINT_SIZE = 50_000


class BoundedSet:
    """A set that forgets its oldest members past ``limit``."""

    def __init__(self, limit: int) -> None:
        self._items: dict[tuple[str, str], None] = {}
        self._limit = limit

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def add(self, item: tuple[str, str]) -> None:
        self._items[item] = None
        if len(self._items) > self._limit:
            del self._items[next(iter(self._items))]


class Router:
    """The routing engine's use cases over the Redis store, the publisher and the campaign directory."""

    def __init__(self, store: LiveState, publisher: FactPublisher, directory: SnapshotDirectory,
                 settings: RouterSettings, rebuild: Callable[[], Coroutine[Any, Any, Any]] | None = None,
                 owners: OwnerIndex | None = None) -> None:
        self.store = store
        self.owners = owners
        self.publisher = publisher
        self.directory = directory
        self.settings = settings
        self._synced: dict[str, str] = {}
        # The snapshot objects last found in sync: the per-message check is then one identity test.
        self._synced_snaps: dict[str, CampaignSnapshot] = {}
        self._rebuild = rebuild
        self.views = RouterViews(store, directory, self._start_rebuild)
        # Re-reads the campaigns bucket when a channel is unknown to the watch (set by ``consumers``).
        self.refresh_snapshots: Callable[[], Awaitable[None]] | None = None
        self._rebuilding: asyncio.Task[Any] | None = None
        # Contacts recently seen here in an open conversation (see ``_ingest``): a hint, never trusted for state.
        self._open_hint = BoundedSet(OPEN_HINT_SIZE)
        # The channels' non-secret snapshots (KV ``channels``): a WhatsApp number's templates.
        self.channels: dict[str, ChannelSnapshot] = {}

    def on_channel_change(self, key: str, value: Any) -> None:
        """The ``channels`` KV watch: a channel's snapshot (its WhatsApp templates), or its removal."""
        if value is None:
            self.channels.pop(key, None)
            return
        try:
            self.channels[key] = ChannelSnapshot.model_validate(value)
        except ValidationError as exc:
            log.warning("channel_snapshot_unreadable", channel_id=key, error=str(exc)[:300])

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

    def until_live(self) -> Awaitable[Any] | None:
        """None while the live state is usable; else what completes once this replica's rebuild (or its wait
        for another replica's) is over. The consumers wait on it before fetching, so messages are not spent
        on naks while the state is being rebuilt (a long rebuild once dead-lettered acknowledged webhooks)."""
        task = self._rebuilding
        if task is None or task.done():
            return None
        return asyncio.shield(task)

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
    async def handle_inbound(self, msg: InboundMessage) -> dict[str, Any]:
        """Find or open the conversation, append the message, and route a new conversation.

        Raises:
            NotFound: the channel belongs to no active campaign (the message is dead-lettered).
        """
        snap, route, args = await self._prepare(msg)
        with bound_contextvars(campaign_id=snap.id, channel_id=msg.channel_id):
            result = await self._ingest(snap.id, msg, args)
        return await self._ingested(msg, route, result)

    async def handle_inbound_many(self, msgs: list[Contract]) -> list[BaseException | None]:
        """The consumer's batch handler: per message, in order, None (decided, its facts on JetStream: ack) or the
        error ``handle_inbound`` would have raised. See ``decide_inbound_many``."""
        return [r if isinstance(r, BaseException) else None for r in await self.decide_inbound_many(msgs)]

    async def decide_inbound_many(self, msgs: list[Contract]) -> list[dict[str, Any] | BaseException]:
        """The inbound messages of one fetch, decided together: their owner-index reads at once, their ``ingest``
        scripts in one Redis round trip (in order: a message sees the conversation the one before it opened),
        and all their facts published together. Per message, in order: what ``handle_inbound`` returns, or the
        error it would have raised. Any other message type goes to its own use case, one by one."""
        outcomes: list[dict[str, Any] | BaseException] = [{} for _ in msgs]
        todo: list[tuple[int, InboundMessage, Route, dict[str, Any]]] = []
        for i, msg in enumerate(msgs):
            try:
                if not isinstance(msg, InboundMessage):
                    if (use_case := HANDLERS.get(type(msg))) is not None:
                        await use_case(self, msg)
                    continue
                _, route, args = await self._prepare(msg)
                todo.append((i, msg, route, args))
            except Exception as exc:
                outcomes[i] = exc
        if not todo:
            return outcomes
        owners = self.owners
        if owners is not None:
            new = [(msg, args) for _, msg, _, args in todo
                   if (msg.channel_id, msg.contact_address) not in self._open_hint]
            found = await asyncio.gather(*(owners.owner(args["campaign"], msg.channel_type, msg.contact_address)
                                           for msg, args in new), return_exceptions=True)
            for (_, args), owner in zip(new, found, strict=True):
                if not isinstance(owner, BaseException):  # a failing read: the script asks, as one by one
                    args["owner"] = owner or ""
            for _, _, _, args in todo:
                if "owner" not in args:
                    args["owner_pending"] = 1
        results = await self._decide_many("ingest", [args for _, _, _, args in todo])
        lookups = [n for n, r in enumerate(results) if isinstance(r, dict) and r.get("lookup")]
        if lookups and owners is not None:  # the conversation was closed since this replica saw it
            again = []
            for n in lookups:
                _, msg, _, args = todo[n]
                args.pop("owner_pending", None)
                try:
                    args["owner"] = await owners.owner(args["campaign"], msg.channel_type, msg.contact_address) or ""
                except Exception as exc:
                    results[n] = exc
                    continue
                again.append(n)
            for n, r in zip(again, await self._decide_many("ingest", [todo[n][3] for n in again]), strict=True):
                results[n] = r
        for (i, msg, route, _), result in zip(todo, results, strict=True):
            if isinstance(result, BaseException):
                outcomes[i] = result
                continue
            try:
                outcomes[i] = await self._ingested(msg, route, result)
            except Exception as exc:
                outcomes[i] = exc
        return outcomes

    async def _ingest(self, campaign_id: str, msg: InboundMessage, args: dict[str, Any]) -> Any:
        """Run ``ingest``, with the contact's assigned user (the CRM's owner index) when it opens a conversation.

        A contact this replica saw in an open conversation most likely still has it: the script is asked
        first, and reads the owner index only if it answers ``lookup`` (the conversation was closed since).
        Any other contact is most likely new: the owner is read first, so the conversation opens in one
        script call (the script ignores the owner when the conversation exists). An owner index that fails
        then falls back to asking the script, which needs it only for a new conversation.
        """
        owners = self.owners
        if owners is None:
            return await self._decide("ingest", **args)
        if (msg.channel_id, msg.contact_address) not in self._open_hint:
            try:
                owner = await owners.owner(campaign_id, msg.channel_type, msg.contact_address)
            except Transient:
                pass
            else:
                return await self._decide("ingest", **args, owner=owner or "")
        result = await self._decide("ingest", **args, owner_pending=1)
        if result.get("lookup"):
            owner = await owners.owner(campaign_id, msg.channel_type, msg.contact_address)
            result = await self._decide("ingest", **args, owner=owner or "")
        return result

    async def _decide_many(self, script: str, many: list[dict[str, Any]]) -> list[Any]:
        """``_decide`` for several decisions in one round trip; per decision its result or its error. Facts are
        published together; if JetStream does not acknowledge them, every decision that made facts fails with
        that error (its facts wait in the outbox)."""
        try:
            runs = await self.store.run_many(script, many)
        except Transient as exc:
            return [exc] * len(many)
        if any(isinstance(r, StateLost) for r in runs):
            self._start_rebuild()
        facts = [f for r in runs if not isinstance(r, BaseException) for f in r[1]]
        unpublished: Exception | None = None
        try:
            await self.publisher.publish(facts)
        except Exception as exc:
            unpublished = exc
        out: list[Any] = []
        for r in runs:
            if isinstance(r, BaseException):
                out.append(r)
            elif unpublished is not None and r[1]:
                out.append(unpublished)
            else:
                out.append(r[0])
        return out

    async def _prepare(self, msg: InboundMessage) -> tuple[CampaignSnapshot, Route, dict[str, Any]]:
        """The campaign of the message's channel (synced into Redis) and the ``ingest`` arguments.

        Raises:
            NotFound: the channel belongs to no active campaign.
        """
        snap = self.directory.for_channel(msg.channel_id)
        if snap is None and self.refresh_snapshots is not None:
            await self.refresh_snapshots()
            snap = self.directory.for_channel(msg.channel_id)
        if snap is None:
            raise NotFound(f"channel {msg.channel_id} has no active campaign", field="channel_id")
        await self._ensure_synced(snap)
        route = route_new_conversation(snap, utcnow())
        data = {"direction": "in", "message_id": msg.id, "provider_message_id": msg.provider_message_id,
                "text": msg.text, "media": [m.model_dump(exclude_none=True) for m in msg.media],
                "kind": msg.kind, "at": msg.occurred_at.isoformat(),
                "sent_at": msg.sent_at.isoformat() if msg.sent_at else None}
        args = dict(
            msg_id=msg.msg_id(), cid=new_id(), channel=msg.channel_id, ctype=msg.channel_type,
            contact=msg.contact_address, cname=msg.contact_name, campaign=snap.id, msg=json.dumps(data),
            mode=route.mode, reply=route.reply, release_at=_ms(route.release_at),
            prio=snap.routing.priority, weight=snap.weight(msg.channel_type), kind=msg.kind,
            dedup_ttl_ms=self.settings.dedup_ttl_s * 1000,
            ref=msg.provider_message_id if msg.channel_type == "email" else None,
            # Queue age counts from when the platform received the message, not from when a replica
            # got to it, so replicas working in parallel keep arrival order.
            arrived=min(_ms(msg.occurred_at) or now_ms(), now_ms()))
        return snap, route, args

    async def _ingested(self, msg: InboundMessage, route: Route, result: Any) -> dict[str, Any]:
        """After ``ingest`` (its facts on JetStream): remember the open conversation; a duplicate publishes what
        waits in the outbox before it is acknowledged."""
        if result.get("conversation_id") and route.mode != "close":
            self._open_hint.add((msg.channel_id, msg.contact_address))
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
        return await self.views.agent_view(agent_id)

    # ---- conversations ------------------------------------------------------------------------------
    async def reply(self, cid: str, r: Reply) -> dict[str, Any]:
        if r.client_message_id:  # a retry gets the first answer, even once the conversation is gone from Redis
            message_id = f"{cid}-{r.client_message_id}"
            if (seq := await self.store.sent_seq(message_id)) is not None:
                return {"conversation_id": cid, "message_id": message_id, "seq": seq}
        conv = await self.views.conversation(cid)
        check_reply(self.directory.get(conv.get("campaign", "")), r)
        # An e-mail answers the customer's latest message: channels gives it that thread's "Re:" subject, its
        # In-Reply-To and References.
        out = OutboundMessage(conversation_id=cid, channel_id=conv["channel"], channel_type=conv["ctype"],
                              to=conv["contact"], text=r.text, media=r.media, agent_id=r.agent_id,
                              reply_to=conv.get("last_ref") or None)
        if r.client_message_id:
            # The same id for a retry, so the script, the OUTBOUND stream and channels all see one reply.
            out.id = message_id
        data = {"direction": "out", "message_id": out.id, "text": r.text,
                "media": [m.model_dump(exclude_none=True) for m in r.media], "agent_id": r.agent_id,
                "kind": "message", "at": out.occurred_at.isoformat()}
        result = await self._decide("send", cid=cid, agent=r.agent_id, msg=json.dumps(data),
                                    out=out.model_dump_json(), once=out.id if r.client_message_id else None)
        return {"conversation_id": cid, "message_id": out.id, "seq": result["seq"]}

    async def start(self, body: StartIn) -> dict[str, Any]:
        """An agent starts a conversation with a contact on WhatsApp, SMS or e-mail: it opens assigned to them,
        with their message sent. Free WhatsApp text only within 24 hours of the contact's last message; else an
        approved template of the channel with every parameter.

        Raises:
            NotFound, Invalid (field-named), Forbidden (not an agent of the campaign), Conflict (the contact's
            conversation on that channel is open, the window is closed, the agent has no room).
        """
        snap = self.directory.get(body.campaign_id)
        start = check_start(snap, self.channels, body)
        assert snap is not None
        await self._ensure_synced(snap)
        cid = new_id()
        to = body.to.strip().lower() if start.channel_type == "email" else body.to.strip()
        out = OutboundMessage(conversation_id=cid, channel_id=start.channel_id,
                              channel_type=start.channel_type,
                              to=to, text=None if start.template else start.text, template=start.template,
                              agent_id=body.agent_id, subject_line=body.subject)
        data = {"direction": "out", "message_id": out.id, "text": start.text, "media": [],
                "agent_id": body.agent_id, "kind": "message", "at": out.occurred_at.isoformat(),
                **({"template": start.template.name} if start.template else {})}
        result = await self._decide("start", cid=cid, agent=body.agent_id, campaign=snap.id,
                                    channel=start.channel_id, ctype=start.channel_type, contact=to,
                                    prio=snap.routing.priority, window_ms=start.window_ms,
                                    msg=json.dumps(data), out=out.model_dump_json())
        log.info("conversation_started", conversation_id=cid, agent_id=body.agent_id, channel_id=start.channel_id,
                 template=start.template.name if start.template else None)
        return {"conversation_id": cid, "message_id": out.id, "seq": result["seq"]}

    async def close(self, cid: str, c: Closure, *, reason: str = "agent", idempotent: bool = False,
                    staff: bool = False) -> dict[str, Any]:
        """An agent's close (or a supervisor's on the agent's behalf: ``staff``), checked against the campaign:
        the closure (typification, required fields) and, for agents, "close without reply"."""
        conv = await self.views.conversation(cid)
        snap = self.directory.get(conv.get("campaign", ""))
        check_closure(snap, c, conv.get("kind", "message"))
        check_close_reply(snap, conv, staff=staff)
        # A supervisor or admin closes it wherever it is (waiting, offered, assigned): no agent to check.
        await self._decide("close", cid=cid, agent=None if staff else c.agent_id, reason=reason,
                           typ=c.typification_id, fields=json.dumps(c.fields), idempotent=idempotent)
        log.info("conversation_closed", conversation_id=cid, reason=reason)
        return await self.views.conversation_view(cid, with_messages=False)

    async def answer_offer(self, cid: str, agent_id: str, action: str) -> dict[str, Any]:
        await self.views.conversation(cid)
        await self._decide("offer", cid=cid, agent=agent_id, action=action)
        return await self.views.conversation_view(cid, with_messages=False)

    async def transfer(self, cid: str, t: Transfer, *, staff: bool = False) -> dict[str, Any]:
        conv = await self.views.conversation(cid)
        snap = self.directory.get(conv.get("campaign", ""))
        check_transfer(snap, t, self.directory, staff=staff)
        if t.to_campaign_id:
            target = self.directory.get(t.to_campaign_id)
            assert target is not None
            await self._ensure_synced(target)
        await self._decide("transfer", cid=cid, agent=t.agent_id, to_agent=t.to_agent_id,
                           to_campaign=t.to_campaign_id, typ=snap.transfer_typification if snap else None,
                           staff=staff or None, by=t.by_user_id)
        return await self.views.conversation_view(cid, with_messages=False)

    async def take(self, cid: str, agent_id: str) -> dict[str, Any]:
        """An agent takes a conversation waiting in the queue (atomic: one of two takers wins; capacity holds).

        Raises:
            NotFound, Forbidden (not an agent of the campaign), Conflict (not waiting, agent unavailable or full).
        """
        conv = await self.views.conversation(cid)
        if (snap := self.directory.get(conv.get("campaign", ""))) is not None:
            await self._ensure_synced(snap)
        await self._decide("take", cid=cid, agent=agent_id)
        log.info("conversation_taken", conversation_id=cid, agent_id=agent_id)
        return await self.views.conversation_view(cid, with_messages=False)

    async def set_priority(self, cid: str, priority: int) -> dict[str, Any]:
        await self.views.conversation(cid)
        await self._decide("priority", cid=cid, priority=priority)
        return await self.views.conversation_view(cid, with_messages=False)

    # ---- queues -------------------------------------------------------------------------------------
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
    # Already validated as contracts: no second validation pass (model_construct).
    async def on_set_presence(self, cmd: SetPresence) -> None:
        await self.set_status(cmd.agent_id, StatusChange.model_construct(status=cmd.status, reason=cmd.reason))

    async def on_close_command(self, cmd: CloseConversation) -> None:
        closure = Closure.model_construct(agent_id=cmd.agent_id, typification_id=cmd.typification_id,
                                          fields=cmd.fields)
        await self.close(cmd.conversation_id, closure, reason="agent", idempotent=True)

    async def on_reply_command(self, cmd: SendReply) -> None:
        """A reply sent as a command: validated like one through the API (``Invalid`` dead-letters it with the
        reason); its id keeps a redelivery from sending twice."""
        reply = parse_body(Reply, {"agent_id": cmd.agent_id, "text": cmd.text,
                                   "media": [m.model_dump() for m in cmd.media],
                                   "client_message_id": cmd.client_message_id or cmd.id})
        await self.reply(cmd.conversation_id, reply)


# The use case of each message type the router consumes (registered by ``consumers`` through ``dispatch``).
HANDLERS: dict[type[Contract], Callable[[Router, Any], Awaitable[Any]]] = {
    InboundMessage: Router.handle_inbound,
    TimerDue: Router.on_timer,
    SetPresence: Router.on_set_presence,
    CloseConversation: Router.on_close_command,
    SendReply: Router.on_reply_command,
}

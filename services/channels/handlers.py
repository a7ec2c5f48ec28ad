"""Use cases: the channel registry (cache, PostgreSQL, KV snapshot), publishing what webhooks bring, and
delivering outbound commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import SecretStr

from libs.contracts import (
    CallProgress,
    Contract,
    ConversationAssigned,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    new_id,
)
from libs.core import demo, metrics
from libs.core.errors import AppError, Invalid, NotFound, StreamAction, Transient
from libs.core.logging import get_logger
from services.channels.adapters.ports import (
    CallDialer,
    CallOriginator,
    ChannelStore,
    ChannelUsage,
    DeliveryLog,
    EmailThreads,
    MediaStore,
    Sender,
    SnapshotSink,
    StreamPublisher,
    UnitOfWorkFactory,
    VoiceCalls,
)
from services.channels.domain import email
from services.channels.domain.channels import Channel, apply_update, deletion_conflict, parse_create
from services.channels.domain.outbound import idempotency_key
from services.channels.domain.voice import PlaceCall

log = get_logger(__name__)


class ChannelRegistry:
    """Channels with their secrets, kept in memory so webhooks never wait on the database.

    Every change is written to PostgreSQL and published to the ``channels`` KV bucket in one transaction
    (the KV put happens before the commit; a failed put rolls the change back). Other replicas see the KV
    update and reload the channel from PostgreSQL.
    """

    def __init__(self, store: ChannelStore, uow: UnitOfWorkFactory, snapshots: SnapshotSink,
                 usage: ChannelUsage | None = None) -> None:
        self.repo = store
        self.uow = uow
        self.snapshots = snapshots
        self.usage = usage
        self._cache: dict[str, Channel] = {}
        self._by_email: dict[str, Channel] = {}

    # ---- reads -----------------------------------------------------------------------------------
    def cached(self, channel_id: str) -> Channel | None:
        return self._cache.get(channel_id)

    def by_email(self, address: str) -> Channel | None:
        return self._by_email.get(address.lower())

    async def get(self, channel_id: str) -> Channel:
        """A channel from the cache, or from PostgreSQL when this replica has not seen it yet.

        Raises:
            NotFound: no such channel.
        """
        ch = self._cache.get(channel_id) or await self.repo.get(channel_id)
        if ch is None:
            raise NotFound(f"channel {channel_id!r} not found", field="channel_id")
        self._remember(ch)
        return ch

    async def list(self, type_: str | None = None, active: bool | None = None, *, after: str | None = None,
                   limit: int | None = None) -> list[Channel]:
        """Channels by id, those after the id ``after`` (a list cursor), at most ``limit``."""
        found = [c for c in await self.repo.all()
                 if (type_ is None or c.type == type_) and (active is None or c.active == active)
                 and (after is None or c.id > after)]
        return found[:limit] if limit is not None else found

    # ---- writes ----------------------------------------------------------------------------------
    async def create(self, body: Any) -> Channel:
        ch = parse_create(body, new_id()[:16])
        async with self.uow() as uow:
            await uow.channels.insert(ch)
            await self.snapshots.put(ch)
        self._remember(ch)
        log.info("channel_created", channel_id=ch.id, channel_type=ch.type)
        return ch

    async def update(self, channel_id: str, body: Any) -> Channel:
        async with self.uow() as uow:
            current = await uow.channels.get(channel_id, for_update=True)
            if current is None:
                raise NotFound(f"channel {channel_id!r} not found", field="channel_id")
            ch = apply_update(current, body)
            await uow.channels.update(ch)
            await self.snapshots.put(ch)
        self._forget(channel_id)
        self._remember(ch)
        log.info("channel_updated", channel_id=ch.id, revision=ch.revision)
        return ch

    async def delete(self, channel_id: str) -> None:
        """Delete a channel nothing needs any more.

        Raises:
            NotFound. Conflict: an active campaign uses it or conversations are open on it (named, nothing
            deleted). Transient: the router could not say.
        """
        if self.usage is not None:
            count, conversations = await self.usage.open_conversations(channel_id)
            if (conflict := deletion_conflict(channel_id, self.usage.campaigns_using(channel_id), count,
                                              conversations)) is not None:
                raise conflict
        async with self.uow() as uow:
            if not await uow.channels.delete(channel_id):
                raise NotFound(f"channel {channel_id!r} not found", field="channel_id")
            await self.snapshots.delete(channel_id)
        self._forget(channel_id)
        log.info("channel_deleted", channel_id=channel_id)

    async def seed_demo(self) -> None:
        """Create the demo WhatsApp channel if it is missing; publish its snapshot either way."""
        ch = Channel(id=demo.WHATSAPP_CHANNEL_ID, type="whatsapp", name="Demo WhatsApp",
                     address=f"+{demo.WHATSAPP_PHONE_NUMBER_ID}",
                     phone_number_id=demo.WHATSAPP_PHONE_NUMBER_ID,
                     app_secret=SecretStr(demo.WHATSAPP_APP_SECRET),
                     verify_token=SecretStr(demo.WHATSAPP_VERIFY_TOKEN),
                     access_token=SecretStr(demo.WHATSAPP_ACCESS_TOKEN))
        async with self.uow() as uow:
            await uow.channels.insert(ch, if_absent=True)
            stored = await uow.channels.get(ch.id)
            assert stored is not None
            await self.snapshots.put(stored)
        self._remember(stored)
        log.info("demo_channel_seeded", channel_id=ch.id)

    # ---- cache -----------------------------------------------------------------------------------
    async def load(self) -> None:
        channels = await self.repo.all()
        self._cache.clear()
        self._by_email.clear()
        for ch in channels:
            self._remember(ch)

    async def refresh(self, channel_id: str, revision: int | None, *, tries: int = 20) -> None:
        """Reload one channel after a KV update (``revision`` None: a delete).

        The writer puts to KV just before it commits, so wait briefly until PostgreSQL shows the change.
        """
        for _ in range(tries):
            ch = await self.repo.get(channel_id)
            if (ch is None) if revision is None else (ch is not None and ch.revision >= revision):
                break
            await asyncio.sleep(0.05)
        self._forget(channel_id)
        if ch is not None:
            self._remember(ch)

    def _remember(self, ch: Channel) -> None:
        self._cache[ch.id] = ch
        if ch.type == "email" and ch.address:
            self._by_email[ch.address.lower()] = ch

    def _forget(self, channel_id: str) -> None:
        old = self._cache.pop(channel_id, None)
        if old is not None and old.type == "email":
            self._by_email.pop(old.address.lower(), None)


class Publisher:
    """Publishes what a webhook brought and returns only once JetStream acknowledged all of it."""

    def __init__(self, stream: StreamPublisher, deliveries: DeliveryLog) -> None:
        self.stream = stream
        self.deliveries = deliveries

    async def publish(self, items: Iterable[Contract]) -> dict[str, int]:
        """Publish every item (one per ``Nats-Msg-Id``); statuses are enriched with what we sent.

        Raises:
            Transient: JetStream did not acknowledge; the provider must retry.
        """
        unique: dict[str, Contract] = {}
        for item in items:
            unique.setdefault(item.msg_id(), item)
        batch = list(unique.values())
        for item in batch:
            if isinstance(item, DeliveryStatus) and item.provider_message_id and item.outbound_id is None:
                await self._enrich(item)
        duplicates = await self.stream.publish(batch)
        counts = {"messages": 0, "statuses": 0, "duplicates": 0}
        for item, duplicate in zip(batch, duplicates, strict=True):
            counts["statuses" if isinstance(item, DeliveryStatus) else "messages"] += 1
            counts["duplicates"] += int(duplicate)
        return counts

    async def _enrich(self, status: DeliveryStatus) -> None:
        try:
            sent = await self.deliveries.find(status.channel_id, status.provider_message_id or "")
        except Exception as exc:  # the status still goes out, only without our ids
            log.warning("delivery_lookup_failed", error=repr(exc))
            return
        if sent:
            status.outbound_id = sent["outbound_id"]
            status.conversation_id = sent["conversation_id"]
            status.agent_id = sent["agent_id"]


async def _counted_send(sender: Sender, ch: Channel, msg: OutboundMessage) -> list[str]:
    """``sender.send``, counted in ``sb_outbound_sends_total{channel_type,result}``: ``sent``, ``retry`` (the
    provider is unavailable or throttles), ``refused`` (it said no for good) or ``error`` (a bug)."""
    try:
        ids = await sender.send(ch, msg)
    except AppError as err:
        metrics.OUTBOUND_SENDS.labels(ch.type, "retry" if err.action is StreamAction.NAK else "refused").inc()
        raise
    except Exception:
        metrics.OUTBOUND_SENDS.labels(ch.type, "error").inc()
        raise
    metrics.OUTBOUND_SENDS.labels(ch.type, "sent").inc()
    return ids


class Deliverer:
    """Delivers ``OutboundMessage`` commands through the channel's provider, once, and reports ``sent``."""

    def __init__(self, registry: ChannelRegistry, deliveries: DeliveryLog, senders: dict[str, Sender],
                 publisher: Publisher) -> None:
        self.registry = registry
        self.deliveries = deliveries
        self.senders = senders
        self.publisher = publisher

    async def deliver(self, msg: OutboundMessage) -> list[str]:
        """Send a command (or, if it was already sent, only report it again).

        Raises:
            NotFound: unknown channel. Invalid: a command or provider refusal that retrying cannot fix.
            Transient: the provider or JetStream is unavailable for now.
        """
        ch = await self.registry.get(msg.channel_id)
        if ch.type != msg.channel_type:
            raise Invalid(f"channel {ch.id} is {ch.type}, not {msg.channel_type}", field="channel_type")
        if not ch.active:
            raise Invalid(f"channel {ch.id} is inactive", field="channel_id")
        if not msg.text and not msg.media and msg.template is None and ch.type != "voice":
            raise Invalid("an outbound message needs text or media", field="text")
        if msg.template is not None and ch.type != "whatsapp":
            raise Invalid(f"templates are WhatsApp messages; channel {ch.id} is {ch.type}", field="template")
        sender = self.senders.get(ch.type)
        if sender is None:
            raise Invalid(f"no sender for {ch.type} channels", field="channel_type")
        ids = await self.deliveries.sent_ids(msg.id)
        if not ids:
            # Pending first: a crash between the provider's answer and the record below sends again, with the
            # same idempotency key (the command's id), so the provider does not create the message twice.
            attempts = await self.deliveries.begin(ch.id, msg.id, idempotency_key(msg.id))
            if attempts > 1:
                log.warning("outbound_in_doubt_sent_again", channel_id=ch.id, outbound_id=msg.id, attempts=attempts)
            ids = await _counted_send(sender, ch, msg)
            await self.deliveries.record(ch.id, ids, msg.id, msg.conversation_id, msg.agent_id)
            log.info("outbound_sent", channel_id=ch.id, outbound_id=msg.id, provider_ids=ids)
        await self.publisher.publish(
            DeliveryStatus(channel_id=ch.id, outbound_id=msg.id, provider_message_id=pid,
                           conversation_id=msg.conversation_id, agent_id=msg.agent_id, status="sent")
            for pid in ids)
        return ids


class EmailIngest:
    """An e-mail from the SMTP listener: parsed, attachments stored as references, threading recorded, and
    one ``InboundMessage`` per receiving channel published."""

    def __init__(self, registry: ChannelRegistry, publisher: Publisher, threads: EmailThreads,
                 blobs: MediaStore) -> None:
        self.registry = registry
        self.publisher = publisher
        self.threads = threads
        self.blobs = blobs

    def accepts(self, address: str) -> bool:
        ch = self.registry.by_email(address)
        return ch is not None and ch.active

    async def receive(self, raw: bytes, recipients: Iterable[str]) -> list[InboundMessage]:
        """Raises: Invalid (unparseable sender), Transient (storage or JetStream unavailable)."""
        mail = email.parse_mail(raw)
        channels = [ch for r in dict.fromkeys(a.lower() for a in recipients)
                    if (ch := self.registry.by_email(r)) is not None and ch.active]
        if not channels:
            raise NotFound("no e-mail channel receives these recipients", field="to")
        html = [await self.blobs.put(mail.html.encode(), mime_type="text/html", filename="body.html")] \
            if mail.html else []
        media = [await self.blobs.put(a.data, mime_type=a.mime_type, filename=a.filename)
                 for a in mail.attachments]
        if html:
            html[0].kind = "html_body"
        items = []
        for ch in channels:
            try:
                await self.threads.record(ch.id, mail.message_id, mail.subject,
                                          mail.references or ([mail.in_reply_to] if mail.in_reply_to else []),
                                          "in")
            except Exception as exc:
                raise Transient(f"could not record the e-mail thread: {type(exc).__name__}") from exc
            items.append(email.to_inbound(ch.id, mail, [*media, *html]))
        await self.publisher.publish(items)
        return items


class CallEvents:
    """Call events from the voice webhook: the call's stage is recorded, then the events are published. Events
    of a call we placed (click-to-call: its provider id is in the delivery log) become ``CallProgress`` linked to
    the CRM's call record and its agent; the others are inbound calls for the router."""

    def __init__(self, calls: VoiceCalls, publisher: Publisher, deliveries: DeliveryLog) -> None:
        self.calls = calls
        self.publisher = publisher
        self.deliveries = deliveries

    async def ingest(self, items: list[InboundMessage]) -> dict[str, int]:
        """Raises: Transient (PostgreSQL or JetStream unavailable; the provider retries)."""
        rows = [(i.channel_id, i.extra["call_id"], i.contact_address, i.extra["call_event"]) for i in items]
        out: list[Contract] = []
        try:
            if rows:
                await self.calls.record(rows)
            for item in items:
                placed = await self.deliveries.find(item.channel_id, item.extra["call_id"])
                out.append(item if placed is None else _progress(item, placed))
        except Exception as exc:
            raise Transient(f"could not record the call: {type(exc).__name__}") from exc
        return await self.publisher.publish(out)


def _progress(item: InboundMessage, placed: dict[str, str | None]) -> CallProgress:
    duration = item.extra.get("duration_s")
    return CallProgress(channel_id=item.channel_id, call_id=placed["outbound_id"] or "",
                        provider_call_id=item.extra["call_id"], agent_id=placed["agent_id"],
                        stage=item.extra["call_event"], duration_s=int(duration) if duration else None,
                        cause=item.extra.get("cause"))


class CallPlacer:
    """Click-to-call: the channel's provider (Twilio when the channel has an ``account_sid``, else Asterisk ARI)
    rings the agent, then the contact. The provider's call id goes to the delivery log under the CRM's call id,
    which links the call's events back to it; placing the same call id again answers the first call."""

    def __init__(self, registry: ChannelRegistry, deliveries: DeliveryLog, ari: CallDialer, twilio: CallDialer
                 ) -> None:
        self.registry = registry
        self.deliveries = deliveries
        self.ari = ari
        self.twilio = twilio

    async def place(self, channel_id: str, call: PlaceCall) -> dict[str, Any]:
        """Raises: NotFound (channel), Invalid (not an active voice channel, agent without extension, provider
        refusal), Transient (provider unavailable)."""
        ch = await self.registry.get(channel_id)
        if ch.type != "voice":
            raise Invalid(f"channel {ch.id} is {ch.type}, not voice", field="channel_id")
        if not ch.active:
            raise Invalid(f"channel {ch.id} is inactive", field="channel_id")
        provider = "twilio" if ch.account_sid else "ari"
        sent = await self.deliveries.sent_ids(call.call_id)
        if not sent:
            await self.deliveries.begin(ch.id, call.call_id, idempotency_key(call.call_id))
            dialer = self.twilio if provider == "twilio" else self.ari
            sent = [await dialer.dial(ch, call)]
            await self.deliveries.record(ch.id, sent, call.call_id, None, call.agent_id)
            log.info("call_placed", channel_id=ch.id, call_id=call.call_id, provider=provider,
                     provider_call_id=sent[0])
        return {"call_id": call.call_id, "channel_id": ch.id, "provider": provider, "provider_call_id": sent[0]}


class CallConnector:
    """When the router assigns a voice conversation, ask the phone system to connect the caller's call in
    progress to the agent's extension."""

    def __init__(self, registry: ChannelRegistry, calls: VoiceCalls, ari: CallOriginator) -> None:
        self.registry = registry
        self.calls = calls
        self.ari = ari

    async def on_assigned(self, event: ConversationAssigned) -> None:
        if event.channel_type != "voice" or not event.agent_id:
            return
        ch = self.registry.cached(event.channel_id)
        if ch is None:
            log.info("assigned_call_unknown_channel", channel_id=event.channel_id)
            return
        call_id = await self.calls.active_call(ch.id, event.contact_address)
        if call_id is None:
            log.info("assigned_call_not_in_progress", channel_id=ch.id, conversation_id=event.conversation_id)
            return
        endpoint = await self.ari.connect_to_agent(ch, call_id, event.agent_id)
        log.info("call_connected_to_agent", call_id=call_id, agent_id=event.agent_id, endpoint=endpoint)


# The use case of each message type the consumers take (registered through ``libs.messaging.dispatch``):
# outbound commands go to the deliverer, assignments of calls to the call connector.
OUTBOUND_HANDLERS: dict[type[Contract], Callable[[Deliverer, Any], Awaitable[Any]]] = {
    OutboundMessage: Deliverer.deliver,
}
VOICE_HANDLERS: dict[type[Contract], Callable[[CallConnector, Any], Awaitable[None]]] = {
    ConversationAssigned: CallConnector.on_assigned,
}

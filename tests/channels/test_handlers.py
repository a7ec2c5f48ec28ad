"""The channels use cases on in-memory fakes (tests/channels/fakes.py): no server, milliseconds."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import ConversationAssigned, DeliveryStatus, InboundMessage, OutboundMessage
from libs.core.errors import Invalid, NotFound, Transient
from libs.messaging import dispatch
from services.channels.handlers import (
    OUTBOUND_HANDLERS,
    VOICE_HANDLERS,
    CallConnector,
    CallEvents,
    ChannelRegistry,
    Deliverer,
    Publisher,
)

from .fakes import (
    FakeChannels,
    FakeDeliveryLog,
    FakePhoneSystem,
    FakeProvider,
    FakeSnapshots,
    FakeStream,
    FakeUnitOfWork,
    FakeVoiceCalls,
)

WHATSAPP = {"id": "wa-1", "type": "whatsapp", "name": "Ventas", "phone_number_id": "123", "app_secret": "s3cret",
            "access_token": "tok"}


class World:
    def __init__(self) -> None:
        self.channels, self.snapshots, self.stream = FakeChannels(), FakeSnapshots(), FakeStream()
        self.log, self.provider, self.calls, self.phone = FakeDeliveryLog(), FakeProvider(), FakeVoiceCalls(), \
            FakePhoneSystem()
        self.registry = ChannelRegistry(self.channels, lambda: FakeUnitOfWork(self.channels), self.snapshots)
        self.publisher = Publisher(self.stream, self.log)
        self.deliverer = Deliverer(self.registry, self.log, {"whatsapp": self.provider}, self.publisher)


@pytest.fixture
def w() -> World:
    return World()


def outbound(**kw: Any) -> OutboundMessage:
    return OutboundMessage(**{"conversation_id": "conv-1", "channel_id": "wa-1", "channel_type": "whatsapp",
                              "to": "+5491100000001", "text": "Hola", "agent_id": "ana", **kw})


async def test_registry_writes_are_all_or_nothing(w: World) -> None:
    ch = await w.registry.create(WHATSAPP)
    assert w.registry.cached("wa-1") == ch and w.snapshots.bucket["wa-1"]["name"] == "Ventas"
    assert ch.masked()["app_secret"] == "********"
    with pytest.raises(Invalid) as bad:
        await w.registry.create({**WHATSAPP, "id": "wa-2", "app_secret": None})
    assert bad.value.field == "app_secret" and "wa-2" not in w.channels.rows
    # The KV bucket is down: the change is refused and PostgreSQL keeps the previous version.
    w.snapshots.down = True
    with pytest.raises(Transient):
        await w.registry.update("wa-1", {"name": "Renamed"})
    assert (await w.channels.get("wa-1")).name == "Ventas"  # type: ignore[union-attr]
    w.snapshots.down = False
    await w.registry.update("wa-1", {"name": "Renamed"})
    assert w.snapshots.bucket["wa-1"]["name"] == "Renamed" and w.registry.cached("wa-1").name == "Renamed"
    await w.registry.delete("wa-1")
    assert w.registry.cached("wa-1") is None and "wa-1" not in w.snapshots.bucket
    with pytest.raises(NotFound):
        await w.registry.delete("wa-1")


async def test_an_outbound_command_is_sent_once_and_reported_each_time(w: World) -> None:
    await w.registry.create(WHATSAPP)
    handle = dispatch(w.deliverer, OUTBOUND_HANDLERS)
    cmd = outbound()
    await handle(cmd)
    await handle(cmd)  # redelivered after a crash before the ack: not sent again
    assert w.provider.sent == [("+5491100000001", "Hola")]
    assert (w.log.sends[cmd.id]["state"], w.log.sends[cmd.id]["attempts"]) == ("sent", 1)
    [status] = [m for m in w.stream.messages if isinstance(m, DeliveryStatus)]
    assert (status.status, status.outbound_id, status.provider_message_id) == ("sent", cmd.id, "wamid.1")
    for bad, field in ((outbound(channel_type="sms"), "channel_type"), (outbound(text=None), "text")):
        with pytest.raises(Invalid) as refused:
            await w.deliverer.deliver(bad)
        assert refused.value.field == field
    with pytest.raises(NotFound):
        await w.deliverer.deliver(outbound(channel_id="ghost"))
    assert len(w.provider.sent) == 1


async def test_published_items_are_deduplicated_and_statuses_carry_our_ids(w: World) -> None:
    await w.registry.create(WHATSAPP)
    await w.deliverer.deliver(outbound())
    inbound = InboundMessage(channel_id="wa-1", channel_type="whatsapp", contact_address="+5491100000001",
                             provider_message_id="wamid.in", text="hola")
    read = DeliveryStatus(channel_id="wa-1", provider_message_id="wamid.1", status="read")
    counts = await w.publisher.publish([inbound, inbound, read])
    assert counts == {"messages": 1, "statuses": 1, "duplicates": 0}
    assert (read.conversation_id, read.agent_id) == ("conv-1", "ana")  # enriched from what we sent
    again = await w.publisher.publish([inbound])
    assert again["duplicates"] == 1


async def test_an_assigned_call_is_connected_to_the_agent(w: World) -> None:
    await w.registry.create({"id": "vo-1", "type": "voice", "auth_token": "t"})
    connector = CallConnector(w.registry, w.calls, w.phone)
    handle = dispatch(connector, VOICE_HANDLERS)
    events = CallEvents(w.calls, w.publisher, w.log)
    call = InboundMessage(channel_id="vo-1", channel_type="voice", contact_address="+34600111222",
                          provider_message_id="call-1:ringing", kind="call",
                          extra={"call_id": "call-1", "call_event": "ringing"})
    assert (await events.ingest([call]))["messages"] == 1

    def assigned(channel_type: str = "voice", contact: str = "+34600111222") -> ConversationAssigned:
        return ConversationAssigned(conversation_id="c1", seq=3, channel_id="vo-1", channel_type=channel_type,
                                    contact_address=contact, agent_id="ana", campaign_id="camp")

    await handle(assigned(contact="+34999999999"))  # no call in progress from that number
    await handle(assigned(channel_type="whatsapp"))  # not a call
    assert w.phone.connected == []
    await handle(assigned())
    assert w.phone.connected == [("call-1", "ana")]

"""CRM conversation use cases on the in-memory unit of work (tests/crm/fakes.py): the router's events and a closure
through the campaign's rules, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.contracts import (
    CampaignSnapshot,
    CloseConversation,
    ConversationClosed,
    ConversationMessage,
    ConversationOpened,
    ConversationQueued,
    CustomField,
    Typification,
)
from libs.core.errors import Conflict, Forbidden, Invalid, Transient
from services.crm.domain.contacts import address_of_channel
from services.crm.handlers import Actor, conversations

from .fakes import fake_crm

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ANA, BRUNO = Actor("ana", "agent", frozenset({"k"})), Actor("bruno", "agent", frozenset({"k"}))
PHONE = "+5491144440000"


def _campaign() -> CampaignSnapshot:
    return CampaignSnapshot(id="k", name="Ventas", agents=["ana", "bruno"], supervisors=["sofia"],
                            typifications=[Typification(id="sale", category="Venta")], closing_typifications=["sale"],
                            custom_fields=[CustomField(key="amount", label="Monto", type="number", required=True)])


class RefusingPublisher:
    async def publish(self, msg: Any) -> None:
        raise Transient("the router cannot be told")


async def test_a_closure_goes_through_the_campaigns_rules_and_writes_all_of_it_or_nothing() -> None:
    crm, state = fake_crm()
    crm.campaigns.put(_campaign())
    state.contacts["c1"] = {"id": "c1", "name": "Ana", "last_activity_at": T0, "disposition": None}
    state.conversations["cv"] = {"id": "cv", "campaign_id": "k", "channel_id": "wa", "channel_type": "whatsapp",
                                 "contact_address": PHONE, "contact_id": "c1", "match_state": "linked",
                                 "agent_id": "ana", "status": "assigned", "last_seq": 2, "opened_at": T0,
                                 "closed_at": None}
    before = {"conversations": repr(state.conversations), "contacts": repr(state.contacts)}

    def untouched() -> bool:
        return (state.closures == {} and repr(state.conversations) == before["conversations"]
                and repr(state.contacts) == before["contacts"] and crm.publisher.sent == [])  # type: ignore[attr-defined]

    with pytest.raises(Forbidden) as other_agent:
        await conversations.close(crm, "cv", {"typification_id": "sale", "fields": {"amount": 5}}, BRUNO)
    assert other_agent.value.field == "actor" and untouched()
    with pytest.raises(Invalid) as missing:
        await conversations.close(crm, "cv", {"typification_id": "sale"}, ANA)
    assert "fields.amount" in str(missing.value.to_dict()) and untouched()
    with pytest.raises(Conflict):  # the campaign closes only what somebody replied to
        await conversations.close(crm, "cv", {"typification_id": "sale", "fields": {"amount": 5}}, ANA)
    assert untouched()
    state.messages["m1"] = {"id": "m1", "conversation_id": "cv", "direction": "out", "kind": "text", "text": "hola",
                            "media": [], "provider_message_id": None, "seq": 3, "occurred_at": T0}
    publisher, crm.publisher = crm.publisher, RefusingPublisher()  # type: ignore[assignment]
    with pytest.raises(Transient):
        await conversations.close(crm, "cv", {"typification_id": "sale", "fields": {"amount": 5}}, ANA)
    crm.publisher = publisher
    assert untouched()

    closed = await conversations.close(crm, "cv", {"typification_id": "sale", "fields": {"amount": 5}}, ANA)
    assert closed["status"] == "closed" and closed["closure"]["typification_id"] == "sale"
    assert closed["closure"]["closed_by"] == "ana" and closed["closure"]["source"] == "crm"
    assert state.contacts["c1"]["disposition"] == "sale" and state.contacts["c1"]["last_activity_at"] > T0
    [told] = crm.publisher.sent  # type: ignore[attr-defined]
    assert isinstance(told, CloseConversation)
    assert (told.agent_id, told.conversation_id, told.typification_id, told.fields) == ("ana", "cv", "sale",
                                                                                     {"amount": 5})
    with pytest.raises(Conflict) as again:
        await conversations.close(crm, "cv", {"typification_id": "sale", "fields": {"amount": 5}}, ANA)
    assert again.value.field == "conversation_id" and len(crm.publisher.sent) == 1  # type: ignore[attr-defined]


async def test_router_events_are_kept_once_link_the_one_contact_and_queue_the_webhooks_that_want_them() -> None:
    crm, state = fake_crm()
    crm.campaigns.put(_campaign())
    address = address_of_channel("whatsapp", PHONE, "AR")
    assert address is not None
    state.contacts["c1"] = {"id": "c1", "name": "Ana", "last_activity_at": None, "disposition": None}
    state.addresses.append(("c1", address.kind, address.value, address.network))
    state.webhooks.append({"id": "h1", "campaign_id": "k", "events": ["conversation.closed"], "active": True})
    common = {"conversation_id": "cv", "campaign_id": "k", "channel_id": "wa", "channel_type": "whatsapp",
              "contact_address": PHONE}

    await conversations.on_event(crm, ConversationOpened(**common, seq=1, occurred_at=T0))
    conv = state.conversations["cv"]
    assert (conv["contact_id"], conv["match_state"], conv["status"]) == ("c1", "linked", "opened")
    message = ConversationMessage(**common, agent_id="ana", seq=3, message_id="m1", text="hola", direction="in",
                                  occurred_at=T0 + timedelta(minutes=1))
    await conversations.on_event(crm, message)
    await conversations.on_event(crm, message)  # redelivered: nothing changes
    assert list(state.messages) == ["m1"] and state.contacts["c1"]["last_activity_at"] == message.occurred_at
    assert state.deliveries == []  # the webhook wants closures only

    closed = ConversationClosed(**common, agent_id="ana", seq=4, reason="agent", typification_id="sale",
                                fields={"amount": 5}, occurred_at=T0 + timedelta(minutes=2))
    await conversations.on_event(crm, closed)
    await conversations.on_event(crm, ConversationQueued(**common, seq=2, occurred_at=T0))  # late and older
    assert state.conversations["cv"]["status"] == "closed" and state.conversations["cv"]["agent_id"] == "ana"
    assert state.closures["cv"]["source"] == "event" and state.contacts["c1"]["disposition"] == "sale"
    assert [(d["webhook_id"], d["event_type"], d["payload"]["data"]["typification_id"]) for d in state.deliveries] \
        == [("h1", "conversation.closed", "sale")]
    await conversations.on_event(crm, closed)  # redelivered: queued once
    assert len(state.deliveries) == 1

    state.addresses.append(("c2", address.kind, address.value, address.network))
    await conversations.on_event(crm, ConversationOpened(**{**common, "conversation_id": "cv2"}, seq=1,
                                                         occurred_at=T0))
    assert (state.conversations["cv2"]["contact_id"], state.conversations["cv2"]["match_state"]) == (None, "several")

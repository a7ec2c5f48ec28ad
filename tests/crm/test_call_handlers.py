"""Click-to-call on the in-memory unit of work (tests/crm/fakes.py): the number behind a masked one, the
campaign's voice channel, and a call the phone system refused leaving no record; no server. The HTTP, the
channels service and PostgreSQL are in tests/crm/test_calls.py."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import CampaignSnapshot
from libs.contracts.campaigns import CallCharges, ChannelRef
from libs.core.errors import Invalid, NotFound, Transient
from services.crm.handlers import Actor, calls

from .fakes import fake_crm

ANA = Actor("ana", "agent", frozenset({"k"}))
NUMBER = "+5491144445555"


class PhoneSystem:
    """``CallPlacer``: rings the agent, then the number; refuses with ``refusal`` when given."""

    def __init__(self, refusal: Exception | None = None) -> None:
        self.refusal, self.placed = refusal, []  # type: ignore[var-annotated]

    async def place(self, channel_id: str, call_id: str, to: str, agent_id: str) -> dict[str, Any]:
        if self.refusal is not None:
            raise self.refusal
        self.placed.append((channel_id, call_id, to, agent_id))
        return {"provider": "twilio", "provider_call_id": f"CA{len(self.placed)}"}


def _crm(voice: PhoneSystem | None, *channels: str) -> tuple[Any, Any]:
    crm, state = fake_crm()
    crm.voice = voice
    crm.campaigns.put(CampaignSnapshot(id="k", name="Cobranzas", agents=["ana"],
                                       channels=[ChannelRef(id=c, type="voice") for c in channels],
                                       call_charges=CallCharges(rate=10, per="second", currency="col")))
    state.contacts["p1"] = {"id": "p1", "name": "Pía", "phones": [{"number": NUMBER, "raw": "011 4444-5555"}]}
    state.addresses.append(("p1", "phone", NUMBER, ""))
    return crm, state


async def test_a_click_rings_through_the_campaign_s_voice_channel_with_the_number_behind_the_mask() -> None:
    phone = PhoneSystem()
    crm, state = _crm(phone, "voz-1", "voz-2")
    call = await calls.dial(crm, {"phone": "+54911••••5555", "campaign_id": "k", "contact_id": "p1"}, ANA)
    assert phone.placed == [("voz-1", call["id"], NUMBER, "ana")]  # the first voice channel, the whole number
    assert (call["status"], call["provider_call_id"], call["contact_id"]) == ("dialing", "CA1", "p1")
    assert call["charges"] == {"amount": 0, "currency": "col", "rate": 10.0, "per": "second"}
    assert [(a["entity"], a["action"]) for a in state.audit] == [("call", "created")]
    # A number typed whole finds its contact by itself; the channel may be chosen among the campaign's.
    other = await calls.dial(crm, {"phone": "+54 9 11 4444-5555", "campaign_id": "k", "channel_id": "voz-2"}, ANA)
    assert (other["contact_id"], phone.placed[-1][0]) == ("p1", "voz-2")


async def test_a_campaign_without_a_voice_channel_records_a_manual_call() -> None:
    crm, state = _crm(None)
    call = await calls.dial(crm, {"phone": NUMBER, "campaign_id": "k"}, ANA)
    assert (call["status"], call["channel_id"]) == ("manual", None) and list(state.calls) == [call["id"]]


@pytest.mark.parametrize(("body", "actor", "error", "field"), [
    ({"phone": NUMBER, "campaign_id": "k"}, Actor(), Invalid, "agent_id"),  # a service places no call
    ({"phone": NUMBER, "campaign_id": "nope"}, ANA, NotFound, "campaign_id"),
    ({"phone": NUMBER, "campaign_id": "k", "channel_id": "wa"}, ANA, Invalid, "channel_id"),
    ({"phone": "+54911••••5555", "campaign_id": "k"}, ANA, Invalid, "phone"),  # masked, no contact
    ({"phone": "+54911••••9999", "campaign_id": "k", "contact_id": "p1"}, ANA, Invalid, "phone"),  # not hers
    ({"phone": "12", "campaign_id": "k"}, ANA, Invalid, "phone"),
    ({"phone": NUMBER, "campaign_id": "k", "contact_id": "ghost"}, ANA, NotFound, "contact_id"),
    ({"phone": NUMBER, "campaign_id": "k", "ring": True}, ANA, Invalid, "ring"),
])
async def test_a_refused_call_names_its_field_and_rings_nobody(body: dict[str, Any], actor: Actor,
                                                              error: type[Exception], field: str) -> None:
    phone = PhoneSystem()
    crm, state = _crm(phone, "voz-1")
    with pytest.raises(error) as refused:
        await calls.dial(crm, body, actor)
    assert refused.value.field == field  # type: ignore[attr-defined]
    assert phone.placed == [] and state.calls == {} and state.audit == []


async def test_a_call_the_phone_system_refused_leaves_no_record() -> None:
    crm, state = _crm(PhoneSystem(Invalid("the extension of ana is not registered", field="agent_id")), "voz-1")
    with pytest.raises(Invalid) as refused:
        await calls.dial(crm, {"phone": NUMBER, "campaign_id": "k"}, ANA)
    assert refused.value.field == "agent_id" and state.calls == {} and state.audit == []
    crm.voice = None  # a voice channel, but no channels service to reach it
    with pytest.raises(Transient):
        await calls.dial(crm, {"phone": NUMBER, "campaign_id": "k"}, ANA)
    assert state.calls == {}

"""Seed 002 "Envío de Transcripciones" and "Notificación de Transferencia" through the gateway and the real CRM,
each on and off: the router's events are published as the router does, the e-mails are read where channels
would take them (``sb.outbound.email.<channel>.<key>``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from libs.contracts import (
    ConversationAssigned,
    ConversationClosed,
    ConversationMessage,
    ConversationOpened,
    ConversationTransferred,
    new_id,
)
from libs.messaging import publish
from services.crm.keys import CRM

from .options_kit import Options, make_options
from .test_console_browser import eventually
from .test_crm_facade import call


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


class Mailbox:
    """What the CRM sends through one e-mail channel."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def got(self, msg: Any) -> None:
        self.sent.append(json.loads(msg.data))

    async def wait(self, count: int) -> list[dict[str, Any]]:
        for _ in range(100):
            if len(self.sent) >= count:
                break
            await asyncio.sleep(0.05)
        return self.sent


async def conversation(js: Any, o: Any, unique: str, phone: str, *, replied: bool = True) -> tuple[str, list[Any]]:
    cid = f"conv-{unique}-{new_id()[:6]}"
    base = {"conversation_id": cid, "campaign_id": o.camp, "channel_id": f"wa-{unique}", "channel_type": "whatsapp",
            "contact_address": phone}
    events: list[Any] = [ConversationOpened(**base, seq=1),
                         ConversationAssigned(**base, agent_id=o.users["a1"], seq=2),
                         ConversationMessage(**base, seq=3, direction="in", message_id=new_id(),
                                             text="Hola, mi factura")]
    if replied:
        events.append(ConversationMessage(**base, seq=4, direction="out", message_id=new_id(),
                                          agent_id=o.users["a1"], text="Se la envío hoy"))
    for ev in events:
        await publish(js, ev)
    return cid, [*events, ConversationClosed(**base, seq=9, agent_id=o.users["a1"], typification_id="paid")]


async def test_transcript_is_emailed_to_the_contact_at_close(crm_gw, opts, nats_js, unique, real_crm):
    o = opts.office
    nc, js = nats_js
    admin = o.tokens["admin"]
    mail = f"mail-{unique}"
    mailbox = Mailbox()
    sub = await nc.subscribe(f"sb.outbound.email.{mail}.>", cb=mailbox.got)
    await nc.flush()  # subscribed at the server before anything is published
    try:
        contact = await call(crm_gw, admin, "GET", f"/contacts/{o.contacts[0]}")
        phone = contact["phones"][0]["number"]
        await call(crm_gw, admin, "PATCH", f"/contacts/{o.contacts[0]}", {"emails": [f"cli.{unique}@cliente.test"]})
        await opts.set(channels=[{"id": mail, "type": "email"}], case_options={"send_transcripts": True})
        cid, events = await conversation(js, o, unique, phone)
        await publish(js, events[-1])
        sent = await mailbox.wait(1)
        assert len(sent) == 1 and sent[0]["to"] == f"cli.{unique}@cliente.test"
        assert "Cliente: Hola, mi factura" in sent[0]["text"] and "Agente: Se la envío hoy" in sent[0]["text"]
        conv = await eventually_closed(crm_gw, admin, cid)
        assert conv["transcript"]["status"] == "sent"
        # A redelivered close sends nothing again.
        await real_crm.app[CRM].publisher.publish(events[-1].model_copy(update={"id": new_id()}))

        await opts.set(case_options={"send_transcripts": False})
        off, events = await conversation(js, o, unique, phone)
        await publish(js, events[-1])
        conv = await eventually_closed(crm_gw, admin, off)
        assert conv["transcript"] is None
        await asyncio.sleep(0.3)
        assert len(mailbox.sent) == 1
    finally:
        await sub.unsubscribe()


async def eventually_closed(crm_gw: Any, token: str, cid: str) -> dict[str, Any]:
    for _ in range(100):
        resp = await crm_gw.get(f"/api/v1/cases/{cid}", headers={"Authorization": f"Bearer {token}"})
        if resp.status == 200:
            conv = await resp.json()
            if conv["status"] == "closed":
                return conv
        await asyncio.sleep(0.05)
    raise AssertionError(f"conversation {cid} never closed in the CRM")


async def test_transfer_notification_emails_the_receiving_agent(crm_gw, opts, nats_js, unique, real_crm):
    o = opts.office
    nc, js = nats_js
    admin, sup = o.tokens["admin"], o.tokens["sup"]
    mail = f"mail-{unique}"
    mailbox = Mailbox()
    sub = await nc.subscribe(f"sb.outbound.email.{mail}.>", cb=mailbox.got)
    await nc.flush()  # subscribed at the server before anything is published
    crm = real_crm.app[CRM]
    try:
        await call(crm_gw, admin, "PATCH", f"/users/{o.users['a2']}", {"email": f"Beto.{unique}@Empresa.test"})
        await eventually(lambda: (crm.users.get(o.users["a2"]) or {}).get("email"), "the CRM learned the e-mail")
        await opts.set(channels=[{"id": mail, "type": "email"}], case_options={"transfer_notification": True})
        cid, _ = await conversation(js, o, unique, "+34600000000")
        base = {"conversation_id": cid, "campaign_id": o.camp, "channel_id": f"wa-{unique}", "channel_type": "whatsapp",
                "contact_address": "+34600000000"}
        await publish(js, ConversationTransferred(**base, seq=5, agent_id=o.users["a2"], from_agent_id=o.users["a1"],
                                                  to_agent_id=o.users["a2"]))
        sent = await mailbox.wait(1)
        assert sent[0]["to"] == f"beto.{unique}@empresa.test" and cid in sent[0]["text"]
        # A case handed to another agent by a supervisor: that agent is told too.
        case = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[0],
                                                                 "assigned_user": o.users["a1"], "title": "Deuda"},
                          status=201)
        await call(crm_gw, sup, "PATCH", f"/work-items/{case['id']}", {"assigned_user": o.users["a2"]})
        sent = await mailbox.wait(2)
        assert "Deuda" in sent[1]["text"] and sent[1]["to"] == f"beto.{unique}@empresa.test"

        await opts.set(case_options={"transfer_notification": False})
        await call(crm_gw, sup, "PATCH", f"/work-items/{case['id']}", {"assigned_user": o.users["a1"]})
        await call(crm_gw, sup, "PATCH", f"/work-items/{case['id']}", {"assigned_user": o.users["a2"]})
        await publish(js, ConversationTransferred(**base, seq=6, agent_id=o.users["a2"], to_agent_id=o.users["a2"]))
        await asyncio.sleep(0.5)
        assert len(mailbox.sent) == 2
    finally:
        await sub.unsubscribe()

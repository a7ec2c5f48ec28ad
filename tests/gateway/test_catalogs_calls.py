"""Seed 001 through the gateway against the real CRM: a campaign's disposition catalog and its follow-up rules,
ticket forms as typed fields on action types, call charges at the campaign's rate (on and off) and the call's
comment e-mailed with CC/BCC, an attachment and the charges."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from .conftest import bearer
from .options_kit import Options, action_types, make_options
from .test_crm_facade import call


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def test_dispositions_with_follow_ups(crm_gw, opts, unique):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    (visit,) = await action_types(crm_gw, admin, "Visita técnica")
    base = f"/dispositions/{o.camp}"
    # Only admins write the catalog; a follow-up names a real action type.
    await call(crm_gw, a1, "POST", base, {"name": "Venta"}, status=403)
    err = await call(crm_gw, admin, "POST", base, {"name": "Visita", "follow_up": {"kind": "ticket_action",
                                                                                    "action_type_id": "nope"}}, 400)
    assert err["error"]["field"] == "follow_up.action_type_id"
    err = await call(crm_gw, admin, "POST", base, {"name": "Visita", "follow_up": {"kind": "ticket_action"}}, 400)
    assert err["error"]["field"] == "follow_up.action_type_id"
    await call(crm_gw, admin, "POST", base, {"id": "sale", "name": "Venta"}, status=201)
    await call(crm_gw, admin, "POST", base, {"id": "later", "name": "Volver a llamar",
                                             "follow_up": {"kind": "callback", "after_minutes": 120}}, status=201)
    await call(crm_gw, admin, "POST", base, {"id": "tech", "name": "Falla técnica", "position": 3,
                                             "follow_up": {"kind": "ticket_action", "action_type_id": visit,
                                                           "after_minutes": 60, "note": "Visitar al cliente"}},
               status=201)
    err = await call(crm_gw, admin, "POST", base, {"id": "dup", "name": "venta"}, status=409)
    assert err["error"]["field"] == "name"
    listed = await call(crm_gw, a1, "GET", base)
    assert [d["id"] for d in listed["items"]] == ["sale", "later", "tech"]  # by position, then name
    # An agent of another campaign does not read it.
    other = await opts.other_campaign("x", agents=[o.users["a2"]])
    await call(crm_gw, a1, "GET", f"/dispositions/{other.id}", status=403)

    async def a_call() -> str:
        made = await call(crm_gw, a1, "POST", "/calls", {"direction": "in", "phone": "+34 910 000 002",
                                                         "contact_id": o.contacts[0], "agent_id": o.users["a1"],
                                                         "campaign_id": o.camp}, status=201)
        return made["id"]

    # A disposition outside the catalog: 400 naming it, nothing saved.
    first = await a_call()
    err = await call(crm_gw, a1, "PUT", f"/calls/{first}/classification", {"disposition": "paid"}, status=400)
    assert err["error"]["field"] == "disposition"
    assert (await call(crm_gw, a1, "GET", f"/calls/{first}"))["disposition"] is None
    saved = await call(crm_gw, a1, "PUT", f"/calls/{first}/classification", {"disposition": "sale"})
    assert saved["disposition"] == "sale" and saved["follow_up"] is None

    # "Volver a llamar": a callback for the agent two hours later.
    second = await a_call()
    saved = await call(crm_gw, a1, "PUT", f"/calls/{second}/classification", {"disposition": "later"})
    assert saved["follow_up"]["kind"] == "callback"
    cb = await call(crm_gw, a1, "GET", f"/callbacks/{saved['follow_up']['callback_id']}")
    due = datetime.fromisoformat(cb["due_at"])
    assert cb["owner_id"] == o.users["a1"] and timedelta(minutes=115) < due - datetime.now(UTC) < timedelta(minutes=121)

    # "Falla técnica": a ticket with a pending action of the catalog's type.
    third = await a_call()
    saved = await call(crm_gw, a1, "PUT", f"/calls/{third}/classification", {"disposition": "tech"})
    ticket = await call(crm_gw, a1, "GET", f"/tickets/{saved['follow_up']['ticket_id']}")
    assert ticket["subject"] == "Visitar al cliente" and ticket["pending"] is True
    assert [(a["kind"], a["status"]) for a in ticket["actions"]] == [(visit, "pending")]
    # The action type is in use now: its deletion is refused naming what needs it.
    err = await call(crm_gw, admin, "DELETE", f"/action-types/{visit}", status=409)
    assert set(err["error"]["details"]) == {"dispositions", "tickets"}


async def test_ticket_forms_are_typed(crm_gw, opts, unique):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    form = {"id": f"venta-{unique}", "name": f"Contacto ventas {unique}", "fields": [
        {"key": "interes", "label": "Interesado en", "type": "select", "options": ["Internet", "CRM"],
         "required": True},
        {"key": "lineas", "label": "Líneas", "type": "number"},
        {"key": "fecha", "label": "Fecha de visita", "type": "date"}]}
    err = await call(crm_gw, admin, "POST", "/ticket-forms", {**form, "fields": [{"key": "x", "label": "X",
                                                                                   "type": "select"}]}, 400)
    assert err["error"]["field"] == "fields[0].options"
    await call(crm_gw, a1, "POST", "/ticket-forms", form, status=403)
    await call(crm_gw, admin, "POST", "/ticket-forms", form, status=201)
    (kind,) = await action_types(crm_gw, admin, "Reporte contacto ventas", form_id=form["id"])
    ticket = {"contact_id": o.contacts[0], "subject": "Cliente nuevo", "agent_id": o.users["a1"]}
    for values, field in (({"interes": "Fax"}, "actions[0].forms.interes"),
                          ({"interes": "CRM", "lineas": "tres"}, "actions[0].forms.lineas"),
                          ({"interes": "CRM", "fecha": "31/12/2030"}, "actions[0].forms.fecha"),
                          ({"lineas": 2}, "actions[0].forms.interes"),
                          ({"interes": "CRM", "otro": 1}, "actions[0].forms.otro")):
        err = await call(crm_gw, a1, "POST", "/tickets", {**ticket, "actions": [{"kind": kind, "forms": values}]}, 400)
        assert err["error"]["field"] == field, (values, err)
    made = await call(crm_gw, a1, "POST", "/tickets", {**ticket, "actions": [
        {"kind": kind, "forms": {"interes": "CRM", "lineas": 3, "fecha": "2030-12-31"}}]}, status=201)
    assert made["actions"][0]["forms"] == {"interes": "CRM", "lineas": 3, "fecha": "2030-12-31"}
    # Done through /api/v1: the action is updated, then the ticket closes.
    action = made["actions"][0]["id"]
    err = await call(crm_gw, a1, "PATCH", f"/actions/{action}", {"forms": {"interes": 7}}, status=400)
    assert err["error"]["field"] == "forms.interes"
    await call(crm_gw, a1, "PATCH", f"/actions/{action}", {"status": "done", "comment": "Visitado"})
    closed = await call(crm_gw, a1, "PATCH", f"/tickets/{made['id']}", {"status": "closed"})
    assert closed["status"] == "closed"


async def test_call_charges_and_the_comment_email(crm_gw, opts, nats_js, unique):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    nc = nats_js[0]
    mail = f"mail-{unique}"
    await call(crm_gw, admin, "PATCH", f"/contacts/{o.contacts[0]}", {"emails": [f"cli.{unique}@cliente.test"]})
    made = await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": "+34 910 000 003",
                                                     "contact_id": o.contacts[0], "agent_id": o.users["a1"],
                                                     "campaign_id": o.camp, "duration_s": 19}, status=201)
    path = f"/calls/{made['id']}"

    await opts.set(channels=[{"id": mail, "type": "email"}], call_charges={"rate": 0})
    assert (await call(crm_gw, a1, "GET", path))["charges"] is None
    err = await call(crm_gw, a1, "PUT", f"{path}/classification", {"disposition": "paid", "comment": "x",
                                                                  "email": {"charges": True}}, status=400)
    assert err["error"]["field"] == "email.charges"

    await opts.set(call_charges={"rate": 10, "per": "second", "currency": "col"})
    charged = await call(crm_gw, a1, "GET", path)
    assert charged["charges"] == {"amount": 190, "currency": "col", "rate": 10, "per": "second"}

    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 factura", filename="factura.pdf", content_type="application/pdf")
    resp = await crm_gw.post(f"/api/v1{path}/attachments", data=form, headers=bearer(a1))
    attachment = await resp.json()
    assert resp.status == 201, attachment
    sent: list[dict[str, Any]] = []

    async def got(msg: Any) -> None:
        sent.append(json.loads(msg.data))

    sub = await nc.subscribe(f"sb.outbound.email.{mail}.>", cb=got)
    await nc.flush()
    try:
        err = await call(crm_gw, a1, "PUT", f"{path}/classification", {"disposition": "paid", "comment": "x",
                                                                      "email": {"attachments": ["ghost"]}}, status=400)
        assert err["error"]["field"] == "email.attachments[0]"
        saved = await call(crm_gw, a1, "PUT", f"{path}/classification", {
            "disposition": "paid", "comment": "Le envío la factura.",
            "email": {"cc": [f"cli.{unique}@cliente.test"], "bcc": [], "charges": True,
                      "attachments": [attachment["id"]]}})
        assert saved["email"]["attachments"] == ["factura.pdf"], saved
        assert saved["email"]["channel_id"] == mail, saved
        for _ in range(50):
            if sent:
                break
            await asyncio.sleep(0.05)
        assert sent, saved
        mailed = sent[0]
        assert mailed["to"] == f"cli.{unique}@cliente.test" and mailed["cc"] == [f"cli.{unique}@cliente.test"]
        assert "Le envío la factura." in mailed["text"] and "Cargos de la llamada: 190 col" in mailed["text"]
        assert mailed["media"][0]["filename"] == "factura.pdf" and mailed["media"][0]["url"].startswith("blob:")
        # Without the box ticked the charges stay out of the e-mail.
        again = await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": "+34 910 000 003",
                                                          "contact_id": o.contacts[0], "agent_id": o.users["a1"],
                                                          "campaign_id": o.camp, "duration_s": 5}, status=201)
        await call(crm_gw, a1, "PUT", f"/calls/{again['id']}/classification",
                   {"disposition": "paid", "comment": "Sin cargos", "email": {}})
        for _ in range(50):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.05)
        assert sent[1]["text"] == "Sin cargos"
    finally:
        await sub.unsubscribe()

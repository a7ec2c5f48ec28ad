"""Seed 002 case options through the gateway against the real CRM, each on and off: closing without a work
record or without the customer's information, combining cases, mass close by agents, autocomplete, replies to
other contacts' data and only the campaign's own channels."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from libs.contracts import ConversationAssigned, ConversationOpened
from libs.messaging import publish

from .conftest import bearer
from .options_kit import Options, make_options
from .test_crm_facade import call


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def item(crm_gw: Any, o: Any, contact: str, who: str | None = "a1") -> str:
    body = {"campaign_id": o.camp, "contact_id": contact}
    if who:
        body["assigned_user"] = o.users[who]
    return (await call(crm_gw, o.tokens["admin"], "POST", "/work-items", body, status=201))["id"]


async def test_closing_without_work_record_or_customer_info(crm_gw, opts):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    finish = {"finish": True, "result": "paid", "fields": {}}
    await opts.set(case_options={"close_without_work_record": False, "close_without_customer_info": False})

    bare = await item(crm_gw, o, o.contacts[0])
    err = await call(crm_gw, a1, "POST", f"/work-items/{bare}/save", finish, status=409)
    assert err["error"]["field"] == "comment"
    assert (await call(crm_gw, a1, "GET", f"/work-items/{bare}"))["status"] == "open"  # nothing written
    # A comment in the same save, or one saved before, is a work record.
    await call(crm_gw, a1, "POST", f"/work-items/{bare}/save", {"comment": "Llamé, no contesta"})
    assert (await call(crm_gw, a1, "POST", f"/work-items/{bare}/save", finish))["case"]["status"] == "closed"

    nameless = (await call(crm_gw, admin, "POST", "/contacts", {"phones": ["+34 655 000 123"]}, status=201))["id"]
    anon = await item(crm_gw, o, nameless)
    err = await call(crm_gw, a1, "POST", f"/work-items/{anon}/save", {**finish, "comment": "hecho"}, status=409)
    assert err["error"]["field"] == "contact_id"

    await opts.set(case_options={"close_without_work_record": True, "close_without_customer_info": True})
    assert (await call(crm_gw, a1, "POST", f"/work-items/{anon}/save", finish))["case"]["status"] == "closed"
    other = await item(crm_gw, o, o.contacts[1])
    assert (await call(crm_gw, a1, "POST", f"/work-items/{other}/save", finish))["case"]["status"] == "closed"


async def test_combining_cases_keeps_the_history(crm_gw, opts):
    o = opts.office
    a1 = o.tokens["a1"]
    keep, merge = await item(crm_gw, o, o.contacts[0]), await item(crm_gw, o, o.contacts[0])
    elsewhere = await item(crm_gw, o, o.contacts[1])
    await call(crm_gw, a1, "POST", f"/work-items/{merge}/comments", {"text": "Pidió la factura"}, status=201)

    await opts.set(case_options={"combine_cases": False})
    err = await call(crm_gw, a1, "POST", f"/work-items/{keep}/combine", {"case_id": merge}, status=403)
    assert err["error"]["field"] == "case_id"

    await opts.set(case_options={"combine_cases": True})
    err = await call(crm_gw, a1, "POST", f"/work-items/{keep}/combine", {"case_id": elsewhere}, status=409)
    assert err["error"]["field"] == "case_id"
    err = await call(crm_gw, a1, "POST", f"/work-items/{keep}/combine", {"case_id": keep}, status=400)
    assert err["error"]["field"] == "case_id"
    combined = await call(crm_gw, a1, "POST", f"/work-items/{keep}/combine", {"case_id": merge})
    comment = [e for e in combined["history"] if e["kind"] == "comment"]
    assert comment and comment[0]["body"] == "Pidió la factura" and comment[0]["data"]["combined_from"] == merge
    gone = await call(crm_gw, a1, "GET", f"/work-items/{merge}")
    assert gone["status"] == "closed" and gone["combined_into"] == keep


async def test_mass_close_by_agents(crm_gw, opts):
    o = opts.office
    a1, sup = o.tokens["a1"], o.tokens["sup"]
    mine = [await item(crm_gw, o, o.contacts[i]) for i in (0, 1)]
    theirs = await item(crm_gw, o, o.contacts[2], "a2")
    body = {"result": "paid", "comment": "Cierre masivo"}

    await opts.set(case_options={"mass_close_by_agents": False})
    got = await call(crm_gw, a1, "POST", "/work-items/close", {**body, "case_ids": mine}, status=207)
    assert [r["error"]["field"] for r in got["results"]] == ["case_ids[0]", "case_ids[1]"]
    assert (await call(crm_gw, a1, "GET", f"/work-items/{mine[0]}"))["status"] == "open"

    await opts.set(case_options={"mass_close_by_agents": True})
    got = await call(crm_gw, a1, "POST", "/work-items/close", {**body, "case_ids": [*mine, theirs]}, status=207)
    assert [r["outcome"] for r in got["results"]] == ["closed", "closed", "error"]
    assert (await call(crm_gw, a1, "GET", f"/work-items/{mine[1]}"))["result"] == "paid"
    # Staff close anyone's, whatever the option; a result the campaign does not allow is refused per case.
    await opts.set(case_options={"mass_close_by_agents": False})
    got = await call(crm_gw, sup, "POST", "/work-items/close", {"result": "other-camp", "comment": "x",
                                                                "case_ids": [theirs]}, status=207)
    assert got["results"][0]["error"]["field"] == "result"
    got = await call(crm_gw, sup, "POST", "/work-items/close", {**body, "case_ids": [theirs]}, status=200)
    assert got["results"] == [{"case_id": theirs, "outcome": "closed"}]
    err = await call(crm_gw, sup, "POST", "/work-items/close", {**body, "case_ids": [theirs, theirs]}, status=400)
    assert err["error"]["field"] == "case_ids"


async def test_autocomplete_prefills_from_the_latest_closure(crm_gw, opts, nats_js, unique):
    o = opts.office
    a1 = o.tokens["a1"]
    first = await item(crm_gw, o, o.contacts[0])
    await call(crm_gw, a1, "POST", f"/work-items/{first}/save",
               {"finish": True, "result": "promise", "fields": {"amount": 75}, "comment": "Promete pagar"})
    second = await item(crm_gw, o, o.contacts[0])

    # A conversation of the same contact (as the router reports it), for the conversation's closing form.
    _, js = nats_js
    phone = (await call(crm_gw, o.tokens["admin"], "GET", f"/contacts/{o.contacts[0]}"))["phones"][0]["number"]
    cid = f"conv-ac-{unique}"
    await publish(js, ConversationOpened(conversation_id=cid, campaign_id=o.camp, channel_id=f"wa-{unique}",
                                         channel_type="whatsapp", contact_address=phone, seq=1))
    await publish(js, ConversationAssigned(conversation_id=cid, campaign_id=o.camp, channel_id=f"wa-{unique}",
                                           channel_type="whatsapp", contact_address=phone, seq=2,
                                           agent_id=o.users["a1"]))
    for _ in range(100):
        resp = await crm_gw.get(f"/api/v1/cases/{cid}", headers=bearer(a1))
        if resp.status == 200 and (await resp.json())["contact_id"]:
            break
        await asyncio.sleep(0.05)

    await opts.set(case_options={"autocomplete": False})
    assert (await call(crm_gw, a1, "GET", f"/work-items/{second}"))["prefill"] is None
    assert (await call(crm_gw, a1, "GET", f"/cases/{cid}"))["prefill"] is None
    await opts.set(case_options={"autocomplete": True})
    prefill = (await call(crm_gw, a1, "GET", f"/work-items/{second}"))["prefill"]
    assert prefill["result"] == "promise" and prefill["fields"] == {"amount": 75} and prefill["case_id"] == first
    prefill = (await call(crm_gw, a1, "GET", f"/cases/{cid}"))["prefill"]
    assert prefill["result"] == "promise" and prefill["fields"] == {"amount": 75}


async def test_comment_emails_other_contacts_and_own_channels(crm_gw, opts, nats_js, unique):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    nc = nats_js[0]
    own_mail, other_mail = f"mail-{unique}", f"mail-other-{unique}"
    await call(crm_gw, admin, "PATCH", f"/contacts/{o.contacts[0]}", {"emails": [f"ana.{unique}@cliente.test"]})
    await call(crm_gw, admin, "PATCH", f"/contacts/{o.contacts[1]}", {"emails": [f"beto.{unique}@cliente.test"]})
    case = await item(crm_gw, o, o.contacts[0])
    path = f"/work-items/{case}/comments"
    sent: list[dict[str, Any]] = []

    async def got(msg: Any) -> None:
        sent.append(json.loads(msg.data))

    subs = [await nc.subscribe(f"sb.outbound.email.{ch}.>", cb=got) for ch in (own_mail, other_mail)]
    try:
        await opts.set(channels=[{"id": own_mail, "type": "email"}],
                       case_options={"interact_with_other_contact_data": False,
                                     "interactions_only_from_assigned_channels": True})
        # Another contact's address: refused while the campaign keeps agents to the contact's own data.
        err = await call(crm_gw, a1, "POST", path, {"text": "x", "email": {"cc": [f"beto.{unique}@cliente.test"]}},
                         status=403)
        assert err["error"]["field"] == "email.cc[0]"
        # Another channel than the campaign's: refused; without one, the campaign's own e-mail channel is used.
        err = await call(crm_gw, a1, "POST", path, {"text": "x", "email": {"channel_id": other_mail}}, status=403)
        assert err["error"]["field"] == "email.channel_id"
        done = await call(crm_gw, a1, "POST", path, {"text": "Hola Ana", "email": {}}, status=201)
        assert done["email"]["channel_id"] == own_mail

        await opts.set(case_options={"interact_with_other_contact_data": True,
                                     "interactions_only_from_assigned_channels": False})
        done = await call(crm_gw, a1, "POST", path, {"text": "Con copia", "email": {
            "cc": [f"beto.{unique}@cliente.test"], "channel_id": other_mail}}, status=201)
        assert done["email"]["cc"] == [f"beto.{unique}@cliente.test"]
        for _ in range(50):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.05)
        assert [m["text"] for m in sent] == ["Hola Ana", "Con copia"]
        assert sent[1]["channel_id"] == other_mail and sent[1]["cc"] == [f"beto.{unique}@cliente.test"]
        history = (await call(crm_gw, a1, "GET", f"/work-items/{case}"))["history"]
        assert [e["kind"] for e in history].count("email") == 2  # the refusals wrote nothing
    finally:
        for sub in subs:
            await sub.unsubscribe()


async def _unreplied(js: Any, o: Any, unique: str, n: int) -> list[str]:
    """Conversations assigned to a1 that nobody answered, as the router reports them."""
    ids = []
    for i in range(n):
        cid = f"conv-nr-{unique}-{i}"
        base = {"conversation_id": cid, "campaign_id": o.camp, "channel_id": f"wa-{unique}", "channel_type": "whatsapp",
                "contact_address": f"+3460000{i:04d}"}
        await publish(js, ConversationOpened(**base, seq=1))
        await publish(js, ConversationAssigned(**base, seq=2, agent_id=o.users["a1"]))
        ids.append(cid)
    return ids


async def test_close_without_reply_on_the_crm_path_and_in_mass_close(crm_gw, opts, nats_js, unique):
    """The CRM refuses a close nobody replied to when the campaign says so, through the API and in the bulk
    mass close process (the router checks its own path: tests/gateway/test_options_permissions.py)."""
    o = opts.office
    a1, sup = o.tokens["a1"], o.tokens["sup"]
    _, js = nats_js
    one, two, three = await _unreplied(js, o, unique, 3)
    for cid in (one, two, three):
        for _ in range(100):
            resp = await crm_gw.get(f"/api/v1/cases/{cid}", headers=bearer(sup))
            if resp.status == 200 and (await resp.json())["status"] == "assigned":
                break
            await asyncio.sleep(0.05)

    await opts.set(permissions={"close_without_reply": False})
    err = await call(crm_gw, a1, "POST", f"/cases/{one}/close", {"typification_id": "paid"}, status=409)
    assert err["error"]["field"] == "reply"
    # The mass close process (seed 000) goes through the same rule, row by row.
    csv = f"ConversationId\n{two}\n".encode()
    resp = await crm_gw.post(f"/api/v1/imports?filename=cierre-{unique}.csv", data=csv,
                             headers={**bearer(sup), "Content-Type": "text/csv"})
    upload = await resp.json()
    # A supervisor names the campaign (theirs): a mass close over every campaign is for admins.
    err = await call(crm_gw, sup, "POST", "/processes", {"kind": "mass_close", "upload_id": upload["id"],
                                                         "params": {"typification_id": "paid"}}, status=403)
    assert err["error"]["field"] == "params.campaign_id"
    job = await call(crm_gw, sup, "POST", "/processes", {"kind": "mass_close", "upload_id": upload["id"],
                                                         "params": {"typification_id": "paid", "campaign_id": o.camp}},
                     status=202)
    for _ in range(200):
        done = await call(crm_gw, sup, "GET", f"/processes/{job['id']}")
        if done["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.05)
    resp = await crm_gw.get(f"/api/v1/processes/{job['id']}/outcome?format=csv", headers=bearer(sup))
    outcome = (await resp.read()).decode("utf-8-sig")
    assert "error" in outcome and "without a reply" in outcome, outcome
    assert (await call(crm_gw, sup, "GET", f"/cases/{two}"))["status"] != "closed"

    await opts.set(permissions={"close_without_reply": True})
    closed = await call(crm_gw, a1, "POST", f"/cases/{one}/close", {"typification_id": "paid"})
    assert closed["status"] == "closed"
    assert (await call(crm_gw, a1, "POST", f"/cases/{three}/close", {"typification_id": "paid"}))["status"] == "closed"

"""The CRM behind the facade, for real: operator panel, callbacks calendar and calls, scoped per role.

A second gateway in-process whose CRM is the real CRM service (in-process, session stack); the campaign
snapshot goes to the real KV bucket, which both watch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from libs.contracts import CampaignSnapshot, CustomField
from libs.contracts.campaigns import Typification
from services.crm.keys import CRM
from services.gateway.keys import GATEWAY

from .conftest import bearer
from .test_console_browser import eventually


@dataclass
class Office:
    """A campaign with two agents and a supervisor, their tokens, and the admin's."""

    camp: str
    tokens: dict[str, str]
    users: dict[str, str]
    contacts: list[str] = field(default_factory=list)


async def call(client: Any, token: str, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
    resp = await client.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
    data = await resp.json() if resp.content_type == "application/json" else None
    if status is not None:
        assert resp.status == status, (method, path, resp.status, data)
    else:
        assert resp.status < 300, (method, path, resp.status, data)
    return data


def snapshot(camp: str, agents: list[str], sup: str) -> CampaignSnapshot:
    return CampaignSnapshot(
        id=camp, name="Cobranzas", agents=agents, supervisors=[sup],
        typifications=[Typification(id="paid", category="Pagado", label="Pagó"),
                       Typification(id="promise", category="Promesa", label="Promesa de pago"),
                       Typification(id="other-camp", category="Otra", label="No se usa aquí")],
        closing_typifications=["paid", "promise"],
        custom_fields=[CustomField(key="amount", label="Importe", type="number")])


async def make_office(crm_gw: Any, real_crm: Any, make_user: Any, nats_js: Any, unique: str,
                      services_peer: Any, contacts: int = 3) -> Office:
    _, js = nats_js
    users = {"a1": await make_user("agent"), "a2": await make_user("agent"), "sup": await make_user("supervisor"),
             "admin": await make_user("admin")}
    camp = f"camp-crm-{unique}"
    snap = snapshot(camp, [users["a1"], users["a2"]], users["sup"])
    await (await js.key_value("campaigns")).put(camp, snap.model_dump_json().encode())
    services_peer.answers[("GET", f"/campaigns/{camp}/snapshot")] = (200, snap.model_dump(mode="json"))
    gw = crm_gw.app[GATEWAY]
    crm = real_crm.app[CRM]
    await eventually(lambda: gw.directory.get(camp) and crm.campaigns.get(camp), "both watched the snapshot")
    tokens = {k: gw.tokens.issue((await gw.users.get(v)).principal, "access") for k, v in users.items()}
    office = Office(camp, tokens, users)
    for i in range(contacts):
        c = await call(crm_gw, tokens["admin"], "POST", "/contacts",
                       {"name": f"Cliente {i} {unique}", "phones": [f"+3461{int(unique[:6], 16) % 10**6:06d}{i}"]})
        office.contacts.append(c["id"])
    return office


@pytest.fixture
async def office(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Office:
    return await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def test_operator_panel_is_scoped_and_finishing_needs_a_result(crm_gw, office):
    o, admin = office, office.tokens["admin"]
    mine = await call(crm_gw, admin, "POST", "/work-items",
                      {"campaign_id": o.camp, "contact_id": o.contacts[0], "assigned_user": o.users["a1"],
                       "priority": "high", "title": "Deuda de marzo"}, status=201)
    free = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[1]},
                      status=201)
    theirs = await call(crm_gw, admin, "POST", "/work-items",
                        {"campaign_id": o.camp, "contact_id": o.contacts[2], "assigned_user": o.users["a2"]},
                        status=201)
    a1 = o.tokens["a1"]

    # The panel of agent 1: their item and the unassigned one, highest priority first; not a colleague's.
    panel = await call(crm_gw, a1, "GET", f"/work-items?campaign_id={o.camp}")
    assert [i["id"] for i in panel["items"]] == [mine["id"], free["id"]]
    assert panel["items"][0]["contact_name"].startswith("Cliente 0")
    assert panel["items"][0]["phones"]
    # The supervisor sees the whole campaign.
    sup_panel = await call(crm_gw, o.tokens["sup"], "GET", f"/work-items?campaign_id={o.camp}")
    assert {i["id"] for i in sup_panel["items"]} == {mine["id"], free["id"], theirs["id"]}
    # A colleague's item reads as not there, and cannot be attended.
    await call(crm_gw, a1, "GET", f"/work-items/{theirs['id']}", status=404)
    await call(crm_gw, a1, "POST", f"/work-items/{theirs['id']}/attend", status=404)

    # Atender: the unassigned item becomes agent 1's.
    attended = await call(crm_gw, a1, "POST", f"/work-items/{free['id']}/attend")
    assert attended["status"] == "in_progress" and attended["assigned_user"] == o.users["a1"]
    # Refused: finishing without a result, or with a result the campaign does not allow. Nothing changes.
    err = await call(crm_gw, a1, "POST", f"/work-items/{free['id']}/save", {"finish": True, "next": True}, 400)
    assert err["error"]["field"] == "result"
    err = await call(crm_gw, a1, "POST", f"/work-items/{free['id']}/save",
                     {"finish": True, "result": "other-camp", "comment": "x"}, 400)
    assert err["error"]["field"] == "result"
    still = await call(crm_gw, a1, "GET", f"/work-items/{free['id']}")
    assert still["status"] == "in_progress" and not [e for e in still["history"] if e["kind"] == "comment"]
    # Guardar y siguiente: finished with a result; the next item (agent 1's own) comes back attended.
    saved = await call(crm_gw, a1, "POST", f"/work-items/{free['id']}/save",
                       {"finish": True, "result": "promise", "fields": {"amount": 120}, "comment": "Paga el 5",
                        "next": True})
    assert saved["case"]["status"] == "closed" and saved["case"]["result"] == "promise"
    assert saved["next"]["id"] == mine["id"] and saved["next"]["status"] == "in_progress"
    panel = await call(crm_gw, a1, "GET", f"/work-items?campaign_id={o.camp}")
    assert [i["id"] for i in panel["items"]] == [mine["id"]]


async def test_callbacks_calendar_and_calls_are_scoped(crm_gw, office):
    o = office
    a1, a2, sup = o.tokens["a1"], o.tokens["a2"], o.tokens["sup"]
    for who, token, when in (("a1", a1, "2031-03-04T10:30:00+01:00"), ("a2", a2, "2031-03-05T16:00:00+01:00")):
        await call(crm_gw, token, "POST", "/callbacks",
                   {"owner_id": o.users[who], "due_at": when, "contact_id": o.contacts[0], "note": f"de {who}"},
                   status=201)
    query = "view=week&date=2031-03-04&tz=Europe/Madrid"
    # An agent's calendar is theirs, whoever they name.
    cal = await call(crm_gw, a1, "GET", f"/callbacks/calendar?users={o.users['a2']}&{query}")
    assert list(cal["users"]) == [o.users["a1"]]
    assert [cb["note"] for cb in cal["users"][o.users["a1"]]["2031-03-04"]] == ["de a1"]
    # A supervisor sees their agents side by side, and nobody else's.
    cal = await call(crm_gw, sup, "GET", f"/callbacks/calendar?users={o.users['a1']},{o.users['a2']}&{query}")
    assert cal["users"][o.users["a2"]]["2031-03-05"][0]["note"] == "de a2"
    err = await call(crm_gw, sup, "GET", f"/callbacks/calendar?users={o.users['admin']}&{query}", status=403)
    assert err["error"]["field"] == "users"
    listed = await call(crm_gw, a1, "GET", "/callbacks?from=2031-03-01T00:00:00Z&to=2031-04-01T00:00:00Z")
    assert {cb["owner_id"] for cb in listed["items"]} == {o.users["a1"]}

    # Click-to-call: an outbound call in the agent's history; a colleague does not see it.
    made = await call(crm_gw, a1, "POST", "/calls",
                      {"direction": "out", "phone": "+34 912 345 678", "agent_id": o.users["a1"],
                       "campaign_id": o.camp}, status=201)
    assert made["phone"] == "+34912345678"
    out = await call(crm_gw, a1, "GET", "/calls?type=out")
    assert made["id"] in [c["id"] for c in out["items"]]
    assert made["id"] not in [c["id"] for c in (await call(crm_gw, a2, "GET", "/calls"))["items"]]
    err = await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": "abc"}, status=400)
    assert err["error"]["field"] == "phone"


async def test_files_stream_through_the_facade(crm_gw, office, unique):
    """Uploads (raw bytes or a multipart form) and downloads (an outcome, an export) pass as they are."""
    o = office
    sup, a1, a2 = o.tokens["sup"], o.tokens["a1"], o.tokens["a2"]
    csv = f"name;document;phone\nAna Import {unique};X{unique};+34 699 000 001\nSin Nada;;\n".encode()
    resp = await crm_gw.post(f"/api/v1/imports?filename=clientes-{unique}.csv", data=csv,
                             headers={**bearer(sup), "Content-Type": "text/csv"})
    upload = await resp.json()
    assert resp.status == 201, upload
    assert upload["columns"] == ["name", "document", "phone"] and upload["format"] == "csv"
    body = {"kind": "import_contacts", "upload_id": upload["id"], "params": {"mode": "template"}}
    # A contacts import changes the whole contact base: refused to a supervisor (their campaign's accounts
    # are theirs to import), run by an admin.
    err = await call(crm_gw, sup, "POST", "/processes", body, status=403)
    assert err["error"]["field"] == "params.campaign_id"
    admin = o.tokens["admin"]
    resp = await crm_gw.post(f"/api/v1/imports?filename=clientes-{unique}.csv", data=csv,
                             headers={**bearer(admin), "Content-Type": "text/csv"})
    upload = await resp.json()
    job = await call(crm_gw, admin, "POST", "/processes", {**body, "upload_id": upload["id"]}, status=202)
    # The supervisor does not see an admin's process over the whole base.
    await call(crm_gw, sup, "GET", f"/processes/{job['id']}", status=404)

    async def finished() -> Any:
        got = await call(crm_gw, admin, "GET", f"/processes/{job['id']}")
        return got if got["status"] in ("succeeded", "failed") else None

    for _ in range(100):
        done = await finished()
        if done:
            break
        await asyncio.sleep(0.1)
    assert done and done["status"] == "succeeded", done
    assert done["total"] == 2 and done["done"] == 2
    resp = await crm_gw.get(f"/api/v1/processes/{job['id']}/outcome?format=csv", headers=bearer(admin))
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    outcome = (await resp.read()).decode("utf-8-sig").splitlines()
    assert outcome[0].startswith("row,outcome") and len(outcome) == 3
    # Agents may not import.
    resp = await crm_gw.post("/api/v1/imports?filename=x.csv", data=csv,
                             headers={**bearer(a1), "Content-Type": "text/csv"})
    assert resp.status == 403

    # A multipart attachment on a work item, by its agent; a colleague cannot.
    item = await call(crm_gw, o.tokens["admin"], "POST", "/work-items",
                      {"campaign_id": o.camp, "contact_id": o.contacts[0], "assigned_user": o.users["a1"]}, status=201)
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 dni", filename="dni.pdf", content_type="application/pdf")
    resp = await crm_gw.post(f"/api/v1/work-items/{item['id']}/attachments", data=form, headers=bearer(a1))
    attached = await resp.json()
    assert resp.status == 201 and attached["filename"] == "dni.pdf" and attached["size"] == 12, attached
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="x.txt")
    resp = await crm_gw.post(f"/api/v1/work-items/{item['id']}/attachments", data=form, headers=bearer(a2))
    assert resp.status == 404

    # An export is narrowed to the agent's own calls.
    for token, who, phone in ((a1, "a1", "+34 600 000 101"), (a2, "a2", "+34 600 000 102")):
        await call(crm_gw, token, "POST", "/calls", {"direction": "out", "phone": phone, "agent_id": o.users[who],
                                                     "campaign_id": o.camp}, status=201)
    resp = await crm_gw.get(f"/api/v1/calls/export?format=csv&campaign_id={o.camp}", headers=bearer(a1))
    assert resp.status == 200
    text = (await resp.read()).decode("utf-8-sig")
    assert o.users["a1"] in text and o.users["a2"] not in text

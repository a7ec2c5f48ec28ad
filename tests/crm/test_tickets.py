"""Tickets and actions: pending while any action is pending, change log, search by every filter."""

from __future__ import annotations

from ..conftest import as_user


async def _contact(client, name: str, company: str) -> dict:
    return await (await client.post("/contacts", json={"name": name, "company": company})).json()


async def action_types(client, unique: str, *kinds: str, form: str | None = None) -> list[str]:
    """Action types in the catalog (ids ``<kind>-<unique>``), optionally with a form; their ids."""
    ids = []
    for kind in kinds:
        resp = await client.post("/action-types", json={"id": f"{kind}-{unique}", "name": f"{kind} {unique}",
                                                         "form_id": form})
        assert resp.status == 201, await resp.text()
        ids.append(f"{kind}-{unique}")
    return ids


async def interest_form(client, unique: str) -> str:
    resp = await client.post("/ticket-forms", json={"id": f"interes-{unique}", "name": f"Interesado en {unique}",
                                                     "fields": [{"key": "internet", "label": "Internet",
                                                                 "type": "boolean"},
                                                                {"key": "lineas", "label": "Líneas", "type": "number",
                                                                 "required": True}]})
    assert resp.status == 201, await resp.text()
    return f"interes-{unique}"


async def test_ticket_with_actions_log_and_pending_state(client, unique):
    company = f"ISP-{unique}"
    person = await _contact(client, f"Ignacio {unique}", company)
    form = await interest_form(client, unique)
    report, tutorial = await action_types(client, unique, "reporte", "tutorial")
    resp = await client.post("/tickets", json={
        "contact_id": person["id"], "subject": "Reporte problemas con telefonía", "priority": "high",
        "agent_id": f"ana-{unique}", "group": "soporte", "forms": {form: {"internet": True, "lineas": 2}},
        "actions": [{"kind": report, "subject": "llamar", "agent_id": f"ana-{unique}"},
                    {"kind": tutorial, "status": "done"}]}, headers=as_user("crm", f"ana-{unique}"))
    assert resp.status == 201, await resp.text()
    ticket = await resp.json()
    assert ticket["pending"] is True and ticket["priority"] == "high" and ticket["group"] == "soporte"
    assert [a["status"] for a in ticket["actions"]] == ["pending", "done"]

    closing = await client.patch(f"/tickets/{ticket['id']}", json={"status": "closed"})
    assert closing.status == 409 and (await closing.json())["error"]["field"] == "status"
    pending_id = ticket["actions"][0]["id"]
    # Another agent does not reach ana's action; ana and a supervisor do.
    for method in ("GET", "PATCH"):
        other = await client.request(method, f"/actions/{pending_id}",
                                     json={"status": "done"} if method == "PATCH" else None,
                                     headers=as_user("crm", f"bob-{unique}", "agent", []))
        assert other.status == 404 and (await other.json())["error"]["field"] == "action_id"
    own = await client.get(f"/actions/{pending_id}", headers=as_user("crm", f"ana-{unique}", "agent", []))
    assert own.status == 200 and (await own.json())["ticket_subject"] == "Reporte problemas con telefonía"
    upd = await client.patch(f"/actions/{pending_id}", json={"status": "done", "comment": "resuelto por teléfono",
                                                              "priority": "low"},
                             headers=as_user("crm", "sofia", "admin", None))
    assert upd.status == 200 and (await upd.json())["status"] == "done"
    ticket = await (await client.get(f"/tickets/{ticket['id']}")).json()
    assert ticket["pending"] is False
    closed = await (await client.patch(f"/tickets/{ticket['id']}", json={"status": "closed"})).json()
    assert closed["status"] == "closed" and closed["closed_at"]
    log = closed["log"]
    assert [e["action"] for e in log] == ["created", "action_added", "action_added", "action_updated", "updated"]
    change = log[3]
    assert change["actor"] == "sofia" and change["changes"]["comment"] == "resuelto por teléfono"
    assert change["changes"]["status"] == ["pending", "done"] and change["changes"]["action_id"] == pending_id


async def test_ticket_and_action_search(client, unique):
    company = f"Search-{unique}"
    (k,) = await action_types(client, unique, "k")
    a = await _contact(client, f"A {unique}", company)
    b = await _contact(client, f"B {unique}", "Other")
    t1 = await (await client.post("/tickets", json={"contact_id": a["id"], "subject": "uno", "priority": "low",
                                                    "agent_id": f"x-{unique}", "actions": [{"kind": k}]})).json()
    t2 = await (await client.post("/tickets", json={"contact_id": a["id"], "subject": "dos",
                                                    "agent_id": f"y-{unique}"})).json()
    await (await client.post("/tickets", json={"contact_id": b["id"], "subject": "tres"})).json()

    async def ids(path, **params):
        body = await (await client.get(path, params=params)).json()
        return [i["id"] for i in body["items"]]

    assert await ids("/tickets", company=company.lower()) == [t2["id"], t1["id"]]
    assert await ids("/tickets", company=company, pending="true") == [t1["id"]]
    assert await ids("/tickets", company=company, pending="false") == [t2["id"]]
    assert await ids("/tickets", agent_id=f"x-{unique}") == [t1["id"]]
    assert await ids("/tickets", contact_id=a["id"], priority="low") == [t1["id"]]
    assert await ids("/tickets", company=company, status="closed") == []
    assert await ids("/tickets", company=company, **{"from": "2000-01-01", "to": "2000-01-02"}) == []
    actions = await (await client.get("/actions", params={"company": company, "status": "pending"})).json()
    assert [x["ticket_id"] for x in actions["items"]] == [t1["id"]]
    assert actions["items"][0]["contact_name"] == f"A {unique}"
    for params, field in (({"status": "maybe"}, "status"), ({"priority": "urgent"}, "priority"),
                          ({"from": "not a date"}, "from"), ({"pending": "yes"}, "pending")):
        resp = await client.get("/tickets", params=params)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field


async def test_ticket_bad_inputs(client, unique):
    person = await _contact(client, f"T {unique}", "c")
    form = await interest_form(client, unique)
    (k,) = await action_types(client, unique, "k")
    (with_form,) = await action_types(client, unique, "visita", form=form)
    for body, field in (({"contact_id": person["id"]}, "subject"),
                        ({"contact_id": "ghost", "subject": "s"}, "contact_id"),
                        ({"contact_id": person["id"], "subject": "s", "actions": [{"kind": k, "status": "later"}]},
                         "actions[0].status"),
                        # A kind outside the catalog; a form value of the wrong type; a required one missing.
                        ({"contact_id": person["id"], "subject": "s", "actions": [{"kind": "free text"}]},
                         "actions[0].kind"),
                        ({"contact_id": person["id"], "subject": "s",
                          "actions": [{"kind": with_form, "forms": {"lineas": "dos"}}]}, "actions[0].forms.lineas"),
                        ({"contact_id": person["id"], "subject": "s",
                          "actions": [{"kind": with_form, "forms": {"internet": True}}]}, "actions[0].forms.lineas"),
                        ({"contact_id": person["id"], "subject": "s", "forms": {form: {"internet": "sí", "lineas": 1}}},
                         "forms." + form + ".internet"),
                        ({"contact_id": person["id"], "subject": "s", "forms": {"nope": {}}}, "forms.nope")):
        resp = await client.post("/tickets", json=body)
        assert resp.status in (400, 404) and (await resp.json())["error"]["field"] == field, body
    assert (await client.patch("/actions/ghost", json={"status": "done"})).status == 404
    t = await (await client.post("/tickets", json={"contact_id": person["id"], "subject": "s"})).json()
    assert t["actions"] == []  # none of the refused tickets was written: this is the contact's only ticket
    assert [x["id"] for x in (await (await client.get("/tickets", params={"contact_id": person["id"]})).json())[
        "items"]] == [t["id"]]
    bad = await client.patch(f"/tickets/{t['id']}", json={"priority": None})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "priority"
    ok = await client.post(f"/tickets/{t['id']}/actions", json={"kind": with_form, "forms": {"lineas": 3}})
    assert ok.status == 201, await ok.text()
    action = (await ok.json())["actions"][0]
    bad = await client.patch(f"/actions/{action['id']}", json={"forms": {"lineas": True}})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "forms.lineas"
    # The catalog keeps what is in use: the form (an action type has it), the type (a pending action).
    gone = await client.delete(f"/ticket-forms/{form}")
    assert gone.status == 409 and (await gone.json())["error"]["details"] == {"action_types": [with_form]}
    gone = await client.delete(f"/action-types/{with_form}")
    assert gone.status == 409 and (await gone.json())["error"]["details"] == {"tickets": [t["id"]]}
    assert (await client.delete(f"/action-types/{k}")).status == 204
    refused = await client.post("/action-types", json={"name": "x"},
                                headers=as_user("crm", "ana", "agent", []))
    assert refused.status == 403

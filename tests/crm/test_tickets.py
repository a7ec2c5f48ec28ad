"""Tickets and actions: pending while any action is pending, change log, search by every filter."""

from __future__ import annotations


async def _contact(client, name: str, company: str) -> dict:
    return await (await client.post("/contacts", json={"name": name, "company": company})).json()


async def test_ticket_with_actions_log_and_pending_state(client, unique):
    company = f"ISP-{unique}"
    person = await _contact(client, f"Ignacio {unique}", company)
    resp = await client.post("/tickets", json={
        "contact_id": person["id"], "subject": "Reporte problemas con telefonía", "priority": "high",
        "agent_id": f"ana-{unique}", "group": "soporte", "forms": {"Interesado en": {"Internet": True}},
        "actions": [{"kind": "Reporte CC", "subject": "llamar", "agent_id": f"ana-{unique}"},
                    {"kind": "Tutorial", "status": "done"}]}, headers={"X-User-Id": f"ana-{unique}"})
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
                                     headers={"X-User-Id": f"bob-{unique}", "X-User-Role": "agent"})
        assert other.status == 404 and (await other.json())["error"]["field"] == "action_id"
    own = await client.get(f"/actions/{pending_id}", headers={"X-User-Id": f"ana-{unique}", "X-User-Role": "agent"})
    assert own.status == 200 and (await own.json())["ticket_subject"] == "Reporte problemas con telefonía"
    upd = await client.patch(f"/actions/{pending_id}", json={"status": "done", "comment": "resuelto por teléfono",
                                                              "priority": "low"},
                             headers={"X-User-Id": "sofia", "X-User-Role": "supervisor"})
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
    a = await _contact(client, f"A {unique}", company)
    b = await _contact(client, f"B {unique}", "Other")
    t1 = await (await client.post("/tickets", json={"contact_id": a["id"], "subject": "uno", "priority": "low",
                                                    "agent_id": f"x-{unique}", "actions": [{"kind": "k"}]})).json()
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
    for body, field in (({"contact_id": person["id"]}, "subject"),
                        ({"contact_id": "ghost", "subject": "s"}, "contact_id"),
                        ({"contact_id": person["id"], "subject": "s", "actions": [{"kind": "k", "status": "later"}]},
                         "actions[0].status")):
        resp = await client.post("/tickets", json=body)
        assert resp.status in (400, 404) and (await resp.json())["error"]["field"] == field, body
    assert (await client.patch("/actions/ghost", json={"status": "done"})).status == 404
    t = await (await client.post("/tickets", json={"contact_id": person["id"], "subject": "s"})).json()
    bad = await client.patch(f"/tickets/{t['id']}", json={"priority": None})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "priority"

"""Routes the agent console's sections added, through the facade against the real CRM, scoped per role:
actions across tickets, attachment downloads, the contacts download for agents."""

from __future__ import annotations

import aiohttp

from .conftest import bearer
from .options_kit import action_types
from .test_crm_facade import call, make_office


async def test_actions_across_tickets_are_scoped(crm_gw, real_crm, make_user, nats_js, unique, services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=2)
    a1, a2, sup = o.tokens["a1"], o.tokens["a2"], o.tokens["sup"]
    report, visit, ring = await action_types(crm_gw, o.tokens["admin"], "Reporte", "Visita", "Llamar")
    t1 = await call(crm_gw, a1, "POST", "/tickets", {
        "contact_id": o.contacts[0], "subject": f"Internet {unique}", "agent_id": o.users["a1"],
        "actions": [{"kind": report, "subject": "Revisar router", "agent_id": o.users["a1"]},
                    {"kind": visit, "agent_id": o.users["a1"], "status": "done"}]}, status=201)
    t2 = await call(crm_gw, a2, "POST", "/tickets", {
        "contact_id": o.contacts[1], "subject": f"Factura {unique}", "agent_id": o.users["a2"],
        "actions": [{"kind": ring, "agent_id": o.users["a2"]}]}, status=201)
    mine = [a["id"] for a in t1["actions"]]
    theirs = t2["actions"][0]["id"]

    # An agent's search is narrowed to their own actions, whatever agent they name.
    listed = await call(crm_gw, a1, "GET", "/actions?status=all")
    assert sorted(a["id"] for a in listed["items"]) == sorted(mine)
    named = await call(crm_gw, a1, "GET", f"/actions?status=all&agent_id={o.users['a2']}")
    assert theirs not in [a["id"] for a in named["items"]]
    pending = await call(crm_gw, a1, "GET", "/actions?status=pending")
    assert [a["id"] for a in pending["items"]] == [mine[0]]
    assert pending["items"][0]["ticket_subject"] == f"Internet {unique}"

    # One action: theirs is not there for a1; editing it is refused the same way; their own is editable,
    # and the change with its comment lands in the ticket's log (bitácora).
    await call(crm_gw, a1, "GET", f"/actions/{theirs}", status=404)
    await call(crm_gw, a1, "PATCH", f"/actions/{theirs}", {"status": "done"}, status=404)
    one = await call(crm_gw, a1, "GET", f"/actions/{mine[0]}")
    assert one["contact_id"] == o.contacts[0]
    done = await call(crm_gw, a1, "PATCH", f"/actions/{mine[0]}", {"status": "done", "comment": "Router cambiado"})
    assert done["status"] == "done"
    log = (await call(crm_gw, a1, "GET", f"/tickets/{t1['id']}"))["log"]
    assert {"action_id": mine[0], "status": ["pending", "done"], "comment": "Router cambiado"}.items() <= \
        log[-1]["changes"].items()
    # The supervisor of the campaign sees both agents' actions.
    both = await call(crm_gw, sup, "GET", "/actions?status=all")
    assert {*mine, theirs} <= {a["id"] for a in both["items"]}
    untouched = await call(crm_gw, sup, "GET", f"/actions/{theirs}")
    assert untouched["status"] == "pending"


async def test_attachments_download_only_for_who_sees_their_item(crm_gw, real_crm, make_user, nats_js, unique,
                                                                 services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=1)
    a1, a2, admin = o.tokens["a1"], o.tokens["a2"], o.tokens["admin"]
    ticket = await call(crm_gw, a1, "POST", "/tickets", {"contact_id": o.contacts[0], "subject": "Con adjunto",
                                                         "agent_id": o.users["a1"]}, status=201)
    content = "DNI escaneado ñ".encode()
    form = aiohttp.FormData()
    form.add_field("file", content, filename="dni.txt", content_type="text/plain")  # as the console sends it
    resp = await crm_gw.post(f"/api/v1/tickets/{ticket['id']}/attachments", data=form, headers=bearer(a1))
    assert resp.status == 201, await resp.text()
    att = await resp.json()
    listed = (await call(crm_gw, a1, "GET", f"/tickets/{ticket['id']}"))["attachments"]
    assert [x["id"] for x in listed] == [att["id"]]
    for token in (a1, admin):
        got = await crm_gw.get(f"/api/v1/attachments/{att['id']}", headers=bearer(token))
        assert got.status == 200
        assert await got.read() == content
        assert 'filename="dni.txt"' in got.headers["Content-Disposition"]
    # A colleague (the campaign does not allow viewing all): not there; an unknown id: not there either.
    for token, ident in ((a2, att["id"]), (a1, "nope")):
        resp = await crm_gw.get(f"/api/v1/attachments/{ident}", headers=bearer(token))
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_agents_download_contacts_with_the_search_filters(crm_gw, real_crm, make_user, nats_js, unique,
                                                               services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=3)
    for contact in o.contacts[1:]:
        await call(crm_gw, o.tokens["admin"], "PATCH", f"/contacts/{contact}", {"company": f"Acme {unique}"})
    # An agent exports only the contacts of their campaigns (issue 11), never the whole base: contact 1 has a
    # work item in the agent's campaign, contact 2 (same company) is in no campaign of theirs.
    await call(crm_gw, o.tokens["admin"], "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[1]},
               status=201)
    resp = await crm_gw.get(f"/api/v1/contacts/export?format=csv&company=Acme%20{unique}",
                            headers=bearer(o.tokens["a1"]))
    assert resp.status == 200, await resp.text()
    rows = (await resp.read()).decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 2 and f"Cliente 1 {unique}" in rows[1]

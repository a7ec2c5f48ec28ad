"""Issue 14's leftovers, through the gateway and the real CRM: comments as their own kind of history, the global
search of the whole base (scoped cases), and a contacts search turned into a call list the list processes use."""

from __future__ import annotations

from .test_crm_facade import call, make_office


async def test_comments_search_and_call_lists(crm_gw, real_crm, make_user, nats_js, unique, services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=3)
    admin, a1, a2, sup = o.tokens["admin"], o.tokens["a1"], o.tokens["a2"], o.tokens["sup"]
    mine = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[0],
                                                             "assigned_user": o.users["a1"], "title": "Mía"},
                      status=201)
    theirs = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[0],
                                                               "assigned_user": o.users["a2"], "title": "Ajena"},
                        status=201)
    await call(crm_gw, a1, "POST", f"/work-items/{mine['id']}/comments", {"text": f"Nota de a1 {unique}"}, status=201)
    await call(crm_gw, a2, "POST", f"/work-items/{theirs['id']}/comments", {"text": f"Nota de a2 {unique}"},
               status=201)

    # Comments, their own kind: in a contact's history and in their own list, each agent's only their items'.
    history = await call(crm_gw, sup, "GET", f"/contacts/{o.contacts[0]}/history")
    assert sorted(i["text"] for i in history["items"] if i["kind"] == "comment") == [f"Nota de a1 {unique}",
                                                                                    f"Nota de a2 {unique}"]
    own = await call(crm_gw, a1, "GET", f"/comments?contact_id={o.contacts[0]}")
    assert [c["body"] for c in own["items"]] == [f"Nota de a1 {unique}"]
    everyone = await call(crm_gw, sup, "GET", f"/comments?contact_id={o.contacts[0]}")
    assert len(everyone["items"]) == 2

    # The global search: every contact of the base; open items only those the caller may see.
    found = await call(crm_gw, a1, "GET", f"/search?q=Cliente 0 {unique}")
    assert [c["id"] for c in found["contacts"]] == [o.contacts[0]]
    assert [k["id"] for k in found["cases"]] == [mine["id"]]
    assert {k["id"] for k in (await call(crm_gw, sup, "GET", f"/search?q=Cliente 0 {unique}"))["cases"]} == {
        mine["id"], theirs["id"]}
    err = await call(crm_gw, a1, "GET", "/search?q=x", status=400)
    assert err["error"]["field"] == "q"

    # A search made a call list of the campaign: staff only, never the whole base, then worked by the processes.
    await call(crm_gw, a1, "POST", "/lists/from-search", {"name": "x", "campaign_id": o.camp,
                                                          "filters": {"q": unique}}, status=403)
    err = await call(crm_gw, sup, "POST", "/lists/from-search", {"name": "x", "campaign_id": o.camp}, status=400)
    assert err["error"]["field"] == "filters"
    made = await call(crm_gw, sup, "POST", "/lists/from-search", {"name": f"Llamar {unique}", "campaign_id": o.camp,
                                                                  "filters": {"q": f"Cliente 1 {unique}"}}, status=201)
    assert made["added"] == 1
    members = await call(crm_gw, sup, "GET", f"/lists/{made['list']['id']}/members")
    assert [m["contact_id"] for m in members["items"]] == [o.contacts[1]]
    count = await call(crm_gw, sup, "GET", f"/processes/recycle-count?list_id={made['list']['id']}")
    assert count["count"] == 1  # the list processes see it
    nxt = await call(crm_gw, a1, "POST", f"/dialer/{made['list']['id']}/next")
    assert nxt["member"]["contact_id"] == o.contacts[1]

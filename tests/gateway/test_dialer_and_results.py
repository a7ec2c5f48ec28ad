"""Issue 13 item 7 through the gateway and the real CRM: recycled and reprocessed list members become work through a
preview dialer, and the operator panel's filter by result matches items by their latest result."""

from __future__ import annotations

import asyncio

from .test_crm_facade import call, make_office


async def wait_job(crm_gw, token: str, job_id: str) -> dict:
    for _ in range(200):
        done = await call(crm_gw, token, "GET", f"/processes/{job_id}")
        if done["status"] in ("succeeded", "failed"):
            return done
        await asyncio.sleep(0.05)
    raise AssertionError("the process never finished")


async def test_preview_dialer_and_filter_by_result(crm_gw, real_crm, make_user, nats_js, unique, services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=2)
    a1, a2, sup = o.tokens["a1"], o.tokens["a2"], o.tokens["sup"]
    lst = await call(crm_gw, sup, "POST", "/lists", {"name": f"Morosos {unique}", "campaign_id": o.camp}, status=201)
    await call(crm_gw, sup, "POST", f"/lists/{lst['id']}/members", {"contact_ids": o.contacts})
    lists = await call(crm_gw, a1, "GET", f"/dialer?campaign_id={o.camp}")
    assert [(x["id"], x["pending"]) for x in lists["items"]] == [(lst["id"], 2)]

    first = await call(crm_gw, a1, "POST", f"/dialer/{lst['id']}/next")
    mine = first["member"]["contact_id"]  # both were added at once: either may come first
    assert mine in o.contacts
    theirs = next(c for c in o.contacts if c != mine)
    assert first["case"]["assigned_user"] == o.users["a1"] and first["case"]["contact"]["phones"]
    # Asking again keeps the same contact for a1; a colleague gets the other one.
    assert (await call(crm_gw, a1, "POST", f"/dialer/{lst['id']}/next"))["member"]["contact_id"] == mine
    second = await call(crm_gw, a2, "POST", f"/dialer/{lst['id']}/next")
    assert second["member"]["contact_id"] == theirs

    # a1 calls (click-to-call from the preview, with the list): the attempt counts, the member is worked.
    phone = first["case"]["contact"]["phones"][0]["number"]
    await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": phone, "contact_id": mine,
                                              "list_id": lst["id"], "campaign_id": o.camp, "agent_id": o.users["a1"],
                                              "disposition": "promise"}, status=201)
    assert (await call(crm_gw, a1, "POST", f"/dialer/{lst['id']}/next"))["member"] is None  # nobody left for a1

    # Filter by result: the open item matches by its latest result (the attempt's), not by a result it cannot have.
    promised = await call(crm_gw, a1, "GET", f"/work-items?campaign_id={o.camp}&result=promise")
    assert [i["id"] for i in promised["items"]] == [first["case"]["id"]]
    assert promised["items"][0]["last_result"] == "promise"
    assert (await call(crm_gw, a1, "GET", f"/work-items?campaign_id={o.camp}&result=paid"))["items"] == []

    # Reprocessed (seed 000), the member is work again.
    job = await call(crm_gw, sup, "POST", "/processes", {"kind": "reprocess", "params": {"list_id": lst["id"]}},
                     status=202)
    assert (await wait_job(crm_gw, sup, job["id"]))["status"] == "succeeded"
    again = await call(crm_gw, a1, "POST", f"/dialer/{lst['id']}/next")
    assert again["member"]["contact_id"] == mine and again["member"]["attempts"] == 1
    assert again["case"]["id"] == first["case"]["id"]  # the same open item, not a second one

    # Outside the caller's campaigns: refused at the gateway and in the CRM.
    other = await call(crm_gw, o.tokens["admin"], "POST", "/lists", {"name": f"Otra {unique}",
                                                                      "campaign_id": f"{o.camp}-nope"}, status=201)
    await call(crm_gw, a1, "POST", f"/dialer/{other['id']}/next", status=403)
    err = await call(crm_gw, a1, "GET", f"/dialer?campaign_id={o.camp}-nope", status=403)
    assert err["error"]["field"] == "campaign_id"

"""Seed 002 "Guion" and "Pestañas" through the gateway: the campaign's script and its tabs filled from the
contact, case and account of the item in view (numbers masked where the agent may not see them)."""

from __future__ import annotations

import aiohttp
import pytest

from ..conftest import as_user
from .options_kit import Options, make_options
from .test_crm_facade import call


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def test_script_and_tabs_are_filled_from_the_item_in_view(crm_gw, opts, unique, real_crm):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    c0 = o.contacts[0]
    await call(crm_gw, admin, "PATCH", f"/contacts/{c0}", {"document": "12 345/6", "custom": {"plan": "Oro & Plata"}})
    phone = (await call(crm_gw, admin, "GET", f"/contacts/{c0}"))["phones"][0]["number"]
    case = await call(crm_gw, admin, "POST", "/work-items",
                      {"campaign_id": o.camp, "contact_id": c0, "assigned_user": o.users["a1"], "title": "Mora"},
                      status=201)
    await opts.set(script="Salude a {{nombre}} y ofrezca el plan.", tabs=[
        {"name": "Ficha", "url_template": "https://crm.example/c?doc={contact_document}&plan={contact.custom.plan}"
                                          "&caso={case_id}&t={case_title}"},
        {"name": "Marcador", "url_template": "https://tel.example/{contact_phone}?a={agent_id}"}])
    ws = await call(crm_gw, a1, "GET", f"/work-items/{case['id']}/workspace")
    assert ws["script"] == "Salude a {{nombre}} y ofrezca el plan."
    assert ws["tabs"][0] == {"name": "Ficha", "url": f"https://crm.example/c?doc=12%20345%2F6&plan=Oro%20%26%20Plata"
                                                     f"&caso={case['id']}&t=Mora",
                             "url_template": ws["tabs"][0]["url_template"]}
    assert ws["tabs"][1]["url"] == f"https://tel.example/{phone.replace('+', '%2B')}?a={o.users['a1']}"

    # An agent of a campaign that hides numbers gets the tab filled with the masked number.
    await opts.set(permissions={"show_contact_number": False})
    ws = await call(crm_gw, a1, "GET", f"/work-items/{case['id']}/workspace")
    assert phone[-4:] in ws["tabs"][1]["url"] and "%E2%80%A2" in ws["tabs"][1]["url"]
    assert phone.replace("+", "%2B") in (await call(crm_gw, o.tokens["sup"], "GET",
                                                    f"/work-items/{case['id']}/workspace"))["tabs"][1]["url"]
    # A colleague's item is not theirs to see: at the gateway, and in the CRM itself (as the gateway calls it).
    await call(crm_gw, o.tokens["a2"], "GET", f"/work-items/{case['id']}/workspace", status=404)
    crm_url = str(real_crm.make_url(f"/cases/{case['id']}/workspace"))
    async with aiohttp.ClientSession() as http:
        async with http.get(crm_url, headers=as_user("crm", o.users["a2"], "agent", [o.camp])) as resp:
            assert resp.status == 404  # not theirs reads as not there
        async with http.get(str(real_crm.make_url(f"/dispositions/{o.camp}")),
                            headers=as_user("crm", "someone-else", "agent", [])) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["field"] == "campaign_id"

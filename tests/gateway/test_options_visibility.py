"""Seed 004 history and number masking, and seed 002 "other campaigns' information", enforced by the CRM on
every read by an agent, through the gateway: each option on and off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import bearer
from .options_kit import Options, make_options
from .test_crm_facade import call


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


def _calls(history: dict) -> set[str]:
    return {i["call_id"] for i in history["items"] if i["kind"] == "call"}


async def test_history_hours_and_other_campaigns_bound_every_agent_read(crm_gw, opts):
    o = opts.office
    admin, a1, sup = o.tokens["admin"], o.tokens["a1"], o.tokens["sup"]
    other = await opts.other_campaign("b", agents=[o.users["a2"]])
    now = datetime.now(UTC)
    c0 = o.contacts[0]

    async def a_call(campaign: str, hours_ago: float) -> str:
        made = await call(crm_gw, admin, "POST", "/calls",
                          {"direction": "in", "phone": "+34 910 000 001", "contact_id": c0, "campaign_id": campaign,
                           "agent_id": o.users["a1"], "started_at": (now - timedelta(hours=hours_ago)).isoformat()},
                          status=201)
        return made["id"]

    recent, old, elsewhere = await a_call(o.camp, 1), await a_call(o.camp, 30), await a_call(other.id, 1)
    path = f"/contacts/{c0}/history"

    await opts.set(permissions={"history_hours": 24})
    # No campaign_id passed: the CRM applies the agent's campaigns anyway.
    assert _calls(await call(crm_gw, a1, "GET", path)) == {recent}
    assert _calls(await call(crm_gw, a1, "GET", f"{path}?campaign_id={o.camp}")) == {recent}
    # Naming someone else's campaign does not widen it.
    assert _calls(await call(crm_gw, a1, "GET", f"{path}?campaign_id={other.id}")) == {recent}
    # Staff see everything of their campaigns (this supervisor supervises both).
    assert _calls(await call(crm_gw, sup, "GET", path)) == {recent, old, elsewhere}

    await opts.set(permissions={"history_hours": 48})
    assert _calls(await call(crm_gw, a1, "GET", path)) == {recent, old}

    await opts.set(case_options={"show_other_campaigns_info": True})
    assert _calls(await call(crm_gw, a1, "GET", path)) == {recent, old, elsewhere}

    # Off means off: 0 hours is no history at all (not 24), whatever else is on.
    await opts.set(permissions={"history_hours": 0})
    assert (await call(crm_gw, a1, "GET", path))["items"] == []
    assert len(_calls(await call(crm_gw, sup, "GET", path))) == 3


async def test_numbers_are_masked_for_agents_of_a_campaign_that_hides_them(crm_gw, opts):
    o = opts.office
    admin, a1, sup = o.tokens["admin"], o.tokens["a1"], o.tokens["sup"]
    c0 = o.contacts[0]
    whole = (await call(crm_gw, admin, "GET", f"/contacts/{c0}"))["phones"][0]["number"]
    await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": c0,
                                                      "assigned_user": o.users["a1"]}, status=201)
    await call(crm_gw, admin, "POST", "/calls", {"direction": "in", "phone": whole, "contact_id": c0,
                                                 "campaign_id": o.camp, "agent_id": o.users["a1"]}, status=201)

    async def seen(token: str) -> dict[str, object]:
        contact = await call(crm_gw, token, "GET", f"/contacts/{c0}")
        panel = await call(crm_gw, token, "GET", f"/work-items?campaign_id={o.camp}")
        calls = await call(crm_gw, token, "GET", f"/calls?contact_id={c0}")
        found = await call(crm_gw, token, "GET", f"/contacts?phone={whole}")
        resp = await crm_gw.get(f"/api/v1/contacts/export?format=csv&phone={whole}", headers=bearer(token))
        export = (await resp.read()).decode("utf-8-sig")
        return {"contact": contact["phones"][0]["number"], "raw": contact["phones"][0]["raw"],
                "panel": panel["items"][0]["phones"][0], "call": calls["items"][0]["phone"],
                "search": found["items"][0]["phones"][0]["number"], "export": export.splitlines()[1]}

    masked = whole[:-8] + "••••" + whole[-4:]
    await opts.set(permissions={"show_contact_number": False})
    agent = await seen(a1)
    assert agent["contact"] == agent["panel"] == agent["call"] == agent["search"] == masked, agent
    assert whole not in str(agent) and masked in str(agent["export"])
    staff = await seen(sup)
    assert staff["contact"] == staff["panel"] == staff["call"] == whole and whole in str(staff["export"])

    # Click-to-call works on the masked number: the CRM finds the contact's number; the agent never gets it.
    made = await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": masked, "contact_id": c0,
                                                     "agent_id": o.users["a1"], "campaign_id": o.camp}, status=201)
    assert made["phone"] == masked
    assert (await call(crm_gw, sup, "GET", f"/calls/{made['id']}"))["phone"] == whole
    err = await call(crm_gw, a1, "POST", "/calls", {"direction": "out", "phone": masked, "agent_id": o.users["a1"]},
                     status=400)
    assert err["error"]["field"] == "phone"

    await opts.set(permissions={"show_contact_number": True})
    agent = await seen(a1)
    assert agent["contact"] == agent["panel"] == agent["call"] == whole

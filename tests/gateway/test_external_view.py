"""Seed 002 "Vista Externa de Casos" through the gateway: a signed, expiring, read-only link shows a case to
someone outside the platform with the fields its campaign chooses; off, forged, altered or expired, nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.contracts import utcnow
from services.crm.domain.external import sign
from services.crm.keys import CRM

from .console_kit import assert_spanish
from .options_kit import Options, make_options
from .test_console_browser import shot
from .test_crm_facade import call

CASE_OPEN = "Pendiente"  # the Spanish console's name of an open case


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def public(crm_gw, token: str) -> tuple[int, dict]:
    resp = await crm_gw.get(f"/api/v1/external/cases/{token}")  # no Authorization: the link is the credential
    return resp.status, await resp.json()


async def test_external_link_shows_only_the_chosen_fields(crm_gw, opts, real_crm):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    case = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[0],
                                                             "assigned_user": o.users["a1"], "title": "Reclamo 42"},
                      status=201)
    await call(crm_gw, a1, "POST", f"/work-items/{case['id']}/comments", {"text": "Se envió el técnico"}, status=201)
    path = f"/work-items/{case['id']}/external-link"

    await opts.set(external_view={"enabled": False})
    err = await call(crm_gw, a1, "POST", path, status=403)
    assert err["error"]["field"] == "external_view.enabled"

    await opts.set(external_view={"enabled": True, "fields": ["title", "status", "comments"], "ttl_hours": 2})
    link = await call(crm_gw, a1, "POST", path, status=201)
    assert link["path"].endswith(link["token"])
    status, shown = await public(crm_gw, link["token"])
    assert status == 200, shown
    assert shown == {"campaign": "Cobranzas", "title": "Reclamo 42", "status": "open",
                     "comments": [{"at": shown["comments"][0]["at"], "text": "Se envió el técnico"}]}
    # A colleague who may not see the case cannot make one.
    await call(crm_gw, o.tokens["a2"], "POST", path, status=404)

    # The campaign chooses again: the same link shows the new choice; turned off, nothing.
    await opts.set(external_view={"fields": ["result", "contact_name"]})
    assert set((await public(crm_gw, link["token"]))[1]) == {"campaign", "result", "contact_name"}
    # Altered, forged, expired.
    head, body, sig = link["token"].split(".")
    assert (await public(crm_gw, f"{head}.{body}.{sig[:-2]}xx"))[0] == 404
    forged, _ = sign(case["id"], "not the secret at all, but long enough to pass", utcnow(), 1)
    assert (await public(crm_gw, forged))[0] == 404
    secret = real_crm.app[CRM].settings.external_link_secret
    old, _ = sign(case["id"], secret, utcnow() - timedelta(hours=3), 2)
    status, err = await public(crm_gw, old)
    assert status == 410 and err["error"]["code"] == "link_expired"
    await opts.set(external_view={"enabled": False})
    assert (await public(crm_gw, link["token"]))[0] == 404


@pytest.mark.browser
async def test_external_page_in_spanish(browser, crm_gw, opts):
    o = opts.office
    admin = o.tokens["admin"]
    case = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[1],
                                                             "title": "Instalación"}, status=201)
    await opts.set(external_view={"enabled": True, "fields": ["title", "status", "contact_name", "created_at"]})
    link = await call(crm_gw, admin, "POST", f"/work-items/{case['id']}/external-link", status=201)
    context = await browser.new_context(locale="es-ES")
    page = await context.new_page()
    try:
        await page.goto(str(crm_gw.make_url(link["path"])))
        await page.get_by_test_id("external-facts").wait_for()
        text = await page.get_by_test_id("external-facts").inner_text()
        assert "Instalación" in text and CASE_OPEN in text
        await assert_spanish(page, "external-case")
        await shot(page, "external-case")
        await page.goto("about:blank")
        await page.goto(str(crm_gw.make_url("/console/external.html#no.es.valido")))
        await page.get_by_test_id("external-error").get_by_text("Este enlace no es válido").wait_for()
    finally:
        await context.close()

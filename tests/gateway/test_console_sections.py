"""Seed 001's sections in Debian's headless Chromium against the real CRM: Contactos, Acciones, Tickets,
Historial, Calendario and Llamadas, each with the quick actions, errors in Spanish next to the field they
name, nothing outside the agent's scope, no English, and no serious or critical axe-core violation.

The CRM runs in-process on the session stack behind a gateway (``crm_gw``); the campaign snapshot is in the
real KV bucket. Screenshots land in ``$SB_TEST_ARTIFACTS``/gateway.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .console_kit import assert_spanish, count_becomes
from .options_kit import action_types
from .test_console_browser import log_in, shot
from .test_crm_facade import call, make_office

pytestmark = pytest.mark.browser
TZ = "Europe/Madrid"


async def check(page, name):
    await assert_spanish(page, name)
    await shot(page, name)  # with axe-core


async def test_the_six_sections(browser, crm_gw, real_crm, gateway, make_user, nats_js, unique, services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=3)
    admin, a1, a2 = o.tokens["admin"], o.tokens["a1"], o.tokens["a2"]
    company = f"Acme {unique}"
    internet, tutorial, other, again_kind, visit_kind = await action_types(
        crm_gw, admin, "Reporte problemas con Internet", "Tutorial", "Secreto de otro", "Llamar de nuevo",
        "Visita técnica")
    for cid in o.contacts[:2]:
        await call(crm_gw, admin, "PATCH", f"/contacts/{cid}", {"company": company})
    mine = await call(crm_gw, a1, "POST", "/tickets", {
        "contact_id": o.contacts[0], "subject": "Sin internet", "agent_id": o.users["a1"],
        "actions": [{"kind": internet, "subject": "Revisar router", "agent_id": o.users["a1"],
                     "due_at": (datetime.now(ZoneInfo(TZ)).replace(hour=16, minute=0) ).isoformat()},
                    {"kind": tutorial, "agent_id": o.users["a1"], "status": "done"}]}, status=201)
    theirs = await call(crm_gw, a2, "POST", "/tickets", {
        "contact_id": o.contacts[1], "subject": "Ajeno", "agent_id": o.users["a2"],
        "actions": [{"kind": other, "agent_id": o.users["a2"]}]}, status=201)
    caller = f"+34 622 {int(unique[:6], 16) % 10**6:06d}"  # a number no contact of any test holds
    inbound = await call(crm_gw, a1, "POST", "/calls", {"direction": "in", "phone": caller,
                                                         "agent_id": o.users["a1"], "campaign_id": o.camp,
                                                         "duration_s": 73}, status=201)
    await call(crm_gw, a2, "POST", "/calls", {"direction": "in", "phone": "+34 600 999 999", "agent_id": o.users["a2"],
                                              "campaign_id": o.camp}, status=201)
    username = (await gateway.users.get(o.users["a1"])).username
    context, page = await log_in(browser, str(crm_gw.make_url("/")), username, timezone_id=TZ, locale="es-ES")
    await check(page, "sections-00-conversations")

    # Contactos: filter by company; the quick actions on every result; Descargar with the same filters.
    await page.get_by_test_id("tab-contacts").click()
    panel = page.get_by_test_id("contacts-panel")
    await panel.get_by_label("Compañía", exact=True).fill(company)
    await panel.get_by_test_id("contacts-search").click()
    rows = panel.get_by_test_id("contact-row")
    await count_becomes(rows, 2)
    for name in ("Llamar (Click2Dial)", "Ver información del contacto", "Crear ticket", "Ver historial",
                 "Enviar SMS/WhatsApp como chat"):
        assert await rows.first.get_by_role("button", name=name).count() == 1, name
    async with page.expect_download() as info:
        await panel.get_by_test_id("contacts-download").click()
    path = await (await info.value).path()
    assert (await info.value).suggested_filename == "contacts.xlsx"
    assert open(path, "rb").read(2) == b"PK"  # an XLSX (zip)
    await check(page, "sections-01-contactos")
    # + Nuevo: a bad phone is refused next to the phone field, in Spanish; then created.
    await panel.get_by_test_id("contacts-new").click()
    dialog = page.locator("dialog")
    await dialog.get_by_test_id("new-contact-name").fill(f"Nueva {unique}")
    await dialog.get_by_test_id("new-contact-phone").fill("no es un número")
    await dialog.get_by_test_id("new-contact-save").click()
    await dialog.get_by_test_id("new-contact-error").locator(".error-text").wait_for()
    await dialog.get_by_test_id("new-contact-error").get_by_text("Revisa el dato indicado: Teléfono").wait_for()
    assert await dialog.get_by_test_id("new-contact-phone").get_attribute("aria-invalid") == "true"
    await check(page, "sections-02-contacto-rechazado")
    await dialog.get_by_test_id("new-contact-phone").fill("+34 611 222 333")
    await dialog.get_by_test_id("new-contact-save").click()
    await page.get_by_test_id("toast-info").get_by_text("Guardado").wait_for()

    # Acciones: the agent's own only (the colleague's never shows); pending red, done green; an edit with
    # a comment goes to the ticket's bitácora.
    await page.get_by_test_id("tab-actions").click()
    panel = page.get_by_test_id("actions-panel")
    await panel.get_by_test_id("filter-status").select_option("all")
    await panel.get_by_test_id("actions-search").click()
    rows = panel.get_by_test_id("action-row")
    await count_becomes(rows, 2)
    assert await panel.get_by_text("Secreto de otro").count() == 0
    pending = panel.locator('[data-testid="action-row"][data-status="pending"]')
    assert "pending" in (await pending.get_attribute("class") or "")
    assert await panel.locator('[data-testid="action-row"][data-status="done"]').count() == 1
    await check(page, "sections-03-acciones")
    await pending.get_by_test_id("action-edit").click()
    await pending.get_by_test_id("action-edit-status").select_option("done")
    await pending.get_by_test_id("action-edit-comment").fill("Router reiniciado con el cliente")
    await pending.get_by_test_id("action-edit-save").click()
    await count_becomes(panel.locator('[data-testid="action-row"][data-status="done"]'), 2)
    log = (await call(crm_gw, a1, "GET", f"/tickets/{mine['id']}"))["log"]
    assert log[-1]["changes"]["comment"] == "Router reiniciado con el cliente"

    # Tickets: reopen the actions in the ticket view; closing with a pending action is refused next to the
    # state, in Spanish; once done, it closes.
    again = {"kind": again_kind, "agent_id": o.users["a1"]}
    await call(crm_gw, a1, "POST", f"/tickets/{mine['id']}/actions", again, status=201)
    await page.get_by_test_id("tab-tickets").click()
    panel = page.get_by_test_id("tickets-panel")
    row = panel.locator(f'[data-ticket-id="{mine["id"]}"]')
    await row.wait_for()
    assert await row.get_attribute("data-pending") == "true"
    assert await panel.get_by_text("Ajeno").count() == 0
    await check(page, "sections-04-tickets")
    await row.get_by_test_id("ticket-open").click()
    view = page.get_by_test_id("ticket-view")
    await view.get_by_test_id("ticket-close").click()
    refused = view.get_by_test_id("ticket-close-error")
    await refused.get_by_text("Hay acciones pendientes: no se puede cerrar").wait_for()
    await check(page, "sections-05-ticket-rechazado")
    last = view.locator('[data-testid="action-row"][data-status="pending"]')
    await last.get_by_test_id("action-edit").click()
    await last.get_by_test_id("action-edit-status").select_option("done")
    await last.get_by_test_id("action-edit-save").click()
    view = page.get_by_test_id("ticket-view")
    await view.locator('[data-testid="action-row"][data-status="done"]').nth(2).wait_for()
    await view.get_by_test_id("ticket-close").click()
    await page.get_by_test_id("ticket-view").get_by_text("Cerrado").first.wait_for()
    assert (await call(crm_gw, a1, "GET", f"/tickets/{mine['id']}"))["status"] == "closed"
    await page.locator("dialog").get_by_test_id("dialog-close").click()

    # Historial: calls, tickets and actions of the agent, never the colleague's; only calls on demand.
    await page.get_by_test_id("tab-history").click()
    panel = page.get_by_test_id("history-panel")
    await panel.locator('[data-kind="call"]').first.wait_for()
    await panel.locator('[data-kind="ticket"]').first.wait_for()
    assert await panel.get_by_text("+34600999999").count() == 0 and await panel.get_by_text("Ajeno").count() == 0
    await check(page, "sections-06-historial")
    for kind in ("conversation", "ticket", "action"):
        await panel.get_by_test_id(f"history-kind-{kind}").uncheck()
    await panel.get_by_test_id("history-search").click()
    await panel.locator('[data-kind="ticket"]').first.wait_for(state="detached")
    assert await panel.locator('[data-kind="call"]').count() == 1
    async with page.expect_download() as info:
        await panel.get_by_test_id("history-download").click()
    assert (await info.value).suggested_filename == "calls.xlsx"

    # Calendario: a callback and a ticket action falling due today.
    await call(crm_gw, a1, "POST", f"/tickets/{theirs['id']}/actions", {"kind": other}, status=404)  # not theirs to see
    today = datetime.now(ZoneInfo(TZ)).date()
    callback = {"owner_id": o.users["a1"], "contact_id": o.contacts[0], "due_at": f"{today}T11:30:00+01:00",
                "note": "Rellamar por la factura"}
    await call(crm_gw, a1, "POST", "/callbacks", callback, status=201)
    visit = {"contact_id": o.contacts[2], "subject": "Visita", "agent_id": o.users["a1"],
             "actions": [{"kind": visit_kind, "agent_id": o.users["a1"], "due_at": f"{today}T17:00:00+01:00"}]}
    await call(crm_gw, a1, "POST", "/tickets", visit, status=201)
    await page.get_by_test_id("tab-callbacks").click()
    await page.get_by_test_id("cal-day").click()
    cell = page.locator(f'[data-testid="calendar"] [data-day="{today.isoformat()}"]')
    await cell.get_by_text("Rellamar por la factura").wait_for()
    await cell.get_by_test_id("calendar-action").get_by_text("Visita técnica").wait_for()
    await check(page, "sections-07-calendario")

    # Llamadas: the call not yet saved is parametrized (its number matches no contact: one is created) and
    # saved with a disposition.
    await page.get_by_test_id("tab-calls").click()
    card = page.locator(f'[data-testid="pending-in"][data-call-id="{inbound["id"]}"]')
    await card.get_by_test_id("classify").locator(":scope > summary").click()
    await card.get_by_test_id("call-contact-name").fill(f"Llamante {unique}")
    await card.get_by_test_id("call-contact-create").click()
    await card.get_by_test_id("call-contact-status").get_by_text(f"Llamante {unique}").wait_for()
    await card.get_by_test_id("classify-submit").click()
    await card.get_by_test_id("classify-error").get_by_text("Elige el resultado de la llamada").wait_for()
    await check(page, "sections-08-llamadas")
    await card.get_by_test_id("classify-disposition").select_option("paid")
    await card.get_by_test_id("classify-submit").click()
    await page.get_by_test_id("toast-info").get_by_text("Llamada salvada").wait_for()
    saved = await call(crm_gw, a1, "GET", f"/calls/{inbound['id']}")
    assert saved["disposition"] == "paid" and saved["contact_id"]
    await context.close()

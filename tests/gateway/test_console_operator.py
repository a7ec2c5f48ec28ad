"""The operator panel, calls and callbacks screens in Debian's headless Chromium, against the real CRM.

The CRM runs in-process on the session stack behind a second in-process gateway (``crm_gw``); the
campaign snapshot is in the real KV bucket. Screenshots land in ``$SB_TEST_ARTIFACTS``/gateway.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .test_console_browser import log_in, shot
from .test_crm_facade import call, make_office

pytestmark = pytest.mark.browser
TZ = "Europe/Madrid"


async def test_operator_panel_calls_and_callbacks(browser, crm_gw, real_crm, gateway, make_user, nats_js, unique,
                                                  services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=2)
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    first = await call(crm_gw, admin, "POST", "/work-items",
                       {"campaign_id": o.camp, "contact_id": o.contacts[0], "assigned_user": o.users["a1"],
                        "priority": "high", "title": "Deuda de marzo"}, status=201)
    second = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[1]},
                        status=201)
    base = str(crm_gw.make_url("/"))
    username = (await gateway.users.get(o.users["a1"])).username
    context, page = await log_in(browser, base, username, timezone_id=TZ, locale="es-ES")

    # The panel: the agent's item first (high priority), then the unassigned one; contact and phone shown.
    await page.get_by_test_id("tab-work").click()
    rows = page.get_by_test_id("work-row")
    await rows.nth(1).wait_for()
    assert await rows.count() == 2
    assert await rows.nth(0).get_attribute("data-case-id") == first["id"]
    assert await rows.nth(0).get_by_test_id("dial").count() == 1
    await shot(page, "operator-01-panel")

    # Atender.
    await rows.nth(0).get_by_test_id("work-attend").click()
    item = page.get_by_test_id("work-item")
    await item.get_by_test_id("work-item-status").get_by_text("En gestión").wait_for()
    await item.get_by_test_id("work-history").get_by_text("Atendida").wait_for()

    # Guardar y siguiente with "Finalizar gestión" but no result: refused by the CRM, shown in Spanish.
    await item.get_by_test_id("work-comment").fill("Promete pagar el día 5")
    await item.get_by_test_id("work-finish").check()
    await item.get_by_test_id("work-save-next").click()
    error = item.get_by_test_id("work-error")
    await error.get_by_text("Para finalizar la gestión hay que elegir un resultado").wait_for()
    assert "invalid" in (await item.get_by_test_id("work-result").get_attribute("class") or "")
    assert "requires a result" in await error.get_by_test_id("error-detail").inner_text()  # the CRM's words
    await shot(page, "operator-02-refused")
    # The same refusal in English, once the console is switched to English; then back to Spanish.
    await page.get_by_test_id("lang").click()
    await item.get_by_test_id("work-finish").check()
    await item.get_by_test_id("work-save-next").click()
    await error.get_by_text("Choose a result to finish the work item").wait_for()
    await page.get_by_test_id("lang").click()
    await item.get_by_test_id("work-comment").fill("Promete pagar el día 5")
    await item.get_by_test_id("work-finish").check()
    unchanged = await call(crm_gw, a1, "GET", f"/work-items/{first['id']}")
    assert unchanged["status"] == "in_progress"
    assert not [e for e in unchanged["history"] if e["kind"] == "comment"]

    # With a result: finished, and the next item opens already attended.
    await item.get_by_test_id("work-result").select_option("promise")
    await item.get_by_test_id("field-amount").fill("120")
    await item.get_by_test_id("work-save-next").click()
    await page.get_by_test_id("toast-info").get_by_text("Gestión finalizada").wait_for()
    await item.get_by_test_id("work-title").get_by_text("Cliente 1").wait_for()
    done = await call(crm_gw, a1, "GET", f"/work-items/{first['id']}")
    assert (done["status"], done["result"], done["fields"]) == ("closed", "promise", {"amount": 120})
    assert [e["body"] for e in done["history"] if e["kind"] == "comment"] == ["Promete pagar el día 5"]
    nxt = await call(crm_gw, a1, "GET", f"/work-items/{second['id']}")
    assert (nxt["status"], nxt["assigned_user"]) == ("in_progress", o.users["a1"])
    await page.get_by_test_id("work-row").nth(0).wait_for()
    assert await page.get_by_test_id("work-row").count() == 1

    # A callback on the next item, today at noon; the calendar shows it by day, week and month.
    today = datetime.now(ZoneInfo(TZ)).date()
    await item.get_by_test_id("callback-open").click()
    await item.get_by_test_id("callback-due").fill(f"{today.isoformat()}T12:00")
    await item.get_by_test_id("callback-note").fill("Llamar por la promesa")
    await item.get_by_test_id("callback-create").click()
    await page.get_by_test_id("toast-info").get_by_text("Rellamada agendada").wait_for()
    await page.get_by_test_id("tab-callbacks").click()
    for view in ("day", "week", "month"):
        await page.get_by_test_id(f"cal-{view}").click()
        cell = page.locator(f'[data-testid="calendar"] [data-day="{today.isoformat()}"]')
        await cell.get_by_test_id("callback").get_by_text("12:00").wait_for()
        await cell.get_by_text("Llamar por la promesa").wait_for()
        await shot(page, f"operator-03-calendar-{view}")
    days = page.locator('[data-testid="calendar"] [data-day]')
    assert await days.count() >= 28  # the month view shows every day of the month

    # Calls: click-to-call registers an outbound call; an inbound one is shown apart.
    await call(crm_gw, a1, "POST", "/calls", {"direction": "in", "phone": "+34 600 111 222",
                                              "agent_id": o.users["a1"], "duration_s": 42}, status=201)
    await page.get_by_test_id("tab-calls").click()
    await page.get_by_test_id("call-in").filter(has_text="+34600111222").wait_for()
    await page.get_by_test_id("call-number").fill("+34 911 222 333")
    await page.get_by_test_id("call-submit").click()
    outbound = page.get_by_test_id("call-out").filter(has_text="+34911222333")
    await outbound.wait_for()
    assert "outbound" in (await outbound.get_attribute("class") or "")
    assert "inbound" in (await page.get_by_test_id("call-in").first.get_attribute("class") or "")
    await page.get_by_test_id("call-number").fill("no es un número")
    await page.get_by_test_id("call-submit").click()
    await page.get_by_test_id("call-error").get_by_text("El número de teléfono no es válido").wait_for()
    await shot(page, "operator-04-calls")
    made = await call(crm_gw, a1, "GET", "/calls?type=out")
    assert [c["campaign_id"] for c in made["items"] if c["phone"] == "+34911222333"] == [o.camp]

    # The agent classifies their own call: without a result it is refused next to the result list.
    await outbound.get_by_test_id("classify").locator("summary").click()
    await outbound.get_by_test_id("classify-submit").click()
    await outbound.get_by_test_id("classify-error").get_by_text("Elige el resultado de la llamada").wait_for()
    assert "invalid" in (await outbound.get_by_test_id("classify-disposition").get_attribute("class") or "")
    await outbound.get_by_test_id("classify-disposition").select_option("paid")
    await outbound.get_by_test_id("classify-comment").fill("Acepta la oferta")
    await outbound.get_by_test_id("classify-submit").click()
    await page.get_by_test_id("call-out").filter(has_text="+34911222333").locator(".pill", has_text="paid").wait_for()
    await shot(page, "operator-05-classified")
    made = await call(crm_gw, a1, "GET", "/calls?type=out")
    assert [(c["disposition"], c["comment"]) for c in made["items"] if c["phone"] == "+34911222333"] == [
        ("paid", "Acepta la oferta")]
    await context.close()


async def test_import_with_a_progress_bar(browser, crm_gw, real_crm, gateway, make_user, nats_js, unique,
                                          services_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=0)
    # A contacts import changes the whole contact base: an admin's (a supervisor imports a campaign's accounts).
    username = (await gateway.users.get(o.users["admin"])).username
    context, page = await log_in(browser, str(crm_gw.make_url("/")), username, timezone_id=TZ)
    await page.get_by_test_id("tab-imports").click()
    csv = (f"Nombre completo;DNI;Teléfono\nMarta {unique};D1{unique};699 111 001\n"
           f"Pablo {unique};D2{unique};699 111 002\n").encode("cp1252")
    await page.get_by_test_id("import-file").set_input_files(
        {"name": f"altas-{unique}.csv", "mimeType": "text/csv", "buffer": csv})
    await page.get_by_test_id("import-upload").click()
    info = page.get_by_test_id("import-file-info")
    await info.get_by_text("3 columnas").wait_for()
    assert "CSV" in await info.inner_text()
    # "Teléfono" is recognised by its Spanish name; the others are not: the CRM refuses without the key.
    assert await page.get_by_test_id("map-phone").input_value() == "Teléfono"
    await page.get_by_test_id("import-start").click()
    await page.get_by_test_id("import-error").get_by_text("Faltan columnas obligatorias").wait_for()
    await shot(page, "imports-01-refused")
    await page.get_by_test_id("map-name").select_option("Nombre completo")
    await page.get_by_test_id("map-document").select_option("DNI")
    await page.get_by_test_id("import-start").click()
    await page.get_by_test_id("import-status").get_by_text("Terminado").wait_for()
    assert await page.get_by_test_id("import-progress").get_attribute("value") == "100"
    assert await page.get_by_test_id("import-percent").inner_text() == "100%"
    await page.get_by_test_id("import-counts").get_by_text("creados: 2").wait_for()
    await page.get_by_test_id("import-outcome").wait_for()
    await shot(page, "imports-02-done")
    found = await call(crm_gw, o.tokens["admin"], "GET", f"/contacts?q=D1{unique}")
    assert [(c["name"], c["phones"][0]["number"]) for c in found["items"]] == [(f"Marta {unique}", "+34699111001")]
    await context.close()

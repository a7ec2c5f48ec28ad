"""Issue 13's screens in Debian's headless Chromium against the real CRM: the admin's CRM catalogs as real forms
(a ticket form with typed fields, refused next to the field it names, then saved; an action type with it; a
campaign's disposition with a follow-up; the resource gallery; a webhook and its secret), then an agent using them
(the disposition of a call with its follow-up, a quick reply from the gallery in a conversation). Spanish only,
no serious or critical axe-core violation."""

from __future__ import annotations

from typing import Any

import pytest

from .console_kit import assert_spanish, count_becomes
from .test_console_browser import log_in, shot
from .test_crm_facade import call, make_office

pytestmark = pytest.mark.browser


async def check(page: Any, name: str) -> None:
    await assert_spanish(page, name)
    await shot(page, name)


async def test_admin_catalogs_and_the_agent_using_them(browser, crm_gw, real_crm, gateway, make_user, nats_js,
                                                       unique, services_peer, router_peer):
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=1)
    admin_user = await gateway.users.get(o.users["admin"])
    services_peer.answers[("GET", "/campaigns")] = (200, {"items": [{"id": o.camp, "name": "Cobranzas"}],
                                                          "next_cursor": None})
    base = str(crm_gw.make_url("/"))
    try:
        context, page = await log_in(browser, base, admin_user.username)
        await page.get_by_test_id("tab-admin").click()

        # A ticket form: a select field without options is refused next to that field, then saved.
        await page.get_by_test_id("admin-ticket-forms").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-ticket-forms")
        await form.get_by_test_id("f-name").fill(f"Venta {unique}")
        for _ in range(2):
            await form.get_by_test_id("add-form-field").click()
        await form.get_by_test_id("f-fields[0].key").fill("lineas")
        await form.get_by_test_id("f-fields[0].label").fill("Líneas")
        await form.get_by_test_id("f-fields[0].type").select_option("number")
        await form.get_by_test_id("f-fields[0].required").check()
        await form.get_by_test_id("f-fields[1].key").fill("interes")
        await form.get_by_test_id("f-fields[1].label").fill("Interesado en")
        await form.get_by_test_id("f-fields[1].type").select_option("select")
        await form.get_by_test_id("admin-save").click()
        await form.locator('[data-testid="field-error"][data-for="fields[1].options"]').wait_for()
        await check(page, "casework-01-ticket-form-refused")
        await form.get_by_test_id("f-fields[1].options").fill("Internet, CRM")
        await form.get_by_test_id("admin-save").click()
        await page.get_by_test_id("row-ticket-forms").filter(has_text=f"Venta {unique}").wait_for()
        forms = (await call(crm_gw, o.tokens["admin"], "GET", "/ticket-forms"))["items"]
        made = next(f for f in forms if f["name"] == f"Venta {unique}")
        assert [(f["key"], f["type"], f["required"]) for f in made["fields"]] == [("lineas", "number", True),
                                                                                 ("interes", "select", False)]

        # An action type with that form.
        await page.get_by_test_id("admin-action-types").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-action-types")
        await form.get_by_test_id("f-name").fill(f"Visita comercial {unique}")
        await form.get_by_test_id("f-form_id").select_option(made["id"])
        await form.get_by_test_id("admin-save").click()
        await page.get_by_test_id("row-action-types").filter(has_text=f"Visita comercial {unique}").wait_for()

        # A disposition of the campaign whose follow-up schedules a callback.
        await page.get_by_test_id("admin-dispositions").click()
        await page.get_by_test_id("crm-campaign").wait_for()
        await page.get_by_test_id("admin-new").click()
        form = page.locator('[data-testid^="form-dispositions"]')
        await form.get_by_test_id("f-name").fill("Volver a llamar")
        await form.get_by_test_id("f-follow_up.kind").select_option("callback")
        await form.get_by_test_id("f-follow_up.after_minutes").fill("30")
        await form.get_by_test_id("admin-save").click()
        await page.locator('[data-testid^="row-dispositions"]').filter(has_text="Volver a llamar").wait_for()
        await check(page, "casework-02-dispositions")

        # The gallery: a quick reply and a file.
        await page.get_by_test_id("admin-resources").click()
        await page.get_by_test_id("crm-campaign").wait_for()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-resources")
        await form.get_by_test_id("f-name").fill("Saludo")
        await form.get_by_test_id("f-text").fill("¡Hola! ¿En qué podemos ayudarle?")
        await form.get_by_test_id("admin-save").click()
        await page.get_by_test_id("row-resources").filter(has_text="Saludo").wait_for()
        await page.get_by_test_id("gallery-upload-name").fill("Tarifas")
        await page.get_by_test_id("gallery-upload-file").set_input_files(
            files=[{"name": "tarifas.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 tarifas"}])
        await page.get_by_test_id("gallery-upload").click()
        await page.get_by_test_id("row-resources").filter(has_text="Tarifas").wait_for()
        await check(page, "casework-03-gallery")

        # A webhook: its signing secret is shown once.
        await page.get_by_test_id("admin-webhooks").click()
        await page.get_by_test_id("crm-campaign").wait_for()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-webhooks")
        await form.get_by_test_id("f-url").fill("http://127.0.0.1:9/hooks")
        await form.get_by_test_id("admin-save").click()
        await page.get_by_test_id("webhook-secret").wait_for()
        await check(page, "casework-04-webhook")
        await context.close()

        # The agent: a call classified with the campaign's disposition schedules the callback.
        agent = await gateway.users.get(o.users["a1"])
        pending = await call(crm_gw, o.tokens["a1"], "POST", "/calls", {
            "direction": "in", "phone": "+34 910 000 777", "contact_id": o.contacts[0], "agent_id": o.users["a1"],
            "campaign_id": o.camp}, status=201)
        conv = f"cv-cw-{unique}"
        router_peer.conversations[conv] = {
            "id": conv, "agent_id": o.users["a1"], "campaign_id": o.camp, "state": "assigned",
            "channel_type": "whatsapp", "contact_address": "+34600700777",
            "messages": [{"direction": "in", "message_id": f"m-{conv}", "text": "Hola"}]}
        context, page = await log_in(browser, base, agent.username)
        await page.get_by_test_id("tab-calls").click()
        row = page.locator(f'[data-testid="pending-in"][data-call-id="{pending["id"]}"]')
        await row.get_by_text("Parametrizar").click()
        choice = row.get_by_test_id("classify-disposition")
        await choice.locator("option", has_text="Volver a llamar").wait_for(state="attached")
        await choice.select_option(label="Volver a llamar (agenda una rellamada)")
        await check(page, "casework-05-call-disposition")
        await row.get_by_test_id("classify-submit").click()
        await page.get_by_test_id("toast-info").get_by_text("agenda una rellamada").wait_for()
        cbs = await call(crm_gw, o.tokens["a1"], "GET", f"/callbacks?users={o.users['a1']}&status=pending")
        assert any(cb["contact_id"] == o.contacts[0] for cb in cbs["items"])

        # A quick reply from the gallery goes into the reply box.
        await page.get_by_test_id("tab-conversations").click()
        await page.locator(f'[data-testid="conv-item"][data-conversation-id="{conv}"]').click()
        await page.get_by_test_id("gallery-open").locator("summary").click()
        await page.get_by_test_id("gallery-reply").get_by_text("Saludo").click()
        assert "¿En qué podemos ayudarle?" in await page.get_by_test_id("reply-text").input_value()
        await count_becomes(page.get_by_test_id("gallery-file"), 1)
        await page.get_by_test_id("gallery-file").click()
        await page.get_by_test_id("reply-attached").get_by_text("tarifas.pdf").wait_for()
        await check(page, "casework-06-gallery-in-reply")
        await context.close()
    finally:
        services_peer.answers.pop(("GET", "/campaigns"), None)

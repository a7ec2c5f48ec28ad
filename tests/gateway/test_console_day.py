"""A day in the console, in Debian's headless Chromium: the agent handles three chats and two calls, saves a
call with a disposition, creates a ticket with an action and marks it done, schedules a callback and sees
it in the calendar, and searches and downloads contacts.

The CRM is the real one (in-process, session stack) behind the gateway; conversations are played by the
router peer and announced by real NATS events, as the router publishes them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from libs.contracts import ConversationOffered
from libs.messaging import publish

from .console_kit import assert_spanish, count_becomes
from .options_kit import action_types
from .test_console_browser import eventually, log_in, shot
from .test_crm_facade import call, make_office

pytestmark = pytest.mark.browser
TZ = "Europe/Madrid"


async def test_a_day_of_an_agent(browser, crm_gw, real_crm, gateway, make_user, nats_js, unique, services_peer,
                                 router_peer):
    _, js = nats_js
    o = await make_office(crm_gw, real_crm, make_user, nats_js, unique, services_peer, contacts=2)
    agent, a1 = o.users["a1"], o.tokens["a1"]
    await action_types(crm_gw, o.tokens["admin"], "Revisar la línea")  # the catalog the ticket dialog offers
    username = (await gateway.users.get(agent)).username
    context, page = await log_in(browser, str(crm_gw.make_url("/")), username, timezone_id=TZ, locale="es-ES")
    await context.grant_permissions(["notifications"])

    # Three chats, offered while the agent works in other sections; accepted with the button or Alt+A,
    # answered (Ctrl+Intro for one), closed with a typification.
    tabs = ["contacts", "tickets", "conversations"]
    for i, tab in enumerate(tabs):
        await page.get_by_test_id(f"tab-{tab}").click()
        conv = f"cv-day-{unique}-{i}"
        phone = f"+3460070000{i}"
        router_peer.conversations[conv] = {
            "id": conv, "agent_id": agent, "campaign_id": o.camp, "state": "assigned", "channel_type": "whatsapp",
            "contact_address": phone, "messages": [{"direction": "in", "message_id": f"m-{conv}", "text": f"Hola {i}"}]}
        await publish(js, ConversationOffered(conversation_id=conv, campaign_id=o.camp, channel_id="wa",
                                              channel_type="whatsapp", contact_address=phone, agent_id=agent))
        offer = page.locator(f'[data-testid="offer"][data-conversation-id="{conv}"]')
        await offer.wait_for()
        if i == 0:
            await shot(page, "day-01-offer-over-contacts")
        if i == 1:
            await page.keyboard.press("Alt+a")
        else:
            await offer.get_by_test_id("offer-accept").click()
        await page.get_by_test_id("msg-in").get_by_text(f"Hola {i}").wait_for()
        await page.get_by_test_id("reply-text").fill(f"Buenos días, te ayudo ({i})")
        if i == 2:
            await page.get_by_test_id("reply-text").press("Control+Enter")
        else:
            await page.get_by_test_id("reply-send").click()
        await eventually(lambda c=conv: router_peer.received("POST", f"/conversations/{c}/messages"), "reply sent")
        await page.get_by_test_id("close-open").click()
        await page.get_by_test_id("close-typification").select_option("paid")
        await page.get_by_test_id("close-submit").click()
        await page.get_by_test_id("conv-view").get_by_text("Elige una conversación").wait_for()
        closed = router_peer.received("POST", f"/conversations/{conv}/close")
        assert closed[-1]["body"]["typification_id"] == "paid"
    assert await page.get_by_test_id("conv-item").count() == 0
    await assert_spanish(page, "day-chats")

    # Two calls: an inbound one, announced in green over the calendar and taken; an outbound one by
    # Click2Dial from the contacts (search and download there too), shown in blue.
    await page.get_by_test_id("tab-callbacks").click()
    voice = f"cv-day-call-{unique}"
    router_peer.conversations[voice] = {"id": voice, "agent_id": agent, "campaign_id": o.camp, "state": "assigned",
                                        "channel_type": "voice", "contact_address": "+34600700100", "messages": []}
    await publish(js, ConversationOffered(conversation_id=voice, campaign_id=o.camp, channel_id="ari",
                                          channel_type="voice", contact_address="+34600700100", agent_id=agent))
    ring = page.locator(f'[data-testid="offer"][data-conversation-id="{voice}"]')
    await ring.get_by_text("Llamada entrante").wait_for()
    await ring.get_by_test_id("offer-accept").click()
    await page.get_by_test_id("active-call-in").get_by_text("+34600700100").wait_for()
    inbound = await call(crm_gw, a1, "POST", "/calls", {"direction": "in", "phone": "+34600700100", "agent_id": agent,
                                                         "campaign_id": o.camp, "duration_s": 95}, status=201)
    await shot(page, "day-02-inbound-call")
    await page.get_by_test_id("call-ignore").click()

    await page.get_by_test_id("tab-contacts").click()
    panel = page.get_by_test_id("contacts-panel")
    await panel.get_by_test_id("filter-q").fill(f"Cliente 1 {unique}")
    await panel.get_by_test_id("contacts-search").click()
    rows = panel.get_by_test_id("contact-row")
    await count_becomes(rows, 1)
    async with page.expect_download() as info:
        await panel.get_by_test_id("contacts-download").click()
    assert (await info.value).suggested_filename == "contacts.xlsx"
    await rows.first.get_by_test_id("qa-dial").click()
    await page.get_by_test_id("active-call-out").wait_for()
    await shot(page, "day-03-outbound-call")
    made = await call(crm_gw, a1, "GET", "/calls?type=out")
    outbound = next(c for c in made["items"] if c["contact_id"] == o.contacts[1])

    # A ticket for that contact with an action, from the quick action; then the action is marked done.
    await rows.first.get_by_test_id("qa-ticket").click()
    dialog = page.locator("dialog")
    await dialog.get_by_test_id("ticket-subject").fill("Reporte problemas con telefonía")
    await dialog.get_by_test_id("ticket-add-action").click()
    await dialog.get_by_test_id("action-kind").select_option(label="Revisar la línea")
    await dialog.get_by_test_id("ticket-save").click()
    await page.get_by_test_id("toast-info").get_by_text("Ticket creado").wait_for()
    await page.get_by_test_id("tab-actions").click()
    action = page.get_by_test_id("action-row").filter(has_text="Revisar la línea")
    await action.wait_for()
    assert await action.get_attribute("data-status") == "pending"
    await action.get_by_test_id("action-edit").click()
    await action.get_by_test_id("action-edit-status").select_option("done")
    await action.get_by_test_id("action-edit-comment").fill("Línea revisada")
    await action.get_by_test_id("action-edit-save").click()
    await count_becomes(page.get_by_test_id("action-row").filter(has_text="Revisar la línea"), 0)  # pending only
    ticket = (await call(crm_gw, a1, "GET", f"/tickets?contact_id={o.contacts[1]}&status=all"))["items"][0]
    assert ticket["subject"] == "Reporte problemas con telefonía" and ticket["pending"] is False

    # Both calls saved with a disposition; a callback scheduled from the outbound one, seen in the calendar.
    await page.get_by_test_id("tab-calls").click()
    for made_call, result in ((inbound, "paid"), (outbound, "promise")):
        card = page.locator(f'[data-testid^="pending-"][data-call-id="{made_call["id"]}"]')
        await card.get_by_test_id("classify").locator(":scope > summary").click()
        if made_call is outbound:
            today = datetime.now(ZoneInfo(TZ)).date()
            await card.get_by_test_id("callback-open").click()
            await card.get_by_test_id("callback-due").fill(f"{today.isoformat()}T23:30")
            await card.get_by_test_id("callback-note").fill("Confirmar la reparación")
            await card.get_by_test_id("callback-create").click()
            await page.get_by_test_id("toast-info").get_by_text("Rellamada agendada").wait_for()
        await card.get_by_test_id("classify-disposition").select_option(result)
        await card.get_by_test_id("classify-submit").click()
        await card.wait_for(state="detached")
    saved = {c["id"]: c["disposition"] for c in (await call(crm_gw, a1, "GET", "/calls"))["items"]}
    assert (saved[inbound["id"]], saved[outbound["id"]]) == ("paid", "promise")
    await shot(page, "day-04-calls-saved")
    await page.get_by_test_id("tab-callbacks").click()
    await page.get_by_test_id("cal-day").click()
    cell = page.locator(f'[data-testid="calendar"] [data-day="{today.isoformat()}"]')
    await cell.get_by_text("Confirmar la reparación").wait_for()
    await assert_spanish(page, "day-calendar")
    await shot(page, "day-05-calendar")
    await context.close()

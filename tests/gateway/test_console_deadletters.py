"""The console's dead-letter screen in headless Chromium: an admin filters every service's dead letters, reads a
payload, replays two, and sees who replayed what; Spanish first, English on demand, axe-core clean."""

from __future__ import annotations

import asyncio

import pytest

from libs.contracts import InboundMessage
from libs.core.errors import Invalid
from libs.messaging import publish, run_consumer

from .console_kit import assert_spanish, count_becomes
from .test_console_browser import log_in, shot

pytestmark = pytest.mark.browser


async def test_admin_reads_and_replays_dead_letters_in_the_console(gw_client, browser, gateway, make_user, nats_js,
                                                                   unique):
    _, js = nats_js
    durable = f"t-ui-dlq-{unique}"
    fixed, stop, handled = asyncio.Event(), asyncio.Event(), []

    async def handler(event):
        if not fixed.is_set():
            raise Invalid(f"canal sin campaña {unique}", field="channel_id")
        handled.append(event.provider_message_id)

    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                            filter_subject=f"sb.inbound.whatsapp.ui-{unique}"))
    admin = await gateway.users.get(await make_user("admin"))
    context, page = await log_in(browser, str(gw_client.make_url("/")), admin.username)
    try:
        for n in range(2):
            await publish(js, InboundMessage(channel_id=f"ui-{unique}", channel_type="whatsapp",
                                             contact_address="+34600000012", provider_message_id=f"ui.{unique}.{n}",
                                             text=f"hola {n}"))
        await page.get_by_test_id("tab-deadletters").click()
        await page.get_by_test_id("deadletters").wait_for()
        # Filter by consumer (Enter submits the search form: the keyboard is enough).
        consumer = page.get_by_test_id("dlq-consumer")
        await consumer.fill(durable)
        rows = page.get_by_test_id("dlq-row")
        for _ in range(50):
            await consumer.press("Enter")
            try:
                await count_becomes(rows, 2, timeout_s=1.0)
                break
            except AssertionError:
                continue
        await count_becomes(rows, 2)
        assert f"canal sin campaña {unique}" in await rows.first.inner_text()
        assert "null" not in await page.get_by_test_id("dlq-list").inner_text()
        await assert_spanish(page, "dlq-list")
        await shot(page, "deadletters-list")

        first = int(await rows.nth(1).get_attribute("data-sequence"))
        await page.get_by_test_id(f"dlq-show-{first}").click()
        payload = page.get_by_test_id("dlq-payload")
        await payload.wait_for()
        assert f"ui.{unique}.0" in await payload.inner_text()

        fixed.set()
        for row in range(2):
            seq = await rows.nth(row).get_attribute("data-sequence")
            await page.get_by_test_id(f"dlq-check-{seq}").check()
        await page.get_by_test_id("dlq-replay-selected").click()
        await page.get_by_test_id("toast-info").filter(has_text="Reintentados: 2").wait_for()
        for _ in range(100):
            if len(handled) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(handled) == [f"ui.{unique}.0", f"ui.{unique}.1"]
        await page.get_by_test_id("dlq-replays").filter(has_text="1").nth(1).wait_for()
        audit = page.get_by_test_id("dlq-audit-table")
        await audit.wait_for()
        assert admin.id in await audit.inner_text()
        # The dead letter shown: a second replay is a reported duplicate, and its history names the admin.
        await page.get_by_test_id("dlq-replay-one").click()
        await page.get_by_test_id("toast-info").filter(has_text="ya reintentado: 1").wait_for()
        assert admin.id in await page.get_by_test_id("dlq-detail-replays").inner_text()
        await assert_spanish(page, "dlq-replayed")
        await shot(page, "deadletters-replayed")
        await asyncio.sleep(0.5)
        assert len(handled) == 2

        await page.get_by_test_id("lang").click()
        await page.get_by_test_id("tab-deadletters").click()
        await page.get_by_role("heading", name="Dead letters", exact=True).wait_for()
        await shot(page, "deadletters-english")
    finally:
        stop.set()
        await task
        await context.close()


async def test_the_dead_letter_tab_is_for_admins_only(gw_client, browser, gateway, make_user):
    supervisor = await gateway.users.get(await make_user("supervisor"))
    context, page = await log_in(browser, str(gw_client.make_url("/")), supervisor.username)
    try:
        await page.get_by_test_id("tab-queues").wait_for()
        assert await page.get_by_test_id("tab-deadletters").count() == 0
    finally:
        await context.close()

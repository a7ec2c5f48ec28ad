"""The console against the real router, in headless Chromium: an agent of a campaign whose conversations wait
to be taken (seed 002 queue assignment off) takes one from the list; the number is masked in the list and the
title (seed 004), and a campaign without transfers offers no transfer. Spanish, axe-clean."""

from __future__ import annotations

import pytest

from .console_kit import assert_spanish
from .routed_kit import Routed, eventually
from .test_console_browser import log_in, shot

pytestmark = pytest.mark.browser


async def test_an_agent_takes_a_waiting_conversation_from_the_list(browser, routed: Routed, unique):
    agent, token = await routed.user("agent", unique)
    snap = await routed.campaign(unique, agents=[agent], routing={"queue_assignment": False},
                                 permissions={"show_contact_number": False, "transfer_between_agents": False,
                                              "transfer_between_campaigns": False})
    await routed.available(token)
    await routed.write_in(snap, "+54 9 11 1234 3456", text="Hola, ¿me ayudan?")
    context, page = await log_in(browser, str(routed.gw.make_url("/")), routed.usernames[agent])
    try:
        item = page.get_by_test_id("waiting-item")
        await item.wait_for()
        assert "+54 9 11 •••• 3456" in await item.inner_text() and "1234" not in await item.inner_text()
        await assert_spanish(page, "cola-para-tomar")
        await shot(page, "routing-waiting-list")
        await item.get_by_test_id("take").click()
        title = page.get_by_test_id("conv-title")
        await title.wait_for()
        assert await title.inner_text() == "+54 9 11 •••• 3456"
        await page.get_by_test_id("messages").get_by_text("Hola, ¿me ayudan?").wait_for()
        # The campaign allows no transfer: nothing offers one.
        assert await page.get_by_test_id("transfer-panel").count() == 0
        await eventually(lambda: _gone(page), "the taken conversation leaves the waiting list")
        conv = await routed.assigned_to(token)
        assert conv["agent_id"] == agent
        await shot(page, "routing-taken")
    finally:
        await context.close()


async def _gone(page) -> bool:
    return await page.get_by_test_id("waiting-item").count() == 0

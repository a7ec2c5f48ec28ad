"""Issue 13 item 12 on the supervisor's board, in headless Chromium against the real router and CRM: a
conversation waiting in the queue (stranded, say, by a channel or campaign the admin is about to remove) is moved
to another campaign of the supervisor's, with the keyboard, or closed with a typification; a close without one
is refused in Spanish and nothing changes. Spanish, labelled, axe-clean."""

from __future__ import annotations

from typing import Any

import pytest

from .console_kit import assert_spanish
from .routed_kit import Routed, eventually
from .test_console_browser import log_in, shot

pytestmark = pytest.mark.browser


async def test_a_supervisor_moves_and_closes_waiting_conversations_from_the_board(browser, routed: Routed, unique):
    agent, a_token = await routed.user("agent", unique)
    sup, s_token = await routed.user("supervisor", unique)
    snap = await routed.campaign(unique, agents=[agent], supervisors=[sup], routing={"agent_capacity": 1})
    other = await routed.campaign(unique, agents=[], supervisors=[sup], suffix="-b")  # nobody to take it there
    await routed.available(a_token)
    await routed.write_in(snap, "+34600710001")
    await routed.assigned_to(a_token)  # the agent is full (capacity 1): the next two wait
    await routed.write_in(snap, "+34600710002", text="¿Hay alguien?")
    await routed.write_in(snap, "+34600710003", text="Hola")

    async def waiting() -> list[str] | None:
        items = (await routed.call(s_token, "GET", f"/queues/{snap.id}/waiting"))["items"]
        return [i["conversation_id"] for i in items] if len(items) == 2 else None

    moved, closed = await eventually(waiting, "two conversations waiting")

    async def conversation(cid: str) -> dict[str, Any]:
        return await routed.call(s_token, "GET", f"/conversations/{cid}")

    context, page = await log_in(browser, str(routed.gw.make_url("/")), routed.usernames[sup])
    try:
        await page.get_by_test_id("tab-queues").click()
        queue = page.get_by_test_id("sup-queue")
        row = queue.locator(f'[data-testid="sup-conv"][data-conversation-id="{moved}"]')
        await row.wait_for()
        # Opened and moved with the keyboard only: the summary and the button take Enter, the select is labelled.
        await row.locator("summary").focus()
        await page.keyboard.press("Enter")
        target = row.get_by_label("Mover a la campaña")
        await target.focus()
        await target.select_option(other.id)
        await row.get_by_role("button", name="Mover", exact=True).focus()
        await assert_spanish(page, "supervisor-stranded-move")
        await shot(page, "supervisor-stranded-move")
        await page.keyboard.press("Enter")

        async def in_other() -> bool:
            return (await conversation(moved))["campaign_id"] == other.id

        await eventually(in_other, "the conversation moved to the other campaign")
        assert (await conversation(moved))["state"] == "queued"  # waits there (no agent): it was never closed

        # A close without a typification is refused, in Spanish, and the conversation stays open.
        row = queue.locator(f'[data-testid="sup-conv"][data-conversation-id="{closed}"]')
        await row.locator("summary").click()
        await row.get_by_role("button", name="Cerrar con tipificación").click()
        error = page.get_by_test_id("toast-error").last
        await error.wait_for()
        await assert_spanish(page, "supervisor-stranded-close-refused")
        assert (await conversation(closed))["state"] == "queued"
        # With one of the campaign's typifications, it closes, though nobody ever answered it.
        row = queue.locator(f'[data-testid="sup-conv"][data-conversation-id="{closed}"]')
        if not await row.evaluate("(d) => d.open"):
            await row.locator("summary").click()
        await row.get_by_label("Tipificación").select_option("sold")
        await row.get_by_role("button", name="Cerrar con tipificación").click()

        async def is_closed() -> bool:
            return (await conversation(closed))["state"] == "closed"

        await eventually(is_closed, "closed by the supervisor")
        await row.wait_for(state="detached")  # off the board
        await shot(page, "supervisor-stranded-done")
    finally:
        await context.close()

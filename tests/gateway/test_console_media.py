"""The reply box's media in Debian's headless Chromium: shown only when the campaign allows media (both ways), a
labelled file button reached by the keyboard. The in-process gateway, local router and campaigns peers; the whole
path of a dropped file to the provider is ``test_console_shift.py``."""

from __future__ import annotations

import pytest

from libs.contracts import CampaignSnapshot
from libs.contracts.campaigns import Typification

from .console_kit import assert_spanish
from .test_console_browser import eventually, log_in, shot

pytestmark = pytest.mark.browser


async def test_the_reply_box_takes_files_only_when_the_campaign_allows_media(browser, gw_client, gateway, make_user,
                                                                            nats_js, router_peer, services_peer,
                                                                            unique):
    _, js = nats_js
    agent = await make_user("agent")
    kv = await js.key_value("campaigns")
    convs = {}
    for allowed in (False, True):
        camp = f"camp-media-{'on' if allowed else 'off'}-{unique}"
        snap = CampaignSnapshot(id=camp, name=f"Medios {allowed}", agents=[agent],
                                typifications=[Typification(id="sale", category="Venta")],
                                permissions={"media": allowed})
        await kv.put(camp, snap.model_dump_json().encode())
        services_peer.answers[("GET", f"/campaigns/{camp}/snapshot")] = (200, snap.model_dump(mode="json"))
        await eventually(lambda c=camp: gateway.directory.get(c), "snapshot applied")
        conv = f"cv-media-{allowed}-{unique}"
        router_peer.conversations[conv] = {
            "id": conv, "agent_id": agent, "campaign_id": camp, "state": "assigned", "channel_type": "whatsapp",
            "contact_address": f"+3460011{int(allowed)}222", "contact_name": f"Cliente {allowed}",
            "messages": [{"direction": "in", "message_id": f"m-{allowed}", "text": "Hola"}]}
        convs[allowed] = conv
    context, page = await log_in(browser, str(gw_client.make_url("/")), (await gateway.users.get(agent)).username)
    try:
        # Off: no drop zone, no file button, no attached list.
        await page.locator(f'[data-conversation-id="{convs[False]}"]').click()
        await page.get_by_test_id("reply-text").wait_for()
        await page.get_by_test_id("msg-in").get_by_text("Hola").wait_for()
        for testid in ("reply-drop", "reply-file", "reply-attached"):
            assert await page.get_by_test_id(testid).count() == 0, testid
        await assert_spanish(page, "media-off")

        # On: the drop zone with its labelled file button, reached from the reply text with the keyboard.
        await page.locator(f'[data-conversation-id="{convs[True]}"]').click()
        await page.get_by_test_id("reply-drop").wait_for()
        assert "Arrastra aquí un archivo" in await page.get_by_test_id("reply-drop").inner_text()
        button = page.get_by_label("Adjuntar archivo")
        assert await button.get_attribute("type") == "file"
        await page.get_by_test_id("reply-text").focus()
        for _ in range(8):
            await page.keyboard.press("Tab")
            if await button.evaluate("(el) => el === document.activeElement"):
                break
        else:
            raise AssertionError("the file button is not reached with Tab from the reply text")
        await assert_spanish(page, "media-on")
        await shot(page, "media-01-reply-box")
    finally:
        await context.close()

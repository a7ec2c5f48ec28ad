"""The console in headless Chromium (Debian's): an agent's shift and a supervisor's live queue.

The gateway runs in-process on the real stack; the router, campaigns and CRM are local peers speaking
their internal HTTP APIs; live events are real NATS events. Screenshots land in
``$SB_TEST_ARTIFACTS`` (default ``.data/artifacts``)/gateway.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from libs.contracts import CampaignSnapshot, ConversationMessage, ConversationOffered, ConversationQueued, CustomField
from libs.contracts.campaigns import Typification
from libs.core.validation import problems_error
from libs.messaging import publish

from .conftest import PASSWORD

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("SB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".data" / "artifacts"))


async def shot(page: Any, name: str) -> None:
    """A screenshot of the screen, after checking it with axe-core (no serious or critical violation)."""
    from .console_kit import axe_check

    await axe_check(page, name)
    folder = ARTIFACTS / "gateway"
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def eventually(check: Any, what: str) -> Any:
    for _ in range(100):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def log_in(browser: Any, base: str, username: str, password: str = PASSWORD, init_script: str = "",
                 **options: Any) -> tuple[Any, Any]:
    """A new browser context (``options``: e.g. its ``timezone_id``) logged in to the console, with its live
    events connected; ``init_script`` runs in every page before the console's own scripts."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, **options)
    context.set_default_timeout(20_000)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    await page.goto(base)
    await page.get_by_test_id("username").fill(username)
    await page.get_by_test_id("password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await page.locator("#link.up").wait_for()
    return context, page


@pytest.fixture
async def shift(gateway, make_user, nats_js, router_peer, unique) -> dict[str, Any]:
    _, js = nats_js
    agent, colleague, sup = await make_user("agent"), await make_user("agent"), await make_user("supervisor")
    camp = f"camp-ui-{unique}"
    snap = CampaignSnapshot(
        id=camp, name="Ventas", agents=[agent, colleague], supervisors=[sup],
        typifications=[Typification(id="sale", category="Venta", label="Venta cerrada")],
        custom_fields=[CustomField(key="document_number", label="DNI", required=True)])
    await (await js.key_value("campaigns")).put(camp, snap.model_dump_json().encode())
    await eventually(lambda: gateway.directory.get(camp), "snapshot applied")
    return {"agent": agent, "colleague": colleague, "sup": sup, "camp": camp, "snap": snap}


async def test_agent_shift_in_the_console(browser, gw_client, gateway, shift, nats_js, router_peer,
                                          services_peer, unique):
    _, js = nats_js
    base = str(gw_client.make_url("/"))
    agent, camp = shift["agent"], shift["camp"]
    services_peer.answers[("GET", f"/campaigns/{camp}/snapshot")] = (200, shift["snap"].model_dump(mode="json"))

    # Spanish by default, English on demand.
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto(base)
    assert await page.get_by_test_id("login-submit").inner_text() == "Entrar"
    await page.get_by_test_id("lang").click()
    assert await page.get_by_test_id("login-submit").inner_text() == "Log in"
    await page.get_by_test_id("lang").click()
    await page.get_by_test_id("username").fill((await gateway.users.get(agent)).username)
    await page.get_by_test_id("password").fill("wrong")
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("login-error").get_by_text("incorrectos").wait_for()
    await page.get_by_test_id("password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("who").wait_for()
    await page.locator("#link.up").wait_for()

    # Become available.
    await page.get_by_test_id("status-select").select_option("available")
    await page.get_by_test_id("status-apply").click()
    await page.get_by_test_id("status-now").get_by_text("Disponible").wait_for()
    assert router_peer.received("PUT", f"/agents/{agent}/status")[-1]["body"] == {"status": "available",
                                                                                  "reason": None}
    await page.get_by_test_id("status-select").select_option("break")
    await page.get_by_test_id("break-reason").select_option("Café")
    await page.get_by_test_id("status-apply").click()
    await page.get_by_test_id("status-now").get_by_text("Descanso").wait_for()
    assert router_peer.received("PUT", f"/agents/{agent}/status")[-1]["body"] == {"status": "break",
                                                                                  "reason": "Café"}

    # An offer arrives live; accept it.
    conv = f"cv-ui-{unique}"
    router_peer.conversations[conv] = {
        "id": conv, "agent_id": agent, "campaign_id": camp, "state": "assigned", "channel_type": "whatsapp",
        "contact_address": "+34600111222",
        "messages": [{"direction": "in", "message_id": "m1", "text": "Hola, necesito ayuda"}]}
    await publish(js, ConversationOffered(conversation_id=conv, campaign_id=camp, channel_id="wa",
                                          channel_type="whatsapp", contact_address="+34600111222", agent_id=agent))
    await page.get_by_test_id("offer").wait_for()
    await shot(page, "01-offer")
    await page.get_by_test_id("offer-accept").click()
    await page.get_by_test_id("msg-in").get_by_text("Hola, necesito ayuda").wait_for()
    assert router_peer.received("POST", f"/conversations/{conv}/accept")[-1]["body"] == {"agent_id": agent}

    # The customer writes again: it shows up live.
    await publish(js, ConversationMessage(conversation_id=conv, campaign_id=camp, channel_id="wa",
                                          channel_type="whatsapp", contact_address="+34600111222", agent_id=agent,
                                          message_id="m2", text="¿Sigues ahí?", seq=2))
    await page.get_by_test_id("msg-in").get_by_text("¿Sigues ahí?").wait_for()

    # Reply, with an emoji from the full picker (emojibase-data, served by the gateway), found by its
    # Spanish name.
    await page.get_by_test_id("reply-text").fill("¡Claro! Te ayudo")
    await page.get_by_test_id("emoji-open").click()
    await page.get_by_test_id("emoji").nth(100).wait_for()  # the whole first group, not a fixed handful
    await page.get_by_test_id("emoji-search").fill("ojos sonrientes feliz")
    await page.get_by_role("button", name="cara feliz con ojos sonrientes", exact=True).click()
    await page.get_by_test_id("reply-send").click()
    await page.get_by_test_id("msg-out").get_by_text("¡Claro! Te ayudo 😊").wait_for()
    sent = await eventually(lambda: router_peer.received("POST", f"/conversations/{conv}/messages"), "reply")
    assert sent[-1]["body"] == {"text": "¡Claro! Te ayudo 😊", "agent_id": agent}
    await shot(page, "02-conversation")

    # Close: refused without the required field (by the router, which closes, with the campaign's rule:
    # the peer answers what the router answers), then accepted.
    close_path = ("POST", f"/conversations/{conv}/close")
    router_peer.answers[close_path] = (400, problems_error(shift["snap"].closure_problems("sale", {})).to_dict())
    await page.get_by_test_id("close-open").click()
    await page.get_by_test_id("close-typification").select_option("sale")
    await page.get_by_test_id("close-submit").click()
    error = page.get_by_test_id("close-error")
    await error.get_by_test_id("error-text").get_by_text("Falta o no es válido el campo «DNI»").wait_for()
    assert "DNI" in await error.get_by_test_id("error-detail").inner_text()  # the server's own words
    await shot(page, "03-close-refused")
    assert router_peer.received(*close_path)[-1]["body"] == {"typification_id": "sale", "agent_id": agent}
    del router_peer.answers[close_path]
    await page.get_by_test_id("field-document_number").fill("12345678Z")
    await page.get_by_test_id("close-submit").click()
    await page.get_by_test_id("toast-info").get_by_text("Conversación cerrada").wait_for()
    closed = router_peer.received("POST", f"/conversations/{conv}/close")
    assert closed[-1]["body"] == {"typification_id": "sale", "fields": {"document_number": "12345678Z"},
                                  "agent_id": agent}
    await page.get_by_test_id("conv-view").get_by_text("Elige una conversación").wait_for()

    # Transfer another conversation to a colleague.
    conv2 = f"cv-ui2-{unique}"
    router_peer.conversations[conv2] = {
        "id": conv2, "agent_id": agent, "campaign_id": camp, "state": "assigned", "channel_type": "whatsapp",
        "contact_address": "+34600333444", "messages": []}
    await page.reload()
    await page.locator(f'[data-conversation-id="{conv2}"]').click()
    await page.get_by_test_id("transfer-open").click()
    await page.get_by_test_id("transfer-target").fill(shift["colleague"])
    await page.get_by_test_id("transfer-submit").click()
    await page.get_by_test_id("toast-info").get_by_text("Conversación transferida").wait_for()
    transferred = router_peer.received("POST", f"/conversations/{conv2}/transfer")
    assert transferred[-1]["body"] == {"to_agent_id": shift["colleague"], "agent_id": agent}
    await shot(page, "04-after-transfer")
    await context.close()


async def test_supervisor_sees_the_queue_move(browser, gw_client, gateway, shift, nats_js, router_peer):
    _, js = nats_js
    base = str(gw_client.make_url("/"))
    camp = shift["camp"]

    def queue(n: int) -> dict[str, Any]:
        return {"campaign_id": camp, "queued": n, "out_of_hours": 0,
                "items": [{"conversation_id": f"q{i}", "position": i + 1, "channel_type": "whatsapp",
                           "waiting_s": 10.0 * (n - i)} for i in range(n)],
                "agents": [{"agent_id": shift["agent"], "status": "available", "load": 1, "capacity": 3}]}

    router_peer.answers[("GET", f"/queues/{camp}")] = (200, queue(1))
    context, page = await log_in(browser, base, (await gateway.users.get(shift["sup"])).username)
    await page.get_by_test_id("tab-queues").click()
    card = page.locator(f'[data-campaign-id="{camp}"]')
    await card.get_by_test_id("queue-waiting").get_by_text("1", exact=True).wait_for()
    router_peer.answers[("GET", f"/queues/{camp}")] = (200, queue(3))
    # A queue event of the supervised campaign makes the console refresh at once.
    await publish(js, ConversationQueued(conversation_id="q2", campaign_id=camp, channel_id="wa",
                                         channel_type="whatsapp", contact_address="+34600999888"))
    await card.get_by_test_id("queue-waiting").get_by_text("3", exact=True).wait_for()
    assert await card.get_by_test_id("queue-longest").inner_text() == "30 s"
    await shot(page, "05-supervisor-queues")
    await context.close()

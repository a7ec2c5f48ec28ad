"""The admin configuration forms in headless Chromium, against the real campaigns and channels services.

campaigns and channels run in-process on the session stack behind a third in-process gateway (router and
CRM: the local peers). An admin creates a schedule with a lunch break and a holiday, a typification, a
WhatsApp channel and a campaign using them; a bad input is shown next to its field; the campaign is listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from libs.core.service import LIFECYCLE
from libs.devstack import StackInfo
from services.gateway.app import create_app

from .conftest import ServicePeer, bearer, gateway_settings, login
from .test_console_browser import log_in, shot

pytestmark = pytest.mark.browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def config_gw(stack: StackInfo, router_peer: ServicePeer, services_peer: ServicePeer
                    ) -> AsyncIterator[tuple[TestClient, str, str]]:
    """A gateway whose campaigns and channels are the real services (in-process); their URLs too."""
    from services.campaigns.app import create_app as create_campaigns
    from services.campaigns.settings import CampaignsSettings
    from services.channels.app import ADMIN_APP
    from services.channels.app import create_app as create_channels
    from services.channels.settings import ChannelsSettings

    common = {"env": "test", "nats_url": stack.nats_url, "redis_url": stack.redis_url,
              "database_url": stack.database_url}
    channels = create_channels(ChannelsSettings(**common, smtp_enabled=False, outbound_consumer=False))
    # The channels webhooks app (owning the lifecycle) starts first, then its admin app the gateway calls.
    apps = [create_campaigns(CampaignsSettings(**common, conversation_consumer=False)), channels,
            channels[ADMIN_APP]]
    servers = [TestServer(app, host="127.0.0.1") for app in apps]
    for app, server in zip(apps, servers, strict=True):
        await server.start_server()
        app[LIFECYCLE].ready = True
    campaigns_url, channels_url = (str(s.make_url("")).rstrip("/") for s in (servers[0], servers[2]))
    settings = gateway_settings(stack, router_peer.url, services_peer.url).model_copy(
        update={"campaigns_url": campaigns_url, "channels_url": channels_url})
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    yield client, campaigns_url, channels_url
    await client.close()
    for app, server in reversed(list(zip(apps, servers, strict=True))):
        await app[LIFECYCLE].drain(5)
        await server.close()


async def api(client: TestClient, token: str, method: str, path: str, body: Any = None) -> Any:
    resp = await client.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
    assert resp.status < 300, (method, path, resp.status, await resp.text())
    return await resp.json()


async def test_admin_builds_a_campaign_with_forms(config_gw, browser, make_user, gateway, unique):
    client, _, _ = config_gw
    admin_id, agent_id = await make_user("admin"), await make_user("agent")
    admin = await gateway.users.get(admin_id)
    token = (await login(client, admin.username))["access_token"]
    client_id, project_id = f"cl-{unique}", f"pr-{unique}"
    await api(client, token, "POST", "/clients", {"id": client_id, "name": f"Cliente {unique}", "status": "active"})
    await api(client, token, "POST", "/projects", {"id": project_id, "client_id": client_id,
                                                   "name": f"Proyecto {unique}", "status": "active"})
    base = str(client.make_url("/"))
    context, page = await log_in(browser, base, admin.username)
    try:
        await page.get_by_test_id("tab-admin").click()

        # A schedule: Monday 09:00-13:00 and 15:00-18:00 (a lunch break), Christmas closed.
        sched_id = f"sch-{unique}"
        form = await new_form(page, "schedules")
        await form.get_by_test_id("f-id").fill(sched_id)
        await form.get_by_test_id("f-name").fill(f"Oficina {unique}")
        await form.get_by_test_id("f-timezone").fill("Europe/Madrid")
        await form.get_by_test_id("add-weekly.1").click()
        await form.get_by_test_id("add-weekly.1").click()
        await form.get_by_test_id("f-weekly.1[0].end").fill("13:00")
        await form.get_by_test_id("f-weekly.1[1].start").fill("15:00")
        # An overnight interval is refused by the form while "past midnight" is off, next to its field.
        await form.get_by_test_id("f-weekly.1[1].end").fill("02:00")
        await form.get_by_test_id("admin-save").click()
        note = form.locator('[data-testid="field-error"][data-for="weekly.1[1].end"]')
        await note.wait_for()
        assert "medianoche" in await note.inner_text()
        await form.get_by_test_id("f-weekly.1[1].end").fill("18:00")
        await form.get_by_test_id("add-exception").click()
        await form.get_by_test_id("f-exceptions[0].day").fill("2026-12-25")
        await form.get_by_test_id("f-exceptions[0].name").fill("Navidad")
        await shot(page, "admin-schedule")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="row-schedules"][data-id="{sched_id}"]').wait_for()
        saved = await api(client, token, "GET", f"/schedules/{sched_id}")
        monday = [(iv["start"][:5], iv["end"][:5]) for iv in saved["weekly"]["1"]]
        assert monday == [("09:00", "13:00"), ("15:00", "18:00")]
        assert [(x["day"], x["closed"]) for x in saved["exceptions"]] == [("2026-12-25", True)]
        assert saved["timezone"] == "Europe/Madrid"

        # A typification in the category / subcategory tree.
        typ_id = f"ty-{unique}"
        form = await new_form(page, "typifications")
        await form.get_by_test_id("f-id").fill(typ_id)
        await form.get_by_test_id("f-category").fill(f"Venta {unique}")
        await form.get_by_test_id("f-subcategory").fill("Cerrada")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="typ-node"][data-id="{typ_id}"]').wait_for()

        # A WhatsApp channel; the secret is a password field, kept as "********" when edited untouched.
        chan_id = f"wa-{unique}"
        form = await new_form(page, "channels")
        await form.get_by_test_id("f-id").fill(chan_id)
        await form.get_by_test_id("f-name").fill("WhatsApp ventas")
        await form.get_by_test_id("f-address").fill("+34600111222")
        assert await form.get_by_test_id("f-app_secret").get_attribute("type") == "password"
        await form.get_by_test_id("f-app_secret").fill("s3cret-value")
        await form.get_by_test_id("admin-save").click()
        row = page.locator(f'[data-testid="row-channels"][data-id="{chan_id}"]')
        await row.wait_for()
        await row.get_by_test_id("row-edit").click()
        form = page.get_by_test_id("form-channels")
        assert await form.get_by_test_id("f-app_secret").input_value() == "********"
        await form.get_by_test_id("f-name").fill("WhatsApp ventas 2")
        await form.get_by_test_id("admin-save").click()
        await page.get_by_text("WhatsApp ventas 2").wait_for()
        channel = await api(client, token, "GET", f"/channels/{chan_id}")
        assert channel["name"] == "WhatsApp ventas 2" and channel["app_secret"] == "********"

        # The campaign: a send-message out of hours without its message is refused next to that field.
        camp_id = f"camp-{unique}"
        form = await new_form(page, "campaigns")
        await form.get_by_test_id("f-id").fill(camp_id)
        await form.get_by_test_id("f-name").fill(f"Ventas {unique}")
        await form.get_by_test_id("f-client_id").select_option(client_id)
        await form.locator(f'[data-testid="f-project_id"] option[value="{project_id}"]').wait_for(state="attached")
        await form.get_by_test_id("f-project_id").select_option(project_id)
        await form.get_by_test_id(f"channel-{chan_id}").check()
        await form.get_by_test_id("f-schedule_id").select_option(sched_id)
        await form.get_by_test_id("f-out_of_hours.send_message").check()
        await form.get_by_test_id(f"closing-{typ_id}").check()
        await form.get_by_test_id(f"agent-{agent_id}").check()
        await form.get_by_test_id("f-routing.strategy").select_option("round_robin")
        await form.get_by_test_id("f-routing.agent_capacity").fill("2")
        await form.get_by_test_id("admin-save").click()
        note = form.locator('[data-testid="field-error"][data-for="out_of_hours.message"]')
        await note.wait_for()
        assert "Mensaje fuera de horario" in await note.inner_text()
        assert "invalid" in (await form.get_by_test_id("f-out_of_hours.message").get_attribute("class") or "")
        await shot(page, "admin-campaign-refused")
        status, _ = await _get(client, token, f"/campaigns/{camp_id}")
        assert status == 404  # nothing half-written
        await form.get_by_test_id("f-out_of_hours.message").fill("Volvemos a las 9")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="row-campaigns"][data-id="{camp_id}"]').wait_for()
        await shot(page, "admin-campaign-listed")
        camp = await api(client, token, "GET", f"/campaigns/{camp_id}")
        assert camp["schedule_id"] == sched_id and camp["client_id"] == client_id
        assert [c["id"] for c in camp["channels"]] == [chan_id]
        assert camp["closing_typifications"] == [typ_id] and camp["agents"] == [agent_id]
        assert camp["out_of_hours"]["message"] == "Volvemos a las 9"
        assert camp["routing"]["strategy"] == "round_robin" and camp["routing"]["agent_capacity"] == 2
    except Exception:
        await shot(page, "admin-failure")
        raise
    finally:
        await context.close()


async def new_form(page: Any, resource: str) -> Any:
    """Open the admin screen of a resource and its empty form."""
    await page.get_by_test_id(f"admin-{resource}").click()
    await page.get_by_test_id("admin-new").click()
    return page.get_by_test_id(f"form-{resource}")


async def _get(client: TestClient, token: str, path: str) -> tuple[int, Any]:
    resp = await client.get(f"/api/v1{path}", headers=bearer(token))
    return resp.status, await resp.json()


async def _new_channel_form(browser: Any, client: TestClient, username: str, chan_id: str) -> tuple[Any, Any, Any]:
    """The admin, logged in in Spanish, on a new channel form with its id filled: (context, page, form)."""
    context, page = await log_in(browser, str(client.make_url("/")), username, locale="es-ES")
    await page.get_by_test_id("tab-admin").click()
    form = await new_form(page, "channels")
    await form.get_by_test_id("f-id").fill(chan_id)
    return context, page, form


async def test_admin_keeps_a_whatsapp_numbers_templates(config_gw, browser, make_user, gateway, unique):
    """Issue 13 item 6: the templates agents start conversations with are edited in the WhatsApp channel's form;
    a bad one is refused next to its field; saved, every role lists them."""
    from .console_kit import assert_spanish

    client, _, _ = config_gw
    admin = await gateway.users.get(await make_user("admin"))
    agent = await gateway.users.get(await make_user("agent"))
    chan_id = f"wa-tpl-{unique}"
    context, page, form = await _new_channel_form(browser, client, admin.username, chan_id)
    try:
        await form.get_by_test_id("f-app_secret").fill("s3cret")
        await form.get_by_test_id("template-add").click()
        first = form.get_by_test_id("template-row").nth(0)
        await first.get_by_label("Nombre de la plantilla").fill("Recordatorio de pago")
        await first.get_by_label("Texto de la plantilla").fill("Hola {{1}}, tu pago de {{2}} vence mañana.")
        await form.get_by_test_id("admin-save").click()
        await form.locator('[data-testid="field-error"][data-for="config.templates[0].name"]').wait_for()
        await shot(page, "admin-whatsapp-templates")
        await assert_spanish(page, "whatsapp templates")
        await first.get_by_label("Nombre de la plantilla").fill("recordatorio_pago")
        await form.get_by_test_id("template-add").click()
        second = form.get_by_test_id("template-row").nth(1)
        await second.get_by_label("Nombre de la plantilla").fill("oferta")
        await second.get_by_label("Texto de la plantilla").fill("Oferta para {{1}}")
        await second.get_by_label("Estado").select_option("pending")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="row-channels"][data-id="{chan_id}"]').wait_for()
        agent_token = gateway.tokens.issue(agent.principal, "access")
        listed = await api(client, agent_token, "GET", f"/channels/{chan_id}/templates")
        assert [(t["name"], t["language"], t["status"], t["parameters"]) for t in listed["items"]] == [
            ("recordatorio_pago", "es", "approved", 2), ("oferta", "es", "pending", 1)]
    finally:
        await context.close()


async def test_admin_gives_agents_their_extensions_on_a_voice_channel(config_gw, browser, make_user, gateway,
                                                                      unique):
    """Click-to-call rings the agent's extension first: the voice channel's form keeps each agent's extension and
    the dialplan context the contact is dialled from."""
    from .console_kit import assert_spanish

    client, _, _ = config_gw
    admin = await gateway.users.get(await make_user("admin"))
    agent = await make_user("agent")
    token = (await login(client, admin.username))["access_token"]
    chan_id = f"tel-{unique}"
    context, page, form = await _new_channel_form(browser, client, admin.username, chan_id)
    try:
        await form.get_by_test_id("f-type").select_option("voice")
        await form.get_by_test_id("f-config.dial_context").fill("salida")
        await form.get_by_test_id("f-app_secret").fill("forwarder-secret")
        await form.get_by_test_id("f-auth_token").fill("ari-password")
        await form.get_by_test_id("extension-add").click()
        await form.get_by_label("Agente (id)").fill(agent)
        await form.get_by_label("Extensión o número").fill("2001")
        await shot(page, "admin-voice-extensions")
        await assert_spanish(page, "voice extensions")
        await form.get_by_test_id("admin-save").click()
        row = page.locator(f'[data-testid="row-channels"][data-id="{chan_id}"]')
        await row.wait_for()
        saved = await api(client, token, "GET", f"/channels/{chan_id}")
        assert saved["config"]["agent_extensions"] == {agent: "2001"} and saved["config"]["dial_context"] == "salida"
        await row.get_by_test_id("row-edit").click()
        form = page.get_by_test_id("form-channels")
        assert await form.get_by_test_id("extension-number").input_value() == "2001"
    finally:
        await context.close()

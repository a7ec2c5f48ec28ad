"""The administrator's and supervisor's screens in Debian's headless Chromium, against the real services.

campaigns, channels, router, CRM and gateway run as ``python -m services.<name>`` on the session stack (one set
for the whole module, with one browser). An admin configures clients, projects, the field catalog, users and a
campaign with real forms (errors next to the field, no JSON editor anywhere), searches campaigns and meets seed
004's rule when inactivating; a supervisor watches live traffic on the dashboard, acts on an agent and a
conversation, reads a routing decision in sentences, downloads a report and a forecast, and runs every bulk
process of seed 000 on its own screen. Screenshots land in ``$SB_TEST_ARTIFACTS``/gateway.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, ClientTimeout, web

from libs.devstack import StackInfo, free_port
from libs.devstack.payloads import meta_signature, whatsapp_text
from libs.devstack.sandbox import create_sandbox

from .conftest import CHROMIUM
from .console_kit import RECORD_CANVAS_TEXT, assert_spanish, canvas_text, count_becomes
from .test_console_browser import log_in, shot
from .test_console_locales import english_words
from .test_console_shift import Api, Services, until

pytestmark = pytest.mark.browser
APP_SECRET = "sup-app-secret"
PASSWORD = "super-password"


@dataclass
class Office:
    services: Services
    http: ClientSession
    u: str
    channel: str
    phone_id: str
    campaign: str
    other_campaign: str
    agents: tuple[str, str]
    sup: str
    other_sup: str
    admin: Api

    @property
    def gw(self) -> str:
        return self.services.url("gateway")

    async def webhook(self, number: str, text: str) -> None:
        body = whatsapp_text(self.phone_id, number, f"wamid.sup.{uuid.uuid4().hex}", text)
        async with self.http.post(f"{self.services.url('channels')}/webhooks/whatsapp/{self.channel}", data=body,
                                  headers={"X-Hub-Signature-256": meta_signature(APP_SECRET, body),
                                           "Content-Type": "application/json"}) as r:
            assert r.status == 200, await r.text()

    async def api(self, user: str) -> Api:
        return await Api(self.http, self.gw).login(user, PASSWORD)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def office(stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Office]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is missing: run scripts/install-browser.sh")
    sandbox = create_sandbox()
    runner = web.AppRunner(sandbox)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    folder: Path = tmp_path_factory.mktemp("supervisor-services")
    os.chmod(folder, 0o755)
    u = uuid.uuid4().hex[:8]
    try:
        async with Services(stack, folder, f"http://127.0.0.1:{port}") as services, \
                ClientSession(timeout=ClientTimeout(total=20)) as http:
            admin = await Api(http, services.url("gateway")).login("admin", "admin-demo-pass")
            agents, sup, other_sup = (f"ag1-{u}", f"ag2-{u}"), f"sup-{u}", f"sup2-{u}"
            for uid, role, name in ((agents[0], "agent", f"Alicia {u}"), (agents[1], "agent", f"Bruno {u}"),
                                    (sup, "supervisor", f"Sara {u}"), (other_sup, "supervisor", f"Otro {u}")):
                await admin.call("POST", "/users", {"id": uid, "username": uid, "role": role, "password": PASSWORD,
                                                    "display_name": name})
            phone_id, channel = "1" + str(uuid.uuid4().int)[:14], f"wa-sup-{u}"
            await admin.call("POST", "/channels", {"id": channel, "type": "whatsapp", "name": f"Soporte {u}",
                                                   "phone_number_id": phone_id, "app_secret": APP_SECRET,
                                                   "access_token": "sup-token", "verify_token": "v"})
            await admin.call("POST", "/typifications", {"id": f"ok-{u}", "category": "Resuelto", "label": "Resuelto"})
            campaign, other = f"sup-{u}", f"other-{u}"
            await admin.call("POST", "/campaigns", {
                "id": campaign, "name": f"Soporte {u}", "client_id": "demo-client", "project_id": "demo-project",
                "channels": [{"id": channel, "type": "whatsapp"}], "closing_typifications": [f"ok-{u}"],
                "agents": list(agents), "supervisors": [sup],
                "permissions": {"transfer_between_agents": True, "close_without_reply": True},
                "routing": {"agent_capacity": 2, "service_level_threshold_s": 20, "service_level_target_pct": 80}})
            await admin.call("POST", "/campaigns", {
                "id": other, "name": f"Ajena {u}", "client_id": "demo-client", "project_id": "demo-project",
                "supervisors": [other_sup]})
            office = Office(services, http, u, channel, phone_id, campaign, other, agents, sup, other_sup, admin)
            supervisor = await office.api(sup)

            async def sees() -> bool:
                return campaign in (await supervisor.call("GET", "/me"))["campaigns"]

            await until(sees, "the gateway sees the campaign", services.logs)
            yield office
    finally:
        await runner.cleanup()


async def check(page: Any, name: str) -> None:
    await assert_spanish(page, name)
    assert await page.get_by_test_id("admin-json").count() == 0, f"{name}: a raw JSON editor"
    await shot(page, name)


async def test_admin_configures_everything_with_forms(office, browser):
    o, u = office, office.u
    context, page = await log_in(browser, o.gw, "admin", "admin-demo-pass")
    try:
        await page.get_by_test_id("tab-admin").click()
        for res in ("campaigns", "schedules", "typifications", "channels", "clients", "projects", "fields", "users"):
            await page.get_by_test_id(f"admin-{res}").click()
            await page.get_by_test_id("admin-new").wait_for()
            await page.wait_for_timeout(300)
            await check(page, f"admin-{res}")

        # Clients: a missing name is refused next to the field; then created.
        await page.get_by_test_id("admin-clients").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-clients")
        await form.get_by_test_id("f-id").fill(f"cli-{u}")
        await form.get_by_test_id("admin-save").click()
        await form.locator('[data-testid="field-error"][data-for="name"]').wait_for()
        assert await form.get_by_test_id("f-name").get_attribute("aria-invalid") == "true"
        await check(page, "admin-client-refused")
        await form.get_by_test_id("f-name").fill(f"Cliente {u}")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="row-clients"][data-id="cli-{u}"]').wait_for()

        # Projects of that client.
        await page.get_by_test_id("admin-projects").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-projects")
        await form.get_by_test_id("f-id").fill(f"pro-{u}")
        await form.get_by_test_id("f-client_id").select_option(f"cli-{u}")
        await form.get_by_test_id("f-name").fill(f"Proyecto {u}")
        await form.get_by_test_id("admin-save").click()
        await page.locator(f'[data-testid="row-projects"][data-id="pro-{u}"]').wait_for()

        # The field catalog: a list without options is refused next to its options; then saved with two.
        await page.get_by_test_id("admin-fields").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-fields")
        await form.get_by_test_id("f-key").fill(f"plan_{u}")
        await form.get_by_test_id("f-label").fill("Plan")
        await form.get_by_test_id("f-type").select_option("select")
        await form.get_by_test_id("admin-save").click()
        await form.locator('[data-testid="field-error"]').first.wait_for()
        await check(page, "admin-field-refused")
        for i, value in enumerate(("Básico", "Premium")):
            await form.get_by_test_id("add-option").click()
            await form.get_by_test_id(f"f-options[{i}]").fill(value)
        await form.get_by_test_id("admin-save").click()
        await page.locator('[data-testid="row-fields"]').filter(has_text=f"plan_{u}").wait_for()
        field = await o.admin.call("GET", f"/fields/plan_{u}")
        assert field["options"] == ["Básico", "Premium"]

        # Users: created with a campaign membership, password reset, then deactivated.
        await page.get_by_test_id("admin-users").click()
        await page.get_by_test_id("admin-new").click()
        form = page.get_by_test_id("form-users")
        new_user = f"nuevo-{u}"
        await form.get_by_test_id("f-id").fill(new_user)
        await form.get_by_test_id("f-username").fill(new_user)
        await form.get_by_test_id("f-display_name").fill(f"Nuevo {u}")
        await form.get_by_test_id("f-password").fill("corta")
        await form.get_by_test_id(f"f-campaigns.{o.campaign}").check()
        await form.get_by_test_id("admin-save").click()
        await form.locator('[data-testid="field-error"][data-for="password"]').wait_for()
        await check(page, "admin-user-refused")
        await form.get_by_test_id("f-password").fill("una-clave-larga")
        await form.get_by_test_id("admin-save").click()
        row = page.locator(f'[data-testid="row-users"][data-id="{new_user}"]')
        await row.wait_for()

        async def member() -> bool:
            return new_user in (await o.admin.call("GET", f"/campaigns/{o.campaign}"))["agents"]

        await until(member, "the new agent is in the campaign", o.services.logs)
        await row.get_by_test_id("row-edit").click()
        form = page.get_by_test_id("form-users")
        await form.get_by_test_id("f-password").fill("otra-clave-larga")
        await form.get_by_test_id("admin-save").click()
        await form.wait_for(state="detached")  # saved: the screen is drawn again
        assert (await Api(o.http, o.gw).login(new_user, "otra-clave-larga")).token
        await page.locator(f'[data-testid="row-users"][data-id="{new_user}"]').get_by_test_id("row-toggle").click()

        async def inactive() -> bool:
            return (await o.admin.call("GET", f"/users/{new_user}"))["active"] is False

        await until(inactive, "the user is deactivated", o.services.logs)
        await check(page, "admin-users-done")

        # Campaigns: seed 004's search, then Inactivar refused with the seed's rule (agents assigned).
        await page.get_by_test_id("admin-campaigns").click()
        search = page.get_by_test_id("camp-search")
        await search.get_by_test_id("f-campaign").fill(f"Soporte {u}")
        await search.get_by_test_id("f-status").select_option("active")
        await search.get_by_test_id("camp-consult").click()
        rows = page.get_by_test_id("row-campaigns")
        await count_becomes(rows, 1)
        await rows.filter(has_text=o.campaign).wait_for()
        await search.get_by_test_id("camp-clear").click()
        await page.locator(f'[data-testid="row-campaigns"][data-id="{o.other_campaign}"]').wait_for()
        mine = page.locator(f'[data-testid="row-campaigns"][data-id="{o.campaign}"]')
        await mine.get_by_test_id("row-activate").click()
        refusal = mine.get_by_test_id("camp-refusal")
        await refusal.get_by_text("no deberán haber agentes asignados ni conversaciones activas").wait_for()
        await check(page, "admin-campaign-refused")
        assert (await o.admin.call("GET", f"/campaigns/{o.campaign}"))["status"] == "active"

        # The campaign form: seed 002's groups; the service-level goal is saved and reaches the snapshot.
        await mine.get_by_test_id("row-edit").click()
        form = page.get_by_test_id("form-campaigns")
        await form.locator('fieldset[data-section="script_and_tabs"]').wait_for()
        for group in ("permissions", "typifications", "custom_fields", "additional_parameters", "queue_assignment",
                      "case_options", "linked_queues", "script_and_tabs"):
            assert await form.locator(f'fieldset[data-section="{group}"]').count() == 1, group
        await form.get_by_test_id("f-routing.service_level_threshold_s").fill("30")
        await form.get_by_test_id("f-case_options.send_transcripts").check()
        await form.get_by_test_id(f"linked-{o.other_campaign}").check()
        await form.get_by_test_id("f-script").fill("Saluda y pide el número de pedido.")
        await form.get_by_test_id("admin-save").click()
        await form.wait_for(state="detached")
        snap = await o.admin.call("GET", f"/campaigns/{o.campaign}/snapshot")
        assert snap["routing"]["service_level_threshold_s"] == 30
        assert snap["case_options"]["send_transcripts"] is True
        assert snap["linked_campaigns"] == [o.other_campaign] and snap["script"].startswith("Saluda")
        await check(page, "admin-campaign-saved")
    finally:
        await context.close()


async def test_supervisor_dashboard_reports_and_actions(office, browser):
    o, u = office, office.u
    a1, a2 = [await o.api(a) for a in o.agents]
    await a1.call("PUT", "/me/status", {"status": "available"})
    await a2.call("PUT", "/me/status", {"status": "available"})
    customers = ["34" + str(uuid.uuid4().int)[:9] for _ in range(5)]
    for i, c in enumerate(customers):  # capacity 2 each: four are assigned, one waits
        await o.webhook(c, f"Hola {i}")

    supervisor = await o.api(o.sup)

    async def traffic() -> Any:
        body = await supervisor.call("GET", f"/dashboard?campaign_id={o.campaign}")
        busy = sum(len(a["conversations"]) for a in body["agents"])
        return body if busy == 4 and body["waiting"] == 1 else None

    await until(traffic, "four assigned and one waiting", o.services.logs)
    # The browser is an English one (en-US): the console still writes times the Spanish way, on the charts'
    # canvases too ("09:00", never uPlot's "9am").
    context, page = await log_in(browser, o.gw, o.sup, PASSWORD, init_script=RECORD_CANVAS_TEXT, locale="en-US")
    try:
        await page.get_by_test_id("tab-queues").click()
        board = page.get_by_test_id("supervisor")
        await board.get_by_test_id("kpi-waiting").get_by_text("1", exact=True).wait_for()
        await board.locator('[data-testid="chart-queue"] canvas').wait_for()
        await board.locator('[data-testid="chart-sl"] canvas').wait_for()
        drawn = await canvas_text(page)
        assert any(re.fullmatch(r"\d\d:\d\d", x) for x in drawn), drawn
        assert english_words(" ".join(drawn)) == [], drawn
        alice = board.locator(f'[data-testid="agent-row"][data-agent-id="{o.agents[0]}"]')
        await alice.locator("b").get_by_text(f"Alicia {u}").wait_for()  # by name, not by id
        await alice.locator(".pill").get_by_text("Disponible").wait_for()
        assert await board.locator(f'[data-campaign-id="{o.other_campaign}"]').count() == 0
        await check(page, "supervisor-01-dashboard")

        # A routing decision, told in sentences.
        await alice.get_by_test_id("sup-conv").first.locator("summary").click()
        await alice.get_by_test_id("sup-explain").first.click()
        decision = page.get_by_test_id("decision").first
        await decision.get_by_text(f"Se asignó a Alicia {u}.").wait_for()
        assert "{" not in await decision.inner_text()
        await check(page, "supervisor-02-decision")

        # Transfer one of Alicia's conversations to Bruno... no room (2 of 2): refused in Spanish; close one
        # with a typification instead, which frees room for the waiting customer.
        conv = alice.get_by_test_id("sup-conv").first
        cid = await conv.get_attribute("data-conversation-id")
        await conv.get_by_test_id("close-typ").select_option(f"ok-{u}")
        await conv.get_by_test_id("sup-close").click()

        async def closed() -> Any:
            body = await supervisor.call("GET", f"/dashboard?campaign_id={o.campaign}")
            ids = [c["id"] for a in body["agents"] for c in a["conversations"]]
            return body if cid not in ids and body["waiting"] == 0 else None

        await until(closed, "closed by the supervisor; the waiting customer is assigned", o.services.logs)

        # Bruno on a break, set by the supervisor: his state changes at the router.
        bruno = board.locator(f'[data-testid="agent-row"][data-agent-id="{o.agents[1]}"]')
        await bruno.get_by_test_id("agent-state").select_option("break")
        await bruno.get_by_test_id("agent-reason").fill("Formación")
        # A choice not yet applied outlives the board's refresh (every 5 s): with the focus off the controls,
        # a re-render used to put Bruno's current state back, and "Aplicar" sent that.
        await bruno.get_by_test_id("agent-state-apply").focus()
        await page.wait_for_timeout(5500)
        assert await bruno.get_by_test_id("agent-state").input_value() == "break"
        assert await bruno.get_by_test_id("agent-reason").input_value() == "Formación"
        await bruno.get_by_test_id("agent-state-apply").click()

        async def on_break() -> Any:
            agent = await supervisor.call("GET", f"/agents/{o.agents[1]}")
            return agent["status"] == "break"

        await until(on_break, "Bruno is on a break", o.services.logs)
        await bruno.get_by_text("Descanso").first.wait_for()
        await check(page, "supervisor-03-actions")
        # The other supervisor may not.
        other = await o.api(o.other_sup)
        refused = await other.call("PUT", f"/agents/{o.agents[0]}/status", {"status": "offline"}, ok=False)
        assert refused["error"]["field"] == "agent_id"

        # Reports: today's KPIs per agent, and the CSV download with the same numbers.
        await page.get_by_test_id("tab-reports").click()
        await page.get_by_test_id("rep-interval").select_option("day")
        await page.get_by_test_id("rep-group").select_option("agent")
        await page.get_by_test_id("rep-campaign").select_option(o.campaign)
        await page.get_by_test_id("rep-run").click()
        await page.get_by_test_id("rep-row").first.wait_for()
        async with page.expect_download() as info:
            await page.get_by_test_id("rep-download-csv").click()
        lines = list(csv.DictReader(io.StringIO(Path(await (await info.value).path()).read_text("utf-8-sig"))))
        by_agent = {r["key"]: r for r in lines}
        assert int(by_agent[o.agents[0]]["answered"]) + int(by_agent[o.agents[1]]["answered"]) == 5
        await page.get_by_test_id("fc-campaign").select_option(o.campaign)
        await page.get_by_test_id("fc-run").click()
        await page.get_by_test_id("fc-row").first.wait_for()
        await check(page, "supervisor-04-reports")
    finally:
        await context.close()


async def test_every_bulk_process_on_its_own_screen(office, browser):
    o, u = office, office.u
    sup = await o.api(o.sup)
    contacts = []
    digits = str(int(u, 16))[-5:]
    for i in range(3):
        c = await o.admin.call("POST", "/contacts", {"name": f"Base {i} {u}", "phones": [f"+34612{i}{digits}"]})
        contacts.append(c["id"])
    base = await sup.call("POST", "/lists", {"name": f"Base {u}", "campaign_id": o.campaign})
    await sup.call("POST", f"/lists/{base['id']}/members", {"contact_ids": contacts})
    context, page = await log_in(browser, o.gw, o.sup, PASSWORD)
    try:
        await page.get_by_test_id("tab-processes").click()
        for kind in ("recycle", "reprocess", "reassign_callbacks", "field_usage", "import_contacts", "import_details",
                     "import_updates", "import_accounts", "associate_list", "dissociate_list", "mass_close"):
            await page.get_by_test_id(f"proc-{kind}").click()
            await page.get_by_test_id(f"form-{kind}").wait_for()
            await check(page, f"process-{kind}")

        # Recycling: the live count follows the filters; the run shows progress, its outcome and the history.
        await page.get_by_test_id("proc-recycle").click()
        form = page.get_by_test_id("form-recycle")
        await form.get_by_test_id("p-list_id").select_option(base["id"])
        count = form.get_by_test_id("recycle-count")
        expected = (await sup.call("GET", f"/processes/recycle-count?list_id={base['id']}"))["count"]
        await count.get_by_text(f"{expected} contactos a procesar", exact=True).wait_for()
        await form.get_by_test_id("p-attempts_gt").fill("5")  # nobody was tried five times: the count follows
        await count.get_by_text("0 contactos a procesar", exact=True).wait_for()
        await form.get_by_test_id("p-attempts_gt").fill("")
        await count.get_by_text(f"{expected} contactos a procesar", exact=True).wait_for()
        await form.get_by_test_id("proc-run").click()
        await form.get_by_test_id("proc-status").get_by_text("Terminado").wait_for()
        assert await form.get_by_test_id("proc-bar").get_attribute("value") == "100"
        await form.get_by_test_id("proc-outcome-csv").wait_for()
        history = page.get_by_test_id("proc-history-row").first
        await history.get_by_text(o.sup).wait_for()  # who ran it
        await check(page, "process-recycle-done")

        # Without a base: refused by the CRM, shown next to the base, in Spanish.
        await form.get_by_test_id("p-list_id").select_option("")
        await form.get_by_test_id("proc-run").click()
        await form.get_by_test_id("proc-error").locator(".error-text").wait_for()
        assert await form.get_by_test_id("p-list_id").get_attribute("aria-invalid") == "true"

        # The account import (seed 002) with its options, from a CSV.
        await page.get_by_test_id("proc-import_accounts").click()
        form = page.get_by_test_id("form-import_accounts")
        await form.get_by_test_id("p-campaign_id").select_option(o.campaign)
        data = (f"account_number,name,phone\nC1-{u},Cuenta Uno,+34699{digits[:3]}001\n"
                f"C2-{u},Cuenta Dos,+34699{digits[:3]}002\n")
        await form.get_by_test_id("p-file").set_input_files({"name": "cuentas.csv", "mimeType": "text/csv",
                                                             "buffer": data.encode()})
        await form.get_by_test_id("p-create_cases").check()
        await form.get_by_test_id("p-case_priority").select_option("high")
        await form.get_by_test_id("p-tags_mode").select_option("replace")
        await form.get_by_test_id("proc-run").click()
        await form.get_by_test_id("proc-status").get_by_text("Terminado").wait_for()
        await form.get_by_test_id("proc-status").get_by_text("creados: 2").wait_for()
        panel = await sup.call("GET", f"/work-items?campaign_id={o.campaign}")
        assert sum(1 for c in panel["items"] if c.get("priority") == "high") >= 2
        await check(page, "process-import_accounts-done")

        # Detalles into the entity "Cuenta": the batch the account import made, matched by phone; the details
        # land on the account, not on the contact.
        batch = next(b for b in (await sup.call("GET", "/batches"))["items"] if b["name"] == "cuentas.csv")
        await page.get_by_test_id("proc-import_details").click()
        form = page.get_by_test_id("form-import_details")
        await form.get_by_test_id("p-batch_id").select_option(batch["id"])
        await form.get_by_test_id("p-key").fill("phone")
        entity = form.get_by_test_id("p-entity")
        assert await entity.evaluate("(el) => el.closest('label').textContent.startsWith('Entidad')")
        await entity.select_option(label="Cuenta")
        await form.get_by_test_id("entity-help").get_by_text("cuenta del contacto").wait_for()
        data = f"phone,custom.plan\n+34699{digits[:3]}001,oro\n"
        await form.get_by_test_id("p-file").set_input_files({"name": "detalles.csv", "mimeType": "text/csv",
                                                             "buffer": data.encode()})
        await form.get_by_test_id("proc-run").click()
        await form.get_by_test_id("proc-status").get_by_text("actualizados: 1").wait_for()
        account = (await sup.call("GET", f"/accounts?campaign_id={o.campaign}"))["items"]
        assert next(a for a in account if a["number"] == f"C1-{u}")["fields"] == {"plan": "oro"}
        await check(page, "process-import_details-done")

        # The script finder by text.
        await page.get_by_test_id("proc-field_usage").click()
        form = page.get_by_test_id("form-field_usage")
        # A supervisor searches the scripts of a campaign they supervise (issue 11: never every campaign's).
        await form.get_by_test_id("p-campaign_id").select_option(o.campaign)
        await form.get_by_test_id("p-mode").select_option("text")
        await form.get_by_test_id("p-text").fill("pedido")
        await form.get_by_test_id("proc-run").click()
        await form.get_by_test_id("proc-status").get_by_text("Terminado").wait_for()
        await form.get_by_test_id("finder-matches").wait_for()
    finally:
        await context.close()
    await asyncio.sleep(0)

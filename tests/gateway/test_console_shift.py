"""A whole shift in the console, in Debian's headless Chromium, against the real services.

campaigns, channels, router, CRM and gateway run as ``python -m services.<name>`` on the session stack;
Meta's Graph API is the local sandbox peer. The test sets up its own channel, campaign and users through
the public API, so the demo tenant's state (shared by other tests) does not matter.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, ClientTimeout, web

from libs.devstack import StackInfo, free_port
from libs.devstack.payloads import meta_signature, whatsapp_text
from libs.devstack.sandbox import SENT, create_sandbox
from libs.devstack.sandbox_media import UPLOADS, add_media_store

from .conftest import CHROMIUM
from .test_console_browser import log_in, shot

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("campaigns", "channels", "router", "crm", "gateway")
APP_SECRET = "shift-app-secret"


class Services:
    """The services of this test as subprocesses; their logs go to one folder."""

    def __init__(self, stack: StackInfo, folder: Path, graph_url: str) -> None:
        self.folder = folder
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {**os.environ, **stack.env(), "SB_ENV": "test", "SB_DEMO_SEED": "true",
                    "PYTHONUNBUFFERED": "1", "SB_SHUTDOWN_BUDGET_S": "6",
                    "SB_CHANNELS_GRAPH_BASE_URL": graph_url, "SB_CHANNELS_SMTP_PORT": str(free_port()),
                    "SB_CHANNELS_BLOB_DIR": str(folder / "blobs"), "SB_CRM_BLOB_DIR": str(folder / "blobs")}
        for name, port in self.ports.items():
            self.env[f"SB_{name.upper()}_PORT"] = str(port)
            self.env[f"SB_GATEWAY_{name.upper()}_URL"] = self.url(name)
        # channels: the webhooks are public, its admin API (which the gateway calls) has its own port.
        self.env["SB_CHANNELS_ADMIN_PORT"] = str(free_port())
        self.env["SB_GATEWAY_CHANNELS_URL"] = f"http://127.0.0.1:{self.env['SB_CHANNELS_ADMIN_PORT']}"
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.uploads: list[dict[str, Any]] = []  # what WhatsApp's media store received

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def __aenter__(self) -> Services:
        for name in SERVICES:
            with (self.folder / f"{name}.log").open("ab") as log:
                self.procs[name] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", f"services.{name}", cwd=ROOT, env=self.env, stdout=log, stderr=log)
        async with ClientSession(timeout=ClientTimeout(total=1)) as http:
            for name in SERVICES:
                for _ in range(400):
                    try:
                        async with http.get(f"{self.url(name)}/readyz") as r:
                            if r.status == 200:
                                break
                    except OSError:
                        pass
                    assert self.procs[name].returncode is None, self.logs()
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{name} never became ready\n{self.logs()}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(f"==== {p.stem}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.folder.glob("*.log")))


@pytest_asyncio.fixture(loop_scope="session")
async def platform(stack: StackInfo, tmp_path: Path) -> AsyncIterator[tuple[Services, list[dict[str, Any]]]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is missing: run scripts/install-browser.sh")
    sandbox = add_media_store(create_sandbox())
    runner = web.AppRunner(sandbox)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    os.chmod(tmp_path, 0o755)
    try:
        async with Services(stack, tmp_path, f"http://127.0.0.1:{port}") as services:
            services.uploads = sandbox[UPLOADS]
            yield services, sandbox[SENT]
    finally:
        await runner.cleanup()


class Api:
    """The public API as one user."""

    def __init__(self, http: ClientSession, base: str) -> None:
        self.http, self.base, self.token = http, base, ""

    async def login(self, username: str, password: str) -> Api:
        self.token = (await self.call("POST", "/auth/login", {"username": username, "password": password}))[
            "access_token"]
        return self

    async def call(self, method: str, path: str, body: Any = None, ok: bool = True) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(method, f"{self.base}/api/v1{path}", json=body, headers=headers) as r:
            data = await r.json() if r.content_type == "application/json" else None
            if ok:
                assert r.status < 300, (method, path, r.status, data)
            return data


async def until(check: Any, what: str, logs: Any, tries: int = 150) -> Any:
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"never happened: {what}\n{logs()}")


async def test_a_whole_shift(platform, browser):
    services, sent = platform
    u = uuid.uuid4().hex[:8]
    gw = services.url("gateway")
    phone_id = "1" + str(uuid.uuid4().int)[:14]
    channel, campaign = f"wa-shift-{u}", f"shift-{u}"
    agent1, agent2, sup = f"ag1-{u}", f"ag2-{u}", f"sup-{u}"
    async with ClientSession(timeout=ClientTimeout(total=20)) as http:
        admin = await Api(http, gw).login("admin", "admin-demo-pass")
        for uid, role in ((agent1, "agent"), (agent2, "agent"), (sup, "supervisor")):
            await admin.call("POST", "/users", {"id": uid, "username": uid, "role": role,
                                                "password": "shift-password", "display_name": uid})
        await admin.call("POST", "/channels", {"id": channel, "type": "whatsapp", "name": "Shift",
                                               "phone_number_id": phone_id, "app_secret": APP_SECRET,
                                               "access_token": "shift-token", "verify_token": "v"})
        await admin.call("POST", "/campaigns", {
            "id": campaign, "name": f"Turno {u}", "client_id": "demo-client", "project_id": "demo-project",
            "status": "active", "channels": [{"id": channel, "type": "whatsapp"}],
            "closing_typifications": ["sale", "no-interest"], "transfer_typification": "transfer",
            "custom_fields": [{"key": "document_number", "required": True, "label": "Documento"}],
            "agents": [agent1, agent2], "supervisors": [sup],
            "permissions": {"transfer_between_agents": True, "emojis": True, "media": True},
        })
        supervisor = await Api(http, gw).login(sup, "shift-password")
        await until(lambda: _has_campaign(supervisor, campaign), "the gateway sees the campaign", services.logs)
        second = await Api(http, gw).login(agent2, "shift-password")

        async def webhook(number: str, text: str) -> None:
            body = whatsapp_text(phone_id, number, f"wamid.shift.{uuid.uuid4().hex}", text)
            async with http.post(f"{services.url('channels')}/webhooks/whatsapp/{channel}", data=body,
                                 headers={"X-Hub-Signature-256": meta_signature(APP_SECRET, body),
                                          "Content-Type": "application/json"}) as r:
                assert r.status == 200, await r.text()

        context, page = await log_in(browser, gw, agent1, "shift-password")
        await page.get_by_test_id("status-select").select_option("available")
        await page.get_by_test_id("status-apply").click()
        await page.get_by_test_id("status-now").get_by_text("Disponible").wait_for()

        # A WhatsApp message reaches the agent.
        customer = "34" + str(uuid.uuid4().int)[:9]
        await webhook(customer, "Hola, quiero contratar")
        item = await open_conversation(page, customer, "Hola, quiero contratar")
        await shot(page, "shift-01-assigned")

        # Reply: the provider peer receives it.
        await page.get_by_test_id("reply-text").fill("¡Hola! Te ayudo ahora mismo")
        await page.get_by_test_id("reply-send").click()
        await page.get_by_test_id("msg-out").get_by_text("¡Hola! Te ayudo ahora mismo").wait_for()

        async def delivered() -> Any:
            return [s for s in sent if s["body"].get("to") in (customer, f"+{customer}")]

        mine = await until(delivered, "the reply reaches the provider", services.logs)
        assert mine[0]["body"]["text"]["body"] == "¡Hola! Te ayudo ahora mismo"
        assert mine[0]["auth"] == "Bearer shift-token"

        # A photo dropped on the reply box: a type the channels cannot carry is refused next to the field (in
        # Spanish); the photo is uploaded, listed (a second file chosen with the button is removed again), and
        # sent: WhatsApp's media store gets the bytes, then the message names the id it answered.
        await drop_file(page, "pagina.html", "text/html", b"<html></html>")
        await page.get_by_test_id("reply-media-error").get_by_text("Ese tipo de archivo no se puede enviar").wait_for()
        await shot(page, "shift-02-media-refused")
        await drop_file(page, "foto.png", "image/png", PHOTO)
        await page.get_by_test_id("reply-attachment").filter(has_text="foto.png").wait_for()
        assert await page.get_by_test_id("reply-media-error").inner_text() == ""
        await page.get_by_label("Adjuntar archivo").set_input_files(
            files=[{"name": "nota.txt", "mimeType": "text/plain", "buffer": b"nota"}])
        extra = page.get_by_test_id("reply-attachment").filter(has_text="nota.txt")
        await extra.wait_for()
        await shot(page, "shift-03-media-attached")
        await extra.get_by_role("button", name="Quitar nota.txt").click()
        await extra.wait_for(state="detached")
        await page.get_by_test_id("reply-text").fill("Le envío la foto")
        await page.get_by_test_id("reply-send").click()
        await page.get_by_test_id("msg-out").filter(has_text="Le envío la foto").get_by_test_id("msg-media").wait_for()
        assert await page.get_by_test_id("reply-attachment").count() == 0

        async def photo() -> Any:
            return [s for s in sent if s["body"].get("to") in (customer, f"+{customer}") and s["body"].get("image")]

        [image] = await until(photo, "the photo reaches the provider", services.logs)
        [upload] = services.uploads
        assert upload["file"] == {"filename": "foto.png", "content_type": "image/png", "data": PHOTO}
        assert upload["messaging_product"] == "whatsapp" and upload["auth"] == "Bearer shift-token"
        assert image["body"]["image"] == {"id": upload["id"], "caption": "Le envío la foto"}

        # The sent photo downloads from the conversation: a labelled button, pressed from the keyboard, fetches it
        # through the API with the session's token (once the CRM keeps the reply) and saves the same bytes.
        conv_id = await item.get_attribute("data-conversation-id")
        media_path = f"/conversations/{conv_id}/media/{hashlib.sha256(PHOTO).hexdigest()}"
        first = await Api(http, gw).login(agent1, "shift-password")

        async def kept() -> bool:
            async with http.get(f"{gw}/api/v1{media_path}", headers={"Authorization": f"Bearer {first.token}"}) as r:
                return r.status == 200

        await until(kept, "the CRM keeps the reply with its photo", services.logs)
        button = page.get_by_role("button", name="Descargar foto.png")
        await button.focus()
        async with page.expect_download() as info:
            await page.keyboard.press("Enter")
        saved = await info.value
        assert saved.suggested_filename == "foto.png"
        assert Path(await saved.path()).read_bytes() == PHOTO

        # Close: refused without the required field, then closed.
        await page.get_by_test_id("close-open").click()
        await page.get_by_test_id("close-typification").select_option("sale")
        await page.get_by_test_id("close-submit").click()
        error = page.get_by_test_id("close-error")
        await error.get_by_test_id("error-text").get_by_text("Falta o no es válido el campo «Documento»").wait_for()
        assert "Documento" in await error.get_by_test_id("error-detail").inner_text()  # the server's own words
        await shot(page, "shift-04-close-refused")
        await page.get_by_test_id("field-document_number").fill("12345678Z")
        await page.get_by_test_id("close-submit").click()
        await page.get_by_test_id("toast-info").get_by_text("Conversación cerrada").wait_for()
        await item.wait_for(state="detached")

        # A second customer; transfer to the colleague.
        await second.call("PUT", "/me/status", {"status": "available"})
        customer2 = "34" + str(uuid.uuid4().int)[:9]
        await webhook(customer2, "Otra consulta")
        await open_conversation(page, customer2, "Otra consulta")
        await page.get_by_test_id("transfer-open").click()
        await page.get_by_test_id("transfer-target").fill(agent2)
        await page.get_by_test_id("transfer-submit").click()
        await page.get_by_test_id("toast-info").get_by_text("Conversación transferida").wait_for()

        async def with_colleague() -> Any:
            convs = (await second.call("GET", "/conversations"))["items"]
            return [c for c in convs if customer2 in (c.get("contact_address") or "")]

        await until(with_colleague, "the colleague has the transferred conversation", services.logs)
        await shot(page, "shift-05-transferred")

        # The supervisor sees the queue move when nobody is available.
        await page.get_by_test_id("status-select").select_option("offline")
        await page.get_by_test_id("status-apply").click()
        await second.call("PUT", "/me/status", {"status": "offline"})
        sup_context, sup_page = await log_in(browser, gw, sup, "shift-password")
        await sup_page.get_by_test_id("tab-queues").click()
        card = sup_page.locator(f'[data-campaign-id="{campaign}"]')
        await card.get_by_test_id("queue-waiting").wait_for()
        # (Going offline requeued the colleague's conversation: count from what the card shows now.)
        before = int(await card.get_by_test_id("queue-waiting").inner_text())
        await webhook("34" + str(uuid.uuid4().int)[:9], "¿Hay alguien?")
        await card.get_by_test_id("queue-waiting").get_by_text(str(before + 1), exact=True).wait_for()
        await shot(sup_page, "shift-06-supervisor-queue")
        await sup_context.close()
        await context.close()


PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16


async def drop_file(page: Any, name: str, mime: str, data: bytes) -> None:
    """Drag a file from the desktop onto the reply box (a DataTransfer with the file, as the browser makes one)."""
    await page.get_by_test_id("reply-form").evaluate("""(form, [name, mime, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: mime }));
        for (const type of ["dragenter", "dragover", "drop"]) {
            form.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }
    }""", [name, mime, base64.b64encode(data).decode()])


async def open_conversation(page: Any, customer: str, first_text: str) -> Any:
    """Accept the customer's offer, or open the conversation if it was assigned straight away."""
    item = page.get_by_test_id("conv-item").filter(has_text=customer)
    offer = page.get_by_test_id("offer").filter(has_text=customer)
    await item.or_(offer).first.wait_for()
    if await offer.count():
        await offer.get_by_test_id("offer-accept").click()
    else:
        await item.click()
    await page.get_by_test_id("msg-in").get_by_text(first_text).wait_for()
    return item


async def _has_campaign(api: Api, campaign: str) -> bool:
    return campaign in (await api.call("GET", "/me"))["campaigns"]

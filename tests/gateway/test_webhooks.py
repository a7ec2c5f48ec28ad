"""Seed 004 "Valor" and per-campaign webhooks through the gateway and the real CRM: closures reach a local HTTP
peer playing an external CRM, which checks the HMAC-SHA256 signature; each custom field arrives under its
integration key; failures are retried with backoff, then dead-lettered, and an admin sends them again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from libs.contracts import ConversationAssigned, ConversationClosed, ConversationOpened
from libs.messaging import publish
from services.crm.domain.webhooks import SIGNATURE_HEADER, verify
from services.crm.handlers import Actor, webhooks
from services.crm.settings import CrmSettings

from .options_kit import Options, make_options
from .test_crm_facade import call


class ExternalCrm:
    """A local HTTP peer: answers ``failures`` 500s first, then 200; keeps what it accepted and every signature
    check it made."""

    def __init__(self) -> None:
        self.secret = ""
        self.failures = 0
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        if not verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=int(time.time())):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=500)
        self.received.append({"event": request.headers["X-Switchboard-Event"], **json.loads(body)})
        return web.json_response({"ok": True})


@pytest_asyncio.fixture
async def peer() -> AsyncIterator[tuple[ExternalCrm, str]]:
    crm = ExternalCrm()
    app = web.Application()
    app.router.add_post("/hook", crm.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield crm, str(server.make_url("/hook"))
    await server.close()


@pytest.fixture
async def opts(crm_gw, real_crm, make_user, nats_js, unique, services_peer) -> Options:
    return await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)


async def wait_for(check: Any, what: str, timeout_s: float = 15) -> Any:
    for _ in range(int(timeout_s / 0.05)):
        if value := check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_closures_reach_the_external_crm_signed_with_integration_keys(crm_gw, opts, peer, nats_js, unique):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    ext, url = peer
    await opts.set(custom_fields=[{"key": "amount", "label": "Importe", "type": "number",
                                   "integration_key": "deal.amount"},
                                  {"key": "note", "label": "Nota", "type": "text"}])
    # Admins only; a URL that is not http(s) is refused by name.
    await call(crm_gw, a1, "GET", f"/webhooks?campaign_id={o.camp}", status=403)
    err = await call(crm_gw, admin, "POST", "/webhooks", {"campaign_id": o.camp, "url": "ftp://x.example/h"}, 400)
    assert err["error"]["field"] == "url"
    err = await call(crm_gw, admin, "POST", "/webhooks", {"campaign_id": o.camp, "url": url, "events": ["nope"]}, 400)
    assert err["error"]["field"] == "events[0]"
    hook = await call(crm_gw, admin, "POST", "/webhooks", {"campaign_id": o.camp, "url": url,
                                                           "events": ["conversation.closed", "case.closed"]}, 201)
    ext.secret = hook["secret"]
    assert "secret" not in await call(crm_gw, admin, "GET", f"/webhooks/{hook['id']}")
    ext.failures = 2  # the first two attempts fail: retried with backoff

    case = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[0],
                                                             "assigned_user": o.users["a1"]}, status=201)
    await call(crm_gw, a1, "POST", f"/work-items/{case['id']}/save",
               {"finish": True, "result": "paid", "fields": {"amount": 250, "note": "ok"}, "comment": "Pagó"})
    got = await wait_for(lambda: ext.received, "the case closure delivered")
    assert got[0]["event"] == "case.closed" and got[0]["data"]["case_id"] == case["id"]
    assert got[0]["data"]["integration"] == {"deal.amount": 250} and got[0]["campaign_id"] == o.camp
    assert ext.attempts == 3 and ext.bad_signatures == 0
    done = await call(crm_gw, admin, "GET", f"/webhooks/{hook['id']}/deliveries?status=delivered")
    assert done["items"][0]["attempts"] == 3 and done["items"][0]["last_status"] == 200

    # A conversation closed by the router: its typification and fields under their integration keys.
    _, js = nats_js
    base = {"conversation_id": f"conv-wh-{unique}", "campaign_id": o.camp, "channel_id": f"wa-{unique}",
            "channel_type": "whatsapp", "contact_address": "+34600000001"}
    for ev in (ConversationOpened(**base, seq=1), ConversationAssigned(**base, seq=2, agent_id=o.users["a1"]),
               ConversationClosed(**base, seq=3, agent_id=o.users["a1"], typification_id="promise",
                                  fields={"amount": 99})):
        await publish(js, ev)
    got = await wait_for(lambda: [r for r in ext.received if r["event"] == "conversation.closed"], "the closure")
    assert got[0]["data"]["typification_id"] == "promise" and got[0]["data"]["integration"] == {"deal.amount": 99}
    # Events the webhook does not subscribe to (opened, assigned) are not sent.
    assert {r["event"] for r in ext.received} == {"case.closed", "conversation.closed"}


async def test_a_failing_endpoint_is_dead_lettered_and_sent_again(crm_gw, opts, peer):
    o = opts.office
    admin, a1 = o.tokens["admin"], o.tokens["a1"]
    ext, url = peer
    hook = await call(crm_gw, admin, "POST", "/webhooks", {"campaign_id": o.camp, "url": url,
                                                           "events": ["case.closed"]}, 201)
    ext.secret = hook["secret"]
    ext.failures = 1000
    case = await call(crm_gw, admin, "POST", "/work-items", {"campaign_id": o.camp, "contact_id": o.contacts[1],
                                                             "assigned_user": o.users["a1"]}, status=201)
    await call(crm_gw, a1, "POST", f"/work-items/{case['id']}/save", {"finish": True, "result": "paid",
                                                                     "comment": "x"})

    async def dead() -> list[dict[str, Any]]:
        return (await call(crm_gw, admin, "GET", f"/webhooks/{hook['id']}/deliveries?status=dead"))["items"]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60  # four attempts with their backoff, on a machine busy with other tests
    while not (letters := await dead()) and loop.time() < deadline:
        await asyncio.sleep(0.1)
    assert letters and letters[0]["attempts"] == 4 and letters[0]["last_status"] == 500  # SB_CRM_WEBHOOK_MAX_ATTEMPTS
    assert ext.attempts == 4
    # An admin sends it again once the endpoint is back.
    ext.failures = 0
    retried = await call(crm_gw, admin, "POST", f"/webhook-deliveries/{letters[0]['id']}/retry")
    assert retried["status"] == "pending" and retried["attempts"] == 0
    await wait_for(lambda: ext.received, "the retried delivery")
    assert not await dead()
    await call(crm_gw, admin, "POST", f"/webhook-deliveries/{letters[0]['id']}/retry", status=409)


async def test_https_is_required_in_production() -> None:
    from tests.crm.fakes import fake_crm

    crm, _ = fake_crm()
    crm.settings = CrmSettings(env="production", external_link_secret="x" * 40)
    with pytest.raises(Exception) as refused:
        await webhooks.create(crm, {"campaign_id": "c1", "url": "http://crm.example/hook"}, Actor("admin", "admin"))
    assert getattr(refused.value, "field", None) == "url" and "https" in str(refused.value)

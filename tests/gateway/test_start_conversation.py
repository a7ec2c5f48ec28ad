"""Agents start conversations with a contact (issue 13 item 6), end to end: the gateway, the real router and CRM,
and the real channels service delivering through local peers of Meta's Graph API (WhatsApp Cloud API) and
Twilio's Messages API, which record the requests. Outside WhatsApp's 24-hour customer service window only an
approved template of the channel (``type: template`` with its body parameters) starts a conversation; inside it,
free text. Every refusal names its field and writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.smtp import SMTP

from libs.devstack import free_port
from services.router.keys import ROUTER

from ..channels.conftest import ChannelsClient, Peer, channels_settings, start_peer
from ..channels.test_email import PeerHandler
from .console_kit import assert_spanish
from .routed_kit import eventually
from .test_console_browser import log_in, shot

TEMPLATES = [
    {"name": "recordatorio_pago", "language": "es", "body": "Hola {{1}}, tu pago de {{2}} vence mañana."},
    {"name": "bienvenida", "language": "es", "body": "¡Bienvenido a Ventas!"},
    {"name": "oferta", "language": "es", "body": "Oferta para {{1}}", "status": "pending"},
]


@dataclass
class Outbound:
    channels: ChannelsClient
    graph: Peer
    twilio: Peer
    smtp: PeerHandler


def _graph_ok(request: web.Request, n: int) -> web.Response:
    return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}],
                              "messages": [{"id": f"wamid.start.{n}"}]})


def _twilio_ok(request: web.Request, n: int) -> web.Response:
    return web.json_response({"sid": f"SM{n:032d}", "status": "queued"}, status=201)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outbound(stack: Any) -> AsyncIterator[Outbound]:
    """The real channels service (its outbound consumer on), sending to local Graph and Twilio peers."""
    from services.channels.app import create_app as create_channels

    graph, graph_server = await start_peer(_graph_ok)
    twilio, twilio_server = await start_peer(_twilio_ok)
    smtp = PeerHandler()
    smtp.port = free_port()
    smtp_server = await asyncio.get_running_loop().create_server(lambda: SMTP(smtp, hostname="peer"), "127.0.0.1",
                                                                 smtp.port)
    channels = ChannelsClient(create_channels(channels_settings(stack, graph_base_url=graph.url,
                                                                twilio_base_url=twilio.url)))
    await channels.__aenter__()
    try:
        yield Outbound(channels, graph, twilio, smtp)
    finally:
        await channels.__aexit__()
        await graph_server.close()
        await twilio_server.close()
        smtp_server.close()
        await smtp_server.wait_closed()


async def _whatsapp(routed: Any, outbound: Outbound, unique: str, agent: str) -> Any:
    """A WhatsApp number with its templates and a campaign of it; the router has both."""
    resp = await outbound.channels.post("/channels", json={
        "id": f"ch-{unique}", "type": "whatsapp", "app_secret": "s", "access_token": "tok",
        "phone_number_id": f"55{abs(hash(unique)) % 10**8}", "base_url": outbound.graph.url,
        "config": {"templates": TEMPLATES}})
    assert resp.status == 201, await resp.text()
    snap = await routed.campaign(unique, agents=[agent])
    router = routed.router.app[ROUTER]
    await eventually(lambda: len(getattr(router.channels.get(f"ch-{unique}"), "templates", [])) == 3,
                     "the router holds the channel's templates")
    return snap


async def _sms(routed: Any, outbound: Outbound, unique: str, suffix: str, sender: str, **campaign: Any) -> Any:
    """A Twilio SMS number (``ch-<unique><suffix>``, the AC9 account) and a campaign of it."""
    resp = await outbound.channels.post("/channels", json={
        "id": f"ch-{unique}{suffix}", "type": "sms", "account_sid": "AC9", "auth_token": "t", "address": sender,
        "base_url": outbound.twilio.url})
    assert resp.status == 201, await resp.text()
    return await routed.campaign(unique, channel_type="sms", suffix=suffix, **campaign)


async def _sent(peer: Peer, n: int) -> list[dict[str, Any]]:
    await eventually(lambda: len(peer.requests) >= n, f"{n} requests at the provider peer")
    return peer.requests


async def test_outside_the_window_only_an_approved_template_with_every_parameter_starts_it(
        routed, outbound, unique):
    agent, token = await routed.user("agent", unique)
    snap = await _whatsapp(routed, outbound, unique, agent)
    contact = "+34600" + f"{abs(hash(unique)) % 10**6:06d}"
    before = len(outbound.graph.requests)

    async def refused(body: dict[str, Any], status: int, field: str) -> None:
        got = await routed.call(token, "POST", "/conversations", {"campaign_id": snap.id, "to": contact, **body},
                                status)
        assert got["error"]["field"] == field, (body, got)

    # The contact never wrote: free text is refused; so are unknown, unapproved and half-filled templates.
    await refused({"text": "Hola, ¿podemos hablar?"}, 409, "template")
    await refused({"template": {"name": "no_existe"}}, 400, "template.name")
    await refused({"template": {"name": "oferta", "parameters": ["Ana"]}}, 400, "template.name")
    await refused({"template": {"name": "recordatorio_pago", "parameters": ["Ana"]}}, 400,
                  "template.parameters[1]")
    await refused({"template": {"name": "recordatorio_pago", "parameters": ["Ana", " "]}}, 400,
                  "template.parameters[1]")
    await refused({"template": {"name": "recordatorio_pago", "parameters": ["Ana", "50 €", "x"]}}, 400,
                  "template.parameters")
    await refused({"template": {"name": "recordatorio_pago"}, "to": "600 111"}, 400, "to")
    await refused({"template": {"name": "recordatorio_pago", "parameters": [1, 2]}}, 400, "template.parameters[0]")
    # Nothing was written: no conversation, nothing sent.
    assert (await routed.call(token, "GET", "/conversations"))["items"] == []
    assert outbound.graph.requests[before:] == []

    started = await routed.call(token, "POST", "/conversations", {
        "campaign_id": snap.id, "to": contact,
        "template": {"name": "recordatorio_pago", "language": "es", "parameters": ["Ana", "50 €"]}}, 201)
    [req] = (await _sent(outbound.graph, before + 1))[before:]
    assert req["path"].endswith("/messages") and req["headers"]["Authorization"] == "Bearer tok"
    assert req["body"] == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": contact.lstrip("+"),
        "type": "template", "template": {"name": "recordatorio_pago", "language": {"code": "es"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "50 €"}]}]}}
    conv = await routed.assigned_to(token, contact)
    assert conv["id"] == started["conversation_id"] and conv["agent_id"] == agent
    shown = await routed.call(token, "GET", f"/conversations/{conv['id']}")
    assert [(m["direction"], m["text"]) for m in shown["messages"]] == [
        ("out", "Hola Ana, tu pago de 50 € vence mañana.")]
    # One open conversation per contact and channel: starting another names the recipient.
    await refused({"template": {"name": "bienvenida"}}, 409, "to")


async def test_inside_the_window_free_text_starts_it(routed, outbound, unique):
    agent, token = await routed.user("agent", unique)
    snap = await _whatsapp(routed, outbound, unique, agent)
    contact = "+34611" + f"{abs(hash(unique)) % 10**6:06d}"
    await routed.available(token)
    await routed.write_in(snap, contact, "Hola, quiero información")
    conv = await routed.assigned_to(token, contact)
    replied = len(outbound.graph.requests) + 1
    await routed.call(token, "POST", f"/conversations/{conv['id']}/messages", {"text": "Le envío la información"},
                      201)
    await routed.call(token, "POST", f"/conversations/{conv['id']}/close", {"typification_id": "sold"})
    await _sent(outbound.graph, replied)  # the reply is out before the new conversation's message is counted
    before = len(outbound.graph.requests)
    started = await routed.call(token, "POST", "/conversations", {
        "campaign_id": snap.id, "to": contact, "text": "¿Pudo revisar la información?"}, 201)
    [req] = (await _sent(outbound.graph, before + 1))[before:]
    assert req["body"]["type"] == "text" and req["body"]["text"]["body"] == "¿Pudo revisar la información?"
    assert (await routed.assigned_to(token, contact))["id"] == started["conversation_id"]


async def test_an_sms_conversation_and_who_may_start_one(routed, outbound, unique):
    agent, token = await routed.user("agent", unique)
    _, other_token = await routed.user("agent", unique)
    sup, sup_token = await routed.user("supervisor", unique)
    snap = await _sms(routed, outbound, unique, "-sms", "+34910000001", agents=[agent], supervisors=[sup])
    contact = "+34622" + f"{abs(hash(unique)) % 10**6:06d}"
    body = {"campaign_id": snap.id, "to": contact, "text": "Le escribimos por su solicitud"}
    # Only agents start conversations, in their own campaigns; an SMS takes no template, and text.
    await routed.call(sup_token, "POST", "/conversations", body, 403)
    assert (await routed.call(other_token, "POST", "/conversations", body, 403))["error"]["field"] == "campaign_id"
    got = await routed.call(token, "POST", "/conversations", {**body, "template": {"name": "bienvenida"}}, 400)
    assert got["error"]["field"] == "template"
    got = await routed.call(token, "POST", "/conversations", {**body, "text": None}, 400)
    assert got["error"]["field"] == "text"
    got = await routed.call(token, "POST", "/conversations", {**body, "channel_id": "nope"}, 400)
    assert got["error"]["field"] == "channel_id"
    before = len(outbound.twilio.requests)
    await routed.call(token, "POST", "/conversations", body, 201)
    [req] = (await _sent(outbound.twilio, before + 1))[before:]
    assert req["path"] == "/2010-04-01/Accounts/AC9/Messages.json"
    assert req["body"]["To"] == contact and req["body"]["From"] == "+34910000001"
    assert req["body"]["Body"] == "Le escribimos por su solicitud"


@pytest.mark.browser
async def test_the_console_dialog_starts_a_whatsapp_conversation_with_a_template(routed, outbound, browser, unique):
    """In Chromium, in Spanish, with the keyboard: "Nueva conversación" offers the number's approved templates
    with one labelled input per parameter; free text outside the window and a missing parameter are refused next
    to their field (nothing sent); the filled template goes out and the conversation opens."""
    agent, _ = await routed.user("agent", unique)
    snap = await _whatsapp(routed, outbound, unique, agent)
    channel = snap.channels[0].id
    # The gateway of this fixture reaches channels through the services peer: it answers with the real service's.
    resp = await outbound.channels.get(f"/channels/{channel}/templates")
    routed.peer.answers[("GET", f"/channels/{channel}/templates")] = (200, await resp.json())
    contact = "+34633" + f"{abs(hash(unique)) % 10**6:06d}"
    context, page = await log_in(browser, str(routed.gw.make_url("/")), routed.usernames[agent], locale="es-ES")
    await page.get_by_test_id("start-conversation").focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("dialog")
    await dialog.get_by_label("Canal").wait_for()
    assert await dialog.get_by_label("Canal").input_value() == channel
    options = await dialog.get_by_label("Plantilla aprobada").locator("option").all_inner_texts()
    assert options[1:] == ["recordatorio_pago (es)", "bienvenida (es)"]  # the pending one is not offered
    await dialog.get_by_label("Para").fill(contact)
    await dialog.get_by_label("Mensaje").fill("Hola, ¿podemos hablar?")
    before = len(outbound.graph.requests)
    await dialog.get_by_label("Para").press("Enter")
    error = dialog.get_by_test_id("start-error")
    await error.get_by_text("en WhatsApp solo se puede iniciar con una plantilla aprobada").wait_for()
    await dialog.get_by_label("Plantilla aprobada").select_option(label="recordatorio_pago (es)")
    await dialog.get_by_test_id("start-template-body").get_by_text("Hola {{1}}, tu pago de {{2}}").wait_for()
    await dialog.get_by_label("Parámetro 1").fill("Ana")
    await dialog.get_by_label("Parámetro 1").press("Enter")
    await error.get_by_text("Revisa el dato indicado: Parámetro 2").wait_for()
    second = dialog.get_by_label("Parámetro 2")
    assert await second.get_attribute("aria-invalid") == "true"
    assert await second.evaluate("(el) => el === document.activeElement")
    await shot(page, "start-01-missing-parameter")
    await assert_spanish(page, "start conversation dialog")
    assert outbound.graph.requests[before:] == []
    await page.keyboard.type("50 €")
    await page.keyboard.press("Enter")
    await page.get_by_test_id("toast-info").get_by_text("Conversación iniciada").wait_for()
    [req] = (await _sent(outbound.graph, before + 1))[before:]
    assert req["body"]["type"] == "template" and req["body"]["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Ana"}, {"type": "text", "text": "50 €"}]
    await page.locator(".conv-item", has_text=contact[-4:]).first.wait_for()
    await context.close()


async def test_an_email_conversation_goes_out_with_its_subject(routed, outbound, unique):
    agent, token = await routed.user("agent", unique)
    resp = await outbound.channels.post("/channels", json={
        "id": f"ch-{unique}-mail", "type": "email", "address": f"ventas-{unique}@example.com",
        "config": {"smtp_host": "127.0.0.1", "smtp_port": outbound.smtp.port}})
    assert resp.status == 201, await resp.text()
    snap = await routed.campaign(unique, agents=[agent], channel_type="email", suffix="-mail")
    body = {"campaign_id": snap.id, "to": f"Cliente-{unique}@Example.org", "subject": "Su pedido 1234",
            "text": "Hola, su pedido ya salió."}
    got = await routed.call(token, "POST", "/conversations", {**body, "to": "+34600111222"}, 400)
    assert got["error"]["field"] == "to"
    before = len(outbound.smtp.messages)
    started = await routed.call(token, "POST", "/conversations", body, 201)
    await eventually(lambda: len(outbound.smtp.messages) > before, "the e-mail at the SMTP peer")
    _, rcpt, mail = outbound.smtp.messages[-1]
    assert rcpt == [f"cliente-{unique}@example.org"] and mail["Subject"] == "Su pedido 1234"
    assert mail["From"] == f"ventas-{unique}@example.com" and "su pedido ya salió" in mail.get_content()
    conv = await routed.call(token, "GET", f"/conversations/{started['conversation_id']}")
    assert conv["contact_address"] == f"cliente-{unique}@example.org" and conv["agent_id"] == agent


async def test_an_agent_who_sees_numbers_masked_starts_with_the_contacts_number(routed, outbound, unique):
    """A campaign that hides numbers (seed 004): the agent picks the masked number of a contact; the gateway
    finds it among the contact's numbers, and the message goes to the real number, never shown to the agent."""
    agent, token = await routed.user("agent", unique)
    _, admin_token = await routed.user("admin", unique)
    snap = await _sms(routed, outbound, unique, "-hid", "+34910000002", agents=[agent],
                      permissions={"show_contact_number": False})
    number = "+34644" + f"{abs(hash(unique)) % 10**6:06d}"
    contact = await routed.call(admin_token, "POST", "/contacts", {"name": f"Oculta {unique}", "phones": [number]},
                                201)
    other = await routed.call(admin_token, "POST", "/contacts", {"name": f"Otra {unique}"}, 201)
    shown = (await routed.call(token, "GET", f"/contacts/{contact['id']}"))["phones"][0]["number"]
    assert "•" in shown and shown != number
    body = {"campaign_id": snap.id, "to": shown, "text": "Le escribimos por su solicitud"}
    got = await routed.call(token, "POST", "/conversations", body, 400)
    assert got["error"]["field"] == "to"
    got = await routed.call(token, "POST", "/conversations", {**body, "contact_id": other["id"]}, 400)
    assert got["error"]["field"] == "to"
    before = len(outbound.twilio.requests)
    started = await routed.call(token, "POST", "/conversations", {**body, "contact_id": contact["id"]}, 201)
    [req] = (await _sent(outbound.twilio, before + 1))[before:]
    assert req["body"]["To"] == number
    conv = await routed.call(token, "GET", f"/conversations/{started['conversation_id']}")
    assert conv["contact_address"] != number and "•" in conv["contact_address"]

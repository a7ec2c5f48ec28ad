"""E-mail: a real SMTP listener in, MIME parsing and threading, attachments as references; outbound over
SMTP to a local aiosmtpd peer with In-Reply-To and References."""

from __future__ import annotations

import asyncio
import email
import hashlib
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from libs.contracts import OutboundMessage
from libs.devstack import free_port
from libs.messaging import publish
from services.channels.app import create_app

from ..conftest import as_service
from .conftest import ChannelsClient

MAIL = Path("/work/shared/fixtures/providers/email")


@pytest.fixture(scope="module")
async def mail_app(settings_for, tmp_path_factory):
    """A channels app with its SMTP listener on a free port (the session app's consumer sends)."""
    port = free_port()
    blobs = tmp_path_factory.mktemp("blobs")
    app = create_app(settings_for(smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=port, blob_dir=blobs,
                                  outbound_consumer=False))
    async with ChannelsClient(app) as client:
        client.smtp_port = port
        client.blob_dir = blobs
        yield client


class PeerHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse_rcpt: str | None = None
        self.defer_data = 0
        self.arrived = asyncio.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt and address == self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.defer_data:
            self.defer_data -= 1
            return "451 4.7.1 greylisted, try again"
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
async def smtp_peer():
    handler = PeerHandler()
    port = free_port()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler, hostname="peer"), "127.0.0.1",
                                                            port)
    handler.port = port
    yield handler
    server.close()
    await server.wait_closed()


@pytest.fixture
async def mail_channel(mail_app, smtp_peer, unique):
    cid = f"mail-{unique}"
    resp = await mail_app.post("/channels", json={
        "id": cid, "type": "email", "name": "Atención", "address": f"care-{unique}@example.com",
        "config": {"smtp_host": "127.0.0.1", "smtp_port": smtp_peer.port}})
    assert resp.status == 201, await resp.text()
    return cid


async def _deliver(mail_app, raw: bytes, to: str) -> None:
    await aiosmtplib.send(raw, sender="sender@example.org", recipients=[to], hostname="127.0.0.1",
                          port=mail_app.smtp_port, start_tls=False)


async def test_rfc5322_thread_arrives_with_thread_refs(mail_app, mail_channel, streams, unique):
    to = f"care-{unique}@example.com"
    for name in ("rfc5322_A2_1_original", "rfc5322_A2_2_reply", "rfc5322_A2_3_reply_to_reply"):
        await _deliver(mail_app, (MAIL / f"{name}.eml").read_bytes(), to.upper())
    stored = [m for _, m in await streams.read("INBOUND", f"sb.inbound.email.{mail_channel}")]
    assert [(m["provider_message_id"], m["reply_to"], m["thread_ref"]) for m in stored] == [
        ("1234@local.machine.example", None, "1234@local.machine.example"),
        ("3456@example.net", "1234@local.machine.example", "1234@local.machine.example"),
        ("abcd.1234@local.machine.test", "3456@example.net", "1234@local.machine.example")]
    first = stored[0]
    assert first["contact_address"] == "jdoe@machine.example" and first["contact_name"] == "John Doe"
    assert first["text"] == 'This is a message just to say hello.\nSo, "Hello".'
    assert first["extra"]["subject"] == "Saying Hello" and first["sent_at"].startswith("1997-11-21T09:55:06")


async def test_resent_mail_is_stored_once(mail_app, mail_channel, streams, unique):
    raw = (MAIL / "chatwoot_mail_with_references.eml").read_bytes()
    for _ in range(2):
        await _deliver(mail_app, raw, f"care-{unique}@example.com")
    [(_, m)] = await streams.read("INBOUND", f"sb.inbound.email.{mail_channel}")
    assert m["thread_ref"] == "4e6e35f5a38b4_479f13bb90078178@small-app-01.mail"
    assert m["text"] == "Email with references header" and m["contact_name"] == "Sony Mathew"


async def test_html_and_attachments_are_stored_as_references(mail_app, mail_channel, streams, unique):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ana <ana@example.org>", f"care-{unique}@example.com", "Factura"
    msg["Message-ID"] = f"<att-{unique}@example.org>"
    msg.set_content("Adjunto la factura.")
    msg.add_alternative("<p>Adjunto la <b>factura</b>.</p>", subtype="html")
    pdf = b"%PDF-1.4 fake invoice " + unique.encode()
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="factura.pdf")
    await _deliver(mail_app, msg.as_bytes(), f"care-{unique}@example.com")
    [(_, m)] = await streams.read("INBOUND", f"sb.inbound.email.{mail_channel}")
    assert m["text"] == "Adjunto la factura."
    by_kind = {r["kind"]: r for r in m["media"]}
    sha = hashlib.sha256(pdf).hexdigest()
    assert by_kind["file"] == {"kind": "file", "url": f"blob:{sha}", "provider_id": sha,
                               "mime_type": "application/pdf", "filename": "factura.pdf", "caption": None}
    assert (mail_app.blob_dir / "media" / sha[:2] / sha).read_bytes() == pdf
    html_sha = by_kind["html_body"]["provider_id"]
    assert b"<b>factura</b>" in (mail_app.blob_dir / "media" / html_sha[:2] / html_sha).read_bytes()
    assert "factura.pdf" not in str(m["text"])  # bytes never travel in the event
    resp = await mail_app.get(f"/blobs/{sha}")
    assert resp.status == 200 and await resp.read() == pdf
    assert (await mail_app.get("/blobs/../../etc/passwd")).status == 404
    assert (await mail_app.get(f"/blobs/{'0' * 64}")).status == 404


async def test_unknown_recipient_oversized_and_senderless_mail_are_refused(mail_app, mail_channel, streams,
                                                                          unique):
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await _deliver(mail_app, (MAIL / "rfc5322_A2_1_original.eml").read_bytes(), f"nobody-{unique}@example.com")
    with pytest.raises(aiosmtplib.SMTPResponseException) as err:
        await _deliver(mail_app, b"Subject: no sender\r\n\r\nhello\r\n", f"care-{unique}@example.com")
    assert err.value.code == 554
    # Text PostgreSQL cannot store: refused for good (554 naming where), not deferred for the sender to retry.
    for raw, where in ((b"From: a@example.org\r\nSubject: x\r\n\r\nhola\x00 mundo\r\n", "body"),
                       (b"From: a@example.org\r\nMessage-ID: <a\x00b@x>\r\n\r\nhola\r\n", "Message-ID")):
        with pytest.raises(aiosmtplib.SMTPResponseException) as err:
            await _deliver(mail_app, raw, f"care-{unique}@example.com")
        assert err.value.code == 554 and where in err.value.message, err.value.message
    assert await streams.count("INBOUND", f"sb.inbound.email.{mail_channel}") == 0


async def test_reply_goes_out_with_threading_headers(channels, mail_app, mail_channel, smtp_peer, streams, nats_js,
                                                     unique):
    to = f"care-{unique}@example.com"
    for name in ("rfc5322_A2_1_original", "rfc5322_A2_2_reply"):
        await _deliver(mail_app, (MAIL / f"{name}.eml").read_bytes(), to)
    cmd = OutboundMessage(channel_id=mail_channel, channel_type="email", to="smith@home.example",
                          text="Gracias por su respuesta.", reply_to="3456@example.net", conversation_id="c-mail")
    await publish(nats_js[1], cmd)
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{mail_channel}")
    assert st["status"] == "sent" and st["provider_message_id"] == f"{cmd.id}@example.com"
    [(mail_from, rcpts, msg)] = smtp_peer.messages
    assert mail_from == to and rcpts == ["smith@home.example"]
    assert msg["In-Reply-To"] == "<3456@example.net>"
    assert msg["References"] == "<1234@local.machine.example> <3456@example.net>"
    assert msg["Subject"] == "Re: Saying Hello" and msg["Message-ID"] == f"<{cmd.id}@example.com>"
    assert msg.get_content().strip() == "Gracias por su respuesta."


async def test_smtp_deferral_is_retried_and_refusal_is_dead_lettered(channels, mail_channel, smtp_peer, streams,
                                                                     nats_js):
    smtp_peer.defer_data = 1
    cmd = OutboundMessage(channel_id=mail_channel, channel_type="email", to="a@example.org", text="hola",
                          subject_line="Consulta")
    await publish(nats_js[1], cmd)
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{mail_channel}")
    assert st["outbound_id"] == cmd.id
    assert len(smtp_peer.messages) == 1 and smtp_peer.messages[0][2]["Subject"] == "Consulta"
    smtp_peer.refuse_rcpt = "gone@example.org"
    bad = OutboundMessage(channel_id=mail_channel, channel_type="email", to="gone@example.org", text="hola")
    await publish(nats_js[1], bad)
    found = await streams.wait_read("DEADLETTER", "sb.dlq.OUTBOUND.channels-outbound", 1,
                                    where=lambda m: m.get("id") == bad.id)
    assert found and "550 5.1.1 mailbox unavailable: user unknown" in found[0][0]["Sb-Dlq-Reason"]


async def test_an_agents_reply_through_the_router_keeps_the_subject_and_the_thread(
        channels, mail_app, mail_channel, smtp_peer, stack, nats_js, unique):
    """Issue 13 item 11: the router answers the customer's latest e-mail, so the reply carries "Re: <subject>",
    In-Reply-To and References, and the customer's client shows one thread."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from libs.contracts import CampaignSnapshot
    from libs.core.service import LIFECYCLE
    from services.router.app import create_app as create_router
    from services.router.keys import ROUTER_READY
    from services.router.settings import RouterSettings

    agent = f"agent-mail-{unique}"
    snap = CampaignSnapshot(id=f"mail-camp-{unique}", name="Correo", agents=[agent],
                            channels=[{"id": mail_channel, "type": "email"}])  # type: ignore[list-item]
    await (await nats_js[1].key_value("campaigns")).put(snap.id, snap.model_dump_json().encode())
    app = create_router(RouterSettings(nats_url=stack.nats_url, redis_url=stack.redis_url,
                                       database_url=stack.database_url, env="test", log_level="warning", crm_url=""))
    async with TestClient(TestServer(app), **as_service("router")) as router:
        await asyncio.wait_for(app[ROUTER_READY].wait(), 20)
        app[LIFECYCLE].ready = True
        assert (await router.put(f"/agents/{agent}/status", json={"status": "available"})).status == 200
        to = f"care-{unique}@example.com"

        async def reply(text: str, n: int) -> EmailMessage:
            for _ in range(200):
                items = (await (await router.get("/conversations", params={"agent_id": agent})).json())["items"]
                conv = (await (await router.get(f"/conversations/{items[0]['id']}")).json()) if items else None
                if conv and len([m for m in conv["messages"] if m["direction"] == "in"]) == n:
                    break
                await asyncio.sleep(0.05)
            resp = await router.post(f"/conversations/{items[0]['id']}/messages",
                                     json={"agent_id": agent, "text": text})
            assert resp.status == 201, await resp.text()
            for _ in range(200):
                if len(smtp_peer.messages) == n:
                    return smtp_peer.messages[-1][2]
                await asyncio.sleep(0.05)
            raise AssertionError("the reply never reached the SMTP peer")

        await _deliver(mail_app, (MAIL / "rfc5322_A2_1_original.eml").read_bytes(), to)
        first = await reply("Hola John, ¿en qué le ayudo?", 1)
        assert first["Subject"] == "Re: Saying Hello" and first["To"] == "jdoe@machine.example"
        assert first["In-Reply-To"] == "<1234@local.machine.example>"
        assert first["References"] == "<1234@local.machine.example>"
        # The customer answers in the thread; the agent's next reply answers that message.
        await _deliver(mail_app, (MAIL / "rfc5322_A2_3_reply_to_reply.eml").read_bytes(), to)
        second = await reply("Quedo atento.", 2)
        assert second["Subject"] == "Re: Saying Hello"
        assert second["In-Reply-To"] == "<abcd.1234@local.machine.test>"
        assert second["References"].split()[-1] == "<abcd.1234@local.machine.test>"
        assert "<1234@local.machine.example>" in second["References"]

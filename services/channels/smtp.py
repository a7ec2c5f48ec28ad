"""The SMTP listener (aiosmtpd) for inbound e-mail, served on the service's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from libs.core.errors import AppError, Transient
from libs.core.logging import get_logger
from services.channels.handlers import EmailIngest

log = get_logger(__name__)


class MailHandler:
    """aiosmtpd hooks: only addresses of active e-mail channels are accepted; a message is answered 250
    only after JetStream acknowledged it, 451 when it could not be stored (the sending server retries)."""

    def __init__(self, ingest: EmailIngest) -> None:
        self.ingest = ingest

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.ingest.accepts(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            items = await self.ingest.receive(data, envelope.rcpt_tos)
        except Transient as exc:
            log.warning("email_deferred", error=exc.message)
            return "451 4.3.0 temporarily unable to accept the message, try again later"
        except AppError as exc:
            log.info("email_rejected", error=exc.message)
            return f"554 5.6.0 {exc.message}"
        except Exception:
            log.exception("email_failed")
            return "451 4.3.0 internal error, try again later"
        log.info("email_received", message_id=items[0].provider_message_id if items else None,
                 channels=[i.channel_id for i in items])
        return "250 2.0.0 OK: queued"


def smtp_ctx(ingest_key: web.AppKey[EmailIngest], *, host: str, port: int, hostname: str,
             max_bytes: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` serving SMTP while the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        handler = MailHandler(app[ingest_key])

        def factory() -> Any:
            return SMTP(handler, hostname=hostname, data_size_limit=max_bytes, enable_SMTPUTF8=True,
                        decode_data=False, timeout=60)

        server = await asyncio.get_running_loop().create_server(factory, host, port)
        log.info("smtp_started", host=host, port=port)
        yield
        server.close()
        await server.wait_closed()

    return ctx

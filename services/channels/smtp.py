"""The SMTP listener (aiosmtpd) for inbound e-mail, served on the service's own event loop, with every session
bounded: message size, recipients, concurrent sessions, idle time, session time and commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from libs.core.errors import AppError, Transient
from libs.core.logging import get_logger
from services.channels.handlers import EmailIngest

log = get_logger(__name__)


@dataclass(frozen=True)
class SmtpLimits:
    """What one SMTP client may do.

    Attributes:
        max_message_bytes: a message's DATA (552 beyond; a line without end is cut there and the session closed).
        max_recipients: RCPT TO of one message (452 beyond).
        max_sessions: sessions open at once (421 to the next one, closed).
        idle_timeout_s: between commands, and for a whole DATA transfer (closed).
        session_timeout_s: a session's whole life, however busy (421, closed).
        max_commands: times each command may be sent in one session (421, closed).
    """

    max_message_bytes: int = 10 * 1024 * 1024
    max_recipients: int = 50
    max_sessions: int = 100
    idle_timeout_s: float = 60.0
    session_timeout_s: float = 600.0
    max_commands: int = 100


# aiosmtpd drops DATA beyond its limit but keeps the pieces of a line that never ends: past the limit and this
# much more (one line's worth), the session is closed instead.
DATA_SLACK = 64 * 1024


class Sessions:
    """The SMTP sessions open now (one counter per listener)."""

    def __init__(self) -> None:
        self.open = 0


class BoundedSMTP(SMTP):
    """aiosmtpd's SMTP with the limits aiosmtpd lacks: concurrent sessions, a session deadline, and DATA bytes
    counted as they arrive (its own count keeps a line without CRLF in memory, however long)."""

    def __init__(self, handler: Any, *, limits: SmtpLimits, sessions: Sessions, **kwargs: Any) -> None:
        super().__init__(handler, data_size_limit=limits.max_message_bytes, timeout=limits.idle_timeout_s,
                         command_call_limit=limits.max_commands, **kwargs)
        self.limits, self.sessions = limits, sessions
        self._refused = False
        self._counted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._data_bytes: int | None = None  # counting while a DATA transfer is under way

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._counted:  # (not again for STARTTLS, which calls this a second time)
            if self.sessions.open >= self.limits.max_sessions:
                self._refused = True
                log.warning("smtp_session_refused", open=self.sessions.open)
                transport.write(b"421 4.3.2 too many connections, try again later\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
            self.sessions.open += 1
            self._counted = True
            self._deadline = asyncio.get_running_loop().call_later(self.limits.session_timeout_s, self._expired)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted:
            self.sessions.open -= 1
            self._counted = False
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(error)

    def _close(self, reply: bytes, event: str) -> None:
        log.warning(event, peer=self.session.peer if self.session else None)
        if self.transport is not None:
            self.transport.write(reply)  # type: ignore[attr-defined]
            self.transport.close()

    def _expired(self) -> None:
        self._close(b"421 4.4.2 session too long, closing\r\n", "smtp_session_expired")

    def data_received(self, data: bytes) -> None:
        if self._data_bytes is not None:
            self._data_bytes += len(data)
            if self._data_bytes > self.limits.max_message_bytes + DATA_SLACK:
                self._data_bytes = None
                self._close(b"552 5.3.4 message too big, closing\r\n", "smtp_message_too_big")
                return
        super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        self._data_bytes = 0
        try:
            await super().smtp_DATA(arg)
        finally:
            self._data_bytes = None


class MailHandler:
    """aiosmtpd hooks: only addresses of active e-mail channels are accepted; a message is answered 250
    only after JetStream acknowledged it, 451 when it could not be stored (the sending server retries)."""

    def __init__(self, ingest: EmailIngest, max_recipients: int = SmtpLimits.max_recipients) -> None:
        self.ingest = ingest
        self.max_recipients = max_recipients

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 too many recipients (at most {self.max_recipients})"
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
             limits: SmtpLimits) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` serving SMTP while the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        handler = MailHandler(app[ingest_key], limits.max_recipients)
        sessions = Sessions()

        def factory() -> Any:
            return BoundedSMTP(handler, limits=limits, sessions=sessions, hostname=hostname, enable_SMTPUTF8=True,
                               decode_data=False)

        server = await asyncio.get_running_loop().create_server(factory, host, port)
        log.info("smtp_started", host=host, port=port)
        yield
        server.close()
        await server.wait_closed()

    return ctx

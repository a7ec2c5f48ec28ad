"""Outbound e-mail over SMTP (aiosmtplib), with threading headers and bounded retries."""

from __future__ import annotations

import aiosmtplib

from libs.contracts import OutboundMessage
from libs.core.errors import Invalid
from services.channels.adapters.blobs import PREFIX, MediaBlobs
from services.channels.adapters.postgres import EmailThreadRepository
from services.channels.adapters.providers.http import RetryableStatus, RetryPolicy, retrying
from services.channels.domain.channels import Channel
from services.channels.domain.email import Attachment, build_message, reply_subject

_TRANSIENT = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError,
              OSError)


class SmtpSender:
    """Sends through the channel's SMTP server. The Message-ID is derived from the command id, so a
    redelivered command produces the same message."""

    def __init__(self, threads: EmailThreadRepository, blobs: MediaBlobs, policy: RetryPolicy,
                 timeout_s: float = 30.0) -> None:
        self.threads = threads
        self.blobs = blobs
        self.policy = policy
        self.timeout_s = timeout_s

    async def send(self, ch: Channel, msg: OutboundMessage) -> list[str]:
        """Send; return the Message-ID (without angle brackets).

        Raises:
            Invalid: no SMTP host, unknown attachment, or the server refused permanently (5xx), with its reply.
            Transient: the server kept failing.
        """
        cfg = ch.email_config()
        if not cfg.smtp_host:
            raise Invalid(f"channel {ch.id} has no smtp_host", field="config.smtp_host")
        domain = ch.address.rsplit("@", 1)[-1] or "switchboard.local"
        message_id = f"{msg.id}@{domain}"
        subject, refs = msg.subject_line or "", []
        if msg.reply_to:
            found = await self.threads.find(ch.id, msg.reply_to)
            if found:
                subject = msg.subject_line or reply_subject(found[0])
                refs = found[1]
            refs = [*refs, msg.reply_to] if msg.reply_to not in refs else refs
        attachments = [await self._attachment(m.url, m.mime_type, m.filename) for m in msg.media
                       if m.url and m.url.startswith(PREFIX)]
        links = "\n".join(m.url for m in msg.media if m.url and not m.url.startswith(PREFIX))
        email = build_message(sender=ch.address, sender_name=ch.name, to=msg.to, cc=msg.cc, subject=subject,
                              text="\n\n".join(x for x in (msg.text, links) if x), message_id=message_id,
                              in_reply_to=msg.reply_to, references=refs, attachments=attachments)
        recipients = [msg.to, *msg.cc, *msg.bcc]

        async def once() -> None:
            try:
                await aiosmtplib.send(email, sender=ch.address, recipients=recipients, hostname=cfg.smtp_host,
                                      port=cfg.smtp_port, username=cfg.smtp_username,
                                      password=ch.secret("smtp_password"), use_tls=cfg.smtp_tls,
                                      start_tls=cfg.smtp_starttls, timeout=self.timeout_s)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
                raise Invalid(f"SMTP server refused the recipients: {refused}", field="to") from exc
            except aiosmtplib.SMTPResponseException as exc:
                if 400 <= exc.code < 500:
                    raise RetryableStatus(exc.code, exc.message, None) from exc
                raise Invalid(f"SMTP server refused the message: {exc.code} {exc.message}") from exc

        await retrying(once, self.policy, _TRANSIENT)
        await self.threads.record(ch.id, message_id, subject, refs, "out")
        return [message_id]

    async def _attachment(self, url: str, mime: str | None, filename: str | None) -> Attachment:
        data = await self.blobs.get(url)
        if data is None:
            raise Invalid(f"attachment {url} is not in the blob store", field="media")
        return Attachment(filename=filename, mime_type=mime or "application/octet-stream", data=data)

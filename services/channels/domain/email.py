"""E-mail: MIME parsing (text, HTML, attachments), threading by ``In-Reply-To``/``References``, and the
headers of a reply."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from libs.contracts import InboundMessage, MediaRef
from libs.core.errors import Invalid
from libs.core.validation import check_text

_MSG_ID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str | None) -> list[str]:
    """The ids of a ``Message-ID``/``In-Reply-To``/``References`` header, without angle brackets."""
    if not value:
        return []
    found = _MSG_ID.findall(str(value))
    return found or [v for v in str(value).split() if v]


@dataclass
class Attachment:
    filename: str | None
    mime_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str
    from_addr: str
    from_name: str | None
    subject: str
    sent_at: datetime | None
    text: str | None
    html: str | None
    in_reply_to: str | None
    references: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def thread_ref(self) -> str:
        """The root of the thread: the first reference, else what it replies to, else itself."""
        return (self.references[:1] or [self.in_reply_to or self.message_id])[0]


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse an RFC 5322 message.

    Raises:
        Invalid: no usable ``From`` address.
    """
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    try:
        pairs = getaddresses([str(msg.get("From", ""))])
    except (TypeError, ValueError, IndexError):
        pairs = []
    name, addr = pairs[0] if pairs else ("", "")
    if "@" not in addr:
        raise Invalid("the message has no valid From address", field="From")
    ids = message_ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else f"{hashlib.sha256(raw).hexdigest()[:32]}@switchboard.generated"
    reply_ids = message_ids(_header(msg, "In-Reply-To"))
    text, html = _body(msg, "plain"), _body(msg, "html")
    if text is None and html is not None:
        text = html_to_text(html)
    mail = ParsedMail(
        message_id=message_id, from_addr=addr.lower(), from_name=name or None,
        subject=_header(msg, "Subject") or "", sent_at=_date(_header(msg, "Date")),
        text=text.replace("\r\n", "\n").strip() if text else None, html=html,
        in_reply_to=reply_ids[0] if reply_ids else None,
        references=message_ids(_header(msg, "References")), attachments=_attachments(msg))
    _storable(mail)
    return mail


def _storable(mail: ParsedMail) -> None:
    """Refuse a message carrying text PostgreSQL cannot store (RFC 5322 has no NUL in a message either): else it
    would fail every later step, and the sending server would retry it for days."""
    fields = {"From": mail.from_addr, "From.name": mail.from_name, "Message-ID": mail.message_id,
              "Subject": mail.subject, "body": mail.text, "body.html": mail.html, "In-Reply-To": mail.in_reply_to,
              **{f"References[{i}]": r for i, r in enumerate(mail.references)},
              **{f"attachments[{i}].filename": a.filename for i, a in enumerate(mail.attachments)}}
    for name, value in fields.items():
        if value is not None:
            check_text(value, name)


def to_inbound(channel_id: str, mail: ParsedMail, media: list[MediaRef]) -> InboundMessage:
    return InboundMessage(channel_id=channel_id, channel_type="email", contact_address=mail.from_addr,
                          contact_name=mail.from_name, provider_message_id=mail.message_id, text=mail.text,
                          media=media, reply_to=mail.in_reply_to, sent_at=mail.sent_at,
                          thread_ref=mail.thread_ref, extra={"subject": mail.subject[:500]})


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


def build_message(*, sender: str, sender_name: str, to: str, cc: list[str], subject: str, text: str,
                  message_id: str, in_reply_to: str | None, references: list[str],
                  attachments: list[Attachment]) -> EmailMessage:
    """An outbound e-mail with correct threading headers."""
    msg = EmailMessage()
    msg["From"] = Address(display_name=sender_name, addr_spec=sender) if sender_name else sender
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    msg.set_content(text or "")
    for att in attachments:
        major, _, minor = att.mime_type.partition("/")
        msg.add_attachment(att.data, maintype=major or "application", subtype=minor or "octet-stream",
                           filename=att.filename)
    return msg


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except (TypeError, ValueError, IndexError):
        return None
    return str(value) if value is not None else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _body(msg: EmailMessage, kind: str) -> str | None:
    part = msg.get_body(preferencelist=(kind,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else None


def _attachments(msg: EmailMessage) -> list[Attachment]:
    out: list[Attachment] = []
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        out.append(Attachment(filename=part.get_filename(), mime_type=part.get_content_type(), data=payload))
    return out


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts)).strip()

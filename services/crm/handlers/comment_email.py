"""A comment e-mailed to the contact (seed 001 1.3.2 "Comentario": CC, BCC, attachments, the call's charges), from a
case or a call, through the campaign's rules: who may receive it (the contact; other contacts only with
``interact_with_other_contact_data``; other addresses only in ``comment_email_domains``) and through which
channel (``interactions_only_from_assigned_channels``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.contracts import CampaignSnapshot, MediaRef, OutboundMessage
from libs.core.errors import Forbidden, Invalid
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.contacts import BadAddress, normalize_email
from services.crm.handlers import Actor, Crm
from services.crm.handlers.followups import email_channel


def _emails(v: list[str]) -> list[str]:
    out = []
    for i, raw in enumerate(v):
        try:
            out.append(normalize_email(raw))
        except BadAddress as exc:
            raise ValueError(f"item {i}: {exc}") from None
    return out


class EmailIn(BaseModel):
    """E-mail the comment to the contact (``to`` defaults to the contact's first e-mail)."""

    model_config = ConfigDict(extra="forbid")
    to: list[str] = Field(default_factory=list, max_length=20)
    cc: list[str] = Field(default_factory=list, max_length=50)
    bcc: list[str] = Field(default_factory=list, max_length=50)
    channel_id: str | None = None
    subject: str | None = Field(None, max_length=300)

    _check = field_validator("to", "cc", "bcc")(_emails)


async def send(crm: Crm, uow: UnitOfWork, *, campaign_id: str | None, contact_id: str | None,
               conversation_id: str | None, text: str, email: EmailIn, actor: Actor, subject: str,
               media: Sequence[MediaRef] = ()) -> dict[str, Any]:
    """Publish the e-mail (inside the caller's transaction: unacknowledged, nothing of it is saved) and answer
    what was sent: ``{outbound_id, to, cc, bcc, channel_id}``.

    Raises:
        Invalid: no e-mail channel, or no address to send to (``email.channel_id``, ``email.to``).
        Forbidden: a recipient or the channel the campaign does not allow (``email.cc[1]``, ``email.channel_id``).
    """
    snapshot = crm.campaigns.get(campaign_id)
    channel_id = email.channel_id or email_channel(crm, snapshot)
    if not channel_id:
        raise Invalid("no e-mail channel: give email.channel_id (or give the campaign an e-mail channel, or set "
                      "SB_CRM_EMAIL_CHANNEL_ID)", field="email.channel_id")
    contact = await uow.contacts.get(contact_id) if contact_id else None
    own = [e["address"].lower() for e in (contact or {}).get("emails", [])]
    to = list(email.to) or own[:1]
    if not to:
        raise Invalid("the contact has no e-mail address; give email.to", field="email.to")
    recipients = {"email.to": to, "email.cc": email.cc, "email.bcc": email.bcc}
    others = await uow.cases.emails_of_others([a for group in recipients.values() for a in group], contact_id)
    check_recipients(snapshot, own, others, recipients)
    if snapshot is not None and actor.role == "agent":
        if refused := snapshot.channel_problems(channel_id, field="email.channel_id"):
            raise Forbidden(refused[0][1], field=refused[0][0])
    out = OutboundMessage(channel_id=channel_id, channel_type="email", to=", ".join(to), text=text, cc=email.cc,
                          bcc=email.bcc, agent_id=actor.id, conversation_id=conversation_id,
                          subject_line=email.subject or subject, media=list(media))
    await crm.publisher.publish(out)
    return {"outbound_id": out.id, "to": to, "cc": email.cc, "bcc": email.bcc, "channel_id": channel_id,
            "attachments": [m.filename for m in media]}


def check_recipients(snapshot: CampaignSnapshot | None, own: list[str], others: set[str],
                     fields: dict[str, list[str]]) -> None:
    """Every recipient through ``CampaignSnapshot.recipient_problem``; a campaign the CRM does not know allows
    only the contact.

    Raises:
        Forbidden: a recipient is not allowed; the error names it (``email.cc[1]``).
    """
    for field, addresses in fields.items():
        for i, address in enumerate(addresses):
            if snapshot is None:
                problem = None if address.lower() in own else \
                    f"{address} is not the case's contact, and no campaign of this case allows e-mail to others"
            else:
                problem = snapshot.recipient_problem(address, own=own, other_contacts=others)
            if problem:
                raise Forbidden(problem, field=f"{field}[{i}]")

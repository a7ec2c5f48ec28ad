"""What a conversation event or a case change sets off, in the same transaction that records it (seed 002):
the transcript e-mailed to the contact at close (``send_transcripts``) and the e-mail telling an agent a
conversation or case was transferred to them (``transfer_notification``).

Each is recorded once (``crm.transcripts``, ``crm.notifications``) and its ``OutboundMessage`` has a fixed id,
so a redelivered event or a retried transaction sends nothing twice (JetStream drops the duplicate id). What
cannot be sent (no address, no e-mail channel) is recorded as skipped with the reason.
"""

from __future__ import annotations

from typing import Any

from libs.contracts import (
    CampaignSnapshot,
    ConversationClosed,
    ConversationEvent,
    ConversationTransferred,
    OutboundMessage,
)
from libs.core.logging import get_logger
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.transcripts import transcript_text
from services.crm.handlers import Crm, webhooks

log = get_logger(__name__)


def email_channel(crm: Crm, snapshot: CampaignSnapshot | None) -> str | None:
    """The campaign's first e-mail channel, else ``SB_CRM_EMAIL_CHANNEL_ID``."""
    own = next((c.id for c in snapshot.channels if c.type == "email"), None) if snapshot else None
    return own or crm.settings.email_channel_id


async def on_conversation_event(crm: Crm, uow: UnitOfWork, event: ConversationEvent, conv: dict[str, Any]) -> None:
    """A fresh conversation event, already recorded: a closure may send its transcript, a transfer may notify;
    external CRMs' webhooks get it queued."""
    await webhooks.on_conversation_event(crm, uow, event)
    if isinstance(event, ConversationClosed):
        await send_transcript(crm, uow, conv)
    elif isinstance(event, ConversationTransferred) and event.to_agent_id:
        snapshot = crm.campaigns.get(event.to_campaign_id or event.campaign_id)
        if snapshot is not None and snapshot.case_options.transfer_notification:
            subject = f"Se le transfirió una conversación de {snapshot.name}"
            text = (f"La conversación {event.conversation_id} ({event.channel_type}) de la campaña {snapshot.name} "
                    f"le fue transferida" + (f" por {event.from_agent_id}." if event.from_agent_id else "."))
            await notify(crm, uow, f"transfer-{event.id}", "conversation_transferred", event.to_agent_id,
                         snapshot, subject, text)


async def send_transcript(crm: Crm, uow: UnitOfWork, conv: dict[str, Any]) -> None:
    """Seed 002 "Envío de Transcripciones": the conversation's messages e-mailed to its contact at close."""
    snapshot = crm.campaigns.get(conv["campaign_id"])
    if snapshot is None or not snapshot.case_options.send_transcripts:
        return
    cid = conv["id"]
    to = conv["contact_address"] if conv["channel_type"] == "email" else None
    if to is None and conv["contact_id"]:
        contact = await uow.contacts.get(conv["contact_id"])
        to = next((e["address"] for e in (contact or {}).get("emails", [])), None)
    channel_id = email_channel(crm, snapshot)
    if not to or not channel_id:
        reason = "the contact has no e-mail address" if not to else "the campaign has no e-mail channel"
        await uow.followups.record_transcript(cid, snapshot.id, "skipped", reason=reason)
        return
    messages = await uow.conversations.messages(cid)
    out = OutboundMessage(id=f"transcript-{cid}", channel_id=channel_id, channel_type="email", to=to,
                          conversation_id=cid, subject_line=f"Transcripción de su conversación con {snapshot.name}",
                          text=transcript_text(snapshot.name, messages))
    if await uow.followups.record_transcript(cid, snapshot.id, "sent", outbound_id=out.id, recipient=to):
        await crm.publisher.publish(out)  # before the commit: unacknowledged, nothing is recorded either


async def notify(crm: Crm, uow: UnitOfWork, key: str, kind: str, user_id: str, snapshot: CampaignSnapshot,
                 subject: str, text: str) -> None:
    """E-mail a user of the platform (their address from the gateway's user directory, KV ``users``)."""
    user = crm.users.get(user_id) or {}
    to, channel_id = user.get("email"), email_channel(crm, snapshot)
    if not to or not channel_id:
        reason = f"user {user_id} has no e-mail address" if not to else "the campaign has no e-mail channel"
        await uow.followups.record_notification(key, kind, user_id, "skipped", reason=reason)
        log.info("notification_skipped", kind=kind, user_id=user_id, reason=reason)
        return
    out = OutboundMessage(id=f"notify-{key}", channel_id=channel_id, channel_type="email", to=to,
                          subject_line=subject, text=text)
    if await uow.followups.record_notification(key, kind, user_id, "sent", outbound_id=out.id):
        await crm.publisher.publish(out)


async def case_reassigned(crm: Crm, uow: UnitOfWork, case: dict[str, Any], to_user: str, by: str, event_id: int
                          ) -> None:
    """A case given to another user by someone else: that user is told when the campaign notifies transfers."""
    snapshot = crm.campaigns.get(case["campaign_id"])
    if snapshot is None or not snapshot.case_options.transfer_notification or to_user == by:
        return
    title = case.get("title") or case["id"]
    await notify(crm, uow, f"case-{case['id']}-{event_id}", "case_assigned", to_user, snapshot,
                 f"Se le asignó un caso de {snapshot.name}",
                 f"El caso «{title}» de la campaña {snapshot.name} le fue transferido por {by}.")

"""Per-campaign signed webhooks to an external CRM (seed 004 "Valor"): admins configure them; conversation events
and case closures are queued in the transaction that records them (with each custom field under its
``integration_key``); a sender posts them signed (HMAC-SHA256), retries with exponential backoff, and leaves what
never got through in the dead-letter list, from where an admin sends it again."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import timedelta
from typing import Any

from pydantic import Field

from libs.contracts import (
    ConversationAssigned,
    ConversationClosed,
    ConversationEvent,
    ConversationMessage,
    ConversationOpened,
    ConversationTransferred,
    new_id,
    utcnow,
)
from libs.core.errors import Conflict, Forbidden, Invalid, NotFound
from libs.core.logging import get_logger
from libs.core.validation import Strict, parse_body
from services.crm.adapters.ports import UnitOfWork
from services.crm.domain.webhooks import SIGNATURE_HEADER, Event, WebhookIn, next_delay, signature, url_problem
from services.crm.handlers import Actor, Crm

log = get_logger(__name__)

EVENT_TYPES: dict[type, str] = {
    ConversationOpened: "conversation.opened", ConversationAssigned: "conversation.assigned",
    ConversationTransferred: "conversation.transferred", ConversationMessage: "conversation.message",
    ConversationClosed: "conversation.closed",
}


class WebhookPatch(Strict):
    url: str | None = Field(None, min_length=8, max_length=2000)
    events: list[Event] | None = Field(None, min_length=1)
    active: bool | None = None
    rotate_secret: bool = False


def _admin(actor: Actor) -> None:
    if actor.role not in ("admin", "system"):
        raise Forbidden(f"only an admin configures webhooks, not a {actor.role}", field="role")


def present(hook: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """A webhook as the API shows it: never its stored secret (only once, when it is made or rotated)."""
    out = {k: v for k, v in hook.items() if k != "secret_sealed"} | {"events": list(hook["events"])}
    if secret is not None:
        out["secret"] = secret
    return out


def _check_url(crm: Crm, url: str) -> None:
    if problem := url_problem(url, production=crm.settings.env == "production"):
        raise Invalid(problem, field="url")


async def create(crm: Crm, body: Any, actor: Actor) -> dict[str, Any]:
    """A webhook of a campaign the CRM knows. Its signing secret (given, or made here) is answered this once.

    Raises:
        Invalid: a bad URL (plain http in production), unknown events (field-named).
        NotFound: the campaign (``campaign_id``).
        Conflict: production without ``SB_CRM_SECRET_KEYS`` (the secret could not be kept safely).
    """
    _admin(actor)
    data = parse_body(WebhookIn, body)
    _check_url(crm, data.url)
    if crm.campaigns.get(data.campaign_id) is None:
        raise NotFound(f"campaign {data.campaign_id!r} not found", field="campaign_id")
    if not crm.settings.secrets_ready():
        raise Conflict("webhook secrets need SB_CRM_SECRET_KEYS in production", field="secret")
    hook_id = new_id()
    secret = data.secret or secrets.token_urlsafe(32)
    sealed = crm.settings.secret_box().encrypt(secret, f"webhook:{hook_id}")
    async with crm.uow() as uow:
        hook = await uow.webhooks.insert({"id": hook_id, "campaign_id": data.campaign_id, "url": data.url,
                                          "secret_sealed": sealed, "events": list(data.events), "active": data.active,
                                          "created_by": actor.id})
    return present(hook, secret)


async def _hook(uow: UnitOfWork, hook_id: str, *, for_update: bool = False) -> dict[str, Any]:
    hook = await uow.webhooks.get(hook_id, for_update=for_update)
    if hook is None:
        raise NotFound(f"webhook {hook_id} not found", field="webhook_id")
    return hook


async def get(crm: Crm, hook_id: str, actor: Actor) -> dict[str, Any]:
    _admin(actor)
    async with crm.uow(readonly=True) as uow:
        return present(await _hook(uow, hook_id))


async def search(crm: Crm, campaign_id: str | None, actor: Actor) -> list[dict[str, Any]]:
    _admin(actor)
    async with crm.uow(readonly=True) as uow:
        return [present(h) for h in await uow.webhooks.of_campaign(campaign_id)]


async def update(crm: Crm, hook_id: str, body: Any, actor: Actor) -> dict[str, Any]:
    _admin(actor)
    patch = parse_body(WebhookPatch, body)
    fields: dict[str, Any] = {k: getattr(patch, k) for k in patch.model_fields_set if k != "rotate_secret"}
    for key, value in fields.items():
        if value is None:
            raise Invalid(f"{key} cannot be null", field=key)
    if "url" in fields:
        _check_url(crm, fields["url"])
    secret = secrets.token_urlsafe(32) if patch.rotate_secret else None
    if secret is not None:
        fields["secret_sealed"] = crm.settings.secret_box().encrypt(secret, f"webhook:{hook_id}")
    if not fields:
        raise Invalid("nothing to change", field="body")
    async with crm.uow() as uow:
        await _hook(uow, hook_id, for_update=True)
        return present(await uow.webhooks.update(hook_id, fields), secret)


async def delete(crm: Crm, hook_id: str, actor: Actor) -> None:
    _admin(actor)
    async with crm.uow() as uow:
        await _hook(uow, hook_id, for_update=True)
        await uow.webhooks.delete(hook_id)


async def deliveries(crm: Crm, hook_id: str, status: str | None, limit: int, after: int | None, actor: Actor
                     ) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest first; ``status=dead`` is its dead-letter list."""
    _admin(actor)
    async with crm.uow(readonly=True) as uow:
        await _hook(uow, hook_id)
        return await uow.webhooks.deliveries(hook_id, status, limit, after)


async def retry(crm: Crm, delivery_id: int, actor: Actor) -> dict[str, Any]:
    """Send a dead (or pending) delivery again now, from its first attempt."""
    _admin(actor)
    async with crm.uow() as uow:
        found = await uow.webhooks.delivery(delivery_id, for_update=True)
        if found is None:
            raise NotFound(f"delivery {delivery_id} not found", field="delivery_id")
        if found["status"] == "delivered":
            raise Conflict(f"delivery {delivery_id} was delivered", field="delivery_id")
        await uow.webhooks.requeue(delivery_id, utcnow())
        return await uow.webhooks.delivery(delivery_id)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------- queueing

async def queue(crm: Crm, uow: UnitOfWork, campaign_id: str | None, event_type: str, event_id: str,
                data: dict[str, Any]) -> None:
    """Queue an event for every active webhook of the campaign that wants it (in the caller's transaction)."""
    if not campaign_id:
        return
    hooks = [h for h in await uow.webhooks.of_campaign(campaign_id, active_only=True) if event_type in h["events"]]
    if not hooks:
        return
    payload = {"id": event_id, "type": event_type, "occurred_at": utcnow().isoformat(), "campaign_id": campaign_id,
               "data": data}
    for hook in hooks:
        await uow.webhooks.enqueue(hook["id"], event_id, event_type, payload)


async def on_conversation_event(crm: Crm, uow: UnitOfWork, event: ConversationEvent) -> None:
    """A router event for external CRMs: the conversation, and on close its typification and every custom field
    under its ``integration_key``."""
    kind = EVENT_TYPES.get(type(event))
    if kind is None:
        return
    data: dict[str, Any] = {"conversation_id": event.conversation_id, "channel_id": event.channel_id,
                            "channel_type": event.channel_type, "contact_address": event.contact_address,
                            "agent_id": event.agent_id, "occurred_at": event.occurred_at.isoformat()}
    if isinstance(event, ConversationMessage):
        data |= {"direction": event.direction, "text": event.text, "media": event.media}
    if isinstance(event, ConversationTransferred):
        data |= {"from_agent_id": event.from_agent_id, "to_agent_id": event.to_agent_id,
                 "to_campaign_id": event.to_campaign_id}
    if isinstance(event, ConversationClosed):
        snapshot = crm.campaigns.get(event.campaign_id)
        data |= {"reason": event.reason, "typification_id": event.typification_id, "fields": event.fields,
                 "integration": snapshot.integration_values(event.fields) if snapshot else {}}
    await queue(crm, uow, event.campaign_id, kind, event.id, data)


async def on_case_closed(crm: Crm, uow: UnitOfWork, case: dict[str, Any], result: str | None, fields: dict[str, Any],
                         actor: Actor) -> None:
    snapshot = crm.campaigns.get(case["campaign_id"])
    await queue(crm, uow, case["campaign_id"], "case.closed", f"case-closed-{case['id']}", {
        "case_id": case["id"], "contact_id": case["contact_id"], "account_id": case.get("account_id"),
        "conversation_id": case.get("conversation_id"), "result": result, "fields": fields,
        "integration": snapshot.integration_values(fields) if snapshot else {}, "closed_by": actor.id})


# ----------------------------------------------------------------------------------------------- sending

async def send_due(crm: Crm, limit: int = 50) -> int:
    """Post the deliveries that are due, each signed with its webhook's secret; settle each: delivered, again
    later (exponential backoff), or dead after ``SB_CRM_WEBHOOK_MAX_ATTEMPTS``. Returns how many were tried."""
    poster = crm.webhooks
    assert poster is not None
    s = crm.settings
    now = utcnow()
    async with crm.uow() as uow:
        due = await uow.webhooks.claim_due(now, now + timedelta(seconds=s.webhook_timeout_s + 30), limit)
        hooks = {d["webhook_id"]: await uow.webhooks.get(d["webhook_id"]) for d in due}
    box = s.secret_box()

    async def one(d: dict[str, Any]) -> None:
        hook = hooks.get(d["webhook_id"])
        body = json.dumps(d["payload"], separators=(",", ":"), ensure_ascii=False).encode()
        status: int | None = None
        error: str | None = "the webhook is gone"
        if hook is not None:
            secret = box.decrypt(hook["secret_sealed"], f"webhook:{hook['id']}")
            headers = {"Content-Type": "application/json", "X-Switchboard-Event": d["event_type"],
                       "X-Switchboard-Delivery": str(d["id"]), "User-Agent": "Switchboard-Webhooks/1",
                       SIGNATURE_HEADER: signature(secret, int(utcnow().timestamp()), body)}
            status, error = await poster.post(hook["url"], body, headers, s.webhook_timeout_s)
        attempts = d["attempts"] + 1
        at = utcnow()
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif attempts >= s.webhook_max_attempts or hook is None:
            outcome, next_at = "dead", None
        else:
            outcome, next_at = "pending", at + timedelta(seconds=next_delay(attempts, s.webhook_backoff_s))
        async with crm.uow() as uow:
            await uow.webhooks.settle(d["id"], status=outcome, attempts=attempts, next_at=next_at, last_status=status,
                                      last_error=error, at=at)
        log.info("webhook_delivery", delivery_id=d["id"], outcome=outcome, attempts=attempts, status=status,
                 error=error)

    await asyncio.gather(*(one(d) for d in due))
    return len(due)


async def run(crm: Crm, stop: asyncio.Event) -> None:
    """The sender loop of a CRM replica (``SB_CRM_RUN_WEBHOOKS``): several replicas share the queue (leases)."""
    while not stop.is_set():
        try:
            sent = await send_due(crm)
        except Exception as exc:  # the database away for a moment: try again next round
            log.warning("webhook_round_failed", error=repr(exc))
            sent = 0
        if sent:
            continue
        try:
            await asyncio.wait_for(stop.wait(), crm.settings.webhook_poll_s)
        except TimeoutError:
            pass

"""Pure routing rules: the business-hours decision, routing config, request bodies and action checks."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from libs.contracts import CampaignSnapshot, ChannelSnapshot, MediaRef, Presence
from libs.contracts.messages import TemplateMessage
from libs.core.errors import Invalid, NotFound
from libs.core.validation import blame, problems_error
from libs.messaging.snapshots import SnapshotDirectory


@dataclass(frozen=True)
class Route:
    """What happens to a new conversation: ``queue`` (in hours), ``hold`` (queue until opening) or
    ``close`` (out of hours), with the optional automatic reply."""

    mode: Literal["queue", "hold", "close"]
    reply: str | None = None
    release_at: datetime | None = None


def route_new_conversation(campaign: CampaignSnapshot, now: datetime) -> Route:
    """Apply business hours: no schedule means always open."""
    schedule = campaign.schedule
    if schedule is None or schedule.is_open(now):
        return Route("queue")
    ooh = campaign.out_of_hours
    reply = ooh.message if ooh.send_message and ooh.message else None
    if ooh.action == "close":
        return Route("close", reply)
    return Route("hold", reply, schedule.next_opening(now))


def routing_config(campaign: CampaignSnapshot) -> tuple[dict[str, Any], str]:
    """The campaign's routing settings as the Lua scripts read them, and their digest."""
    r = campaign.routing
    cfg = {
        "cap": r.agent_capacity,
        "strategy": r.strategy,
        "offer_ms": _ms(r.offer_timeout_s),
        "max_missed": r.max_missed_offers,
        "sticky_ms": _ms(r.sticky_window_h * 3600 if r.sticky_window_h else None),
        "first_reply_ms": _ms(r.first_reply_timeout_s),
        "max_wait_ms": _ms(r.max_wait_s),
        "overflow": r.overflow,
        "overflow_to": r.overflow_campaign_id or "",
        "inactivity_ms": _ms(campaign.inactivity_timeout_s),
        "inactivity_typ": campaign.inactivity_typification or "",
        "on_offline": r.on_agent_offline,
        "release_rate": r.release_rate_per_agent,
        "weights": json.dumps(r.weights, sort_keys=True),
        # Seed 002 advanced options, and the linked call queues (their agents also get this campaign's calls).
        "push": int(r.queue_assignment),
        "fallback": int(r.sticky_fallback),
        "acw": int(r.offer_in_after_call_work),
        "links": json.dumps(sorted(campaign.linked_campaigns)),
    }
    raw = json.dumps({"cfg": cfg, "agents": sorted(campaign.agents)}, sort_keys=True)
    return cfg, hashlib.sha256(raw.encode()).hexdigest()[:16]


def now_ms() -> int:
    """The wall clock in milliseconds, as the live state's scores and the outbox count time."""
    return int(time.time() * 1000)


def _ms(seconds: float | None) -> int:
    return int(seconds * 1000) if seconds else 0


# ---- request bodies: parsed by ``libs.core.validation.parse_body``, every error names its field --------

Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
PHONE = re.compile(r"\+[0-9]{6,15}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Body(BaseModel):
    """A request body of the router's internal API. Fields it does not read are ignored: the gateway
    forwards the caller's whole request (``reason``, ``by_user_id``)."""

    model_config = ConfigDict(extra="ignore")


class StatusChange(Body):
    status: Presence
    reason: Text | None = None


class Reply(Body):
    agent_id: Text
    text: str | None = Field(None, max_length=4096)
    media: list[MediaRef] = Field(default_factory=list)
    # The client's own id of this reply: a retry with the same id sends nothing new (None: no retry safety).
    client_message_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")

    @field_validator("media", mode="before")
    @classmethod
    def _no_media(cls, v: Any) -> Any:
        return [] if v is None else v

    @model_validator(mode="after")
    def _something(self) -> Reply:
        if not (self.text and self.text.strip()) and not self.media:
            raise blame("text", "a reply needs text or media")
        return self


class Closure(Body):
    agent_id: Text | None = None
    typification_id: str | None = None
    fields: dict[str, object] = Field(default_factory=dict)
    # A supervisor or admin acting on behalf of the assigned agent (the gateway sets it; the caller is checked).
    by_user_id: Text | None = None

    @field_validator("fields", mode="before")
    @classmethod
    def _no_fields(cls, v: Any) -> Any:
        return {} if v is None else v


class AgentClosure(Closure):
    """A close through the HTTP API names the acting agent, or the supervisor or admin closing it
    (``by_user_id``: then it may be waiting or offered, and ``agent_id`` is whoever holds it, if anyone)."""

    @model_validator(mode="after")
    def _someone(self) -> AgentClosure:
        if not self.agent_id and not self.by_user_id:
            raise blame("agent_id", "agent_id (or by_user_id) is required")
        return self


class OfferAnswer(Body):
    agent_id: Text


class Take(Body):
    """An agent takes a conversation waiting in its campaign's queue."""

    agent_id: Text


class Transfer(Body):
    """The acting agent, or the supervisor or admin moving it (``by_user_id``), and exactly one target."""

    agent_id: Text | None = None
    to_agent_id: Text | None = None
    to_campaign_id: Text | None = None
    by_user_id: Text | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if not self.agent_id and not self.by_user_id:
            raise blame("agent_id", "agent_id (or by_user_id) is required")
        if (self.to_agent_id is None) == (self.to_campaign_id is None):
            raise blame("to_agent_id", "exactly one of to_agent_id or to_campaign_id is required")
        return self


class PriorityChange(Body):
    priority: StrictInt = Field(ge=-50, le=50)


def check_reply(campaign: CampaignSnapshot | None, reply: Reply) -> None:
    """Raise ``Invalid`` when the campaign refuses the reply's media or emojis."""
    if campaign is not None and (problems := campaign.reply_problems(reply.text, bool(reply.media))):
        raise problems_error(problems)


def check_closure(campaign: CampaignSnapshot | None, closure: Closure, kind: str = "message") -> None:
    """Raise ``Invalid`` naming the first problem of a closure against its campaign.

    An Instagram comment may be closed with the campaign's "ignore comment" typification, without fields.
    """
    if campaign is None:
        return
    if kind == "comment" and closure.typification_id and \
            closure.typification_id == campaign.ignore_comment_typification:
        return
    problems = campaign.closure_problems(closure.typification_id, closure.fields)
    if problems:
        raise problems_error(problems)


def check_close_reply(campaign: CampaignSnapshot | None, conv: dict[str, str], *, staff: bool) -> None:
    """Raise ``Invalid`` (field ``reply``) when an agent closes a conversation nobody answered and the campaign
    forbids it (seed 004 "Finalizar conversaciones sin responder"). A conversation recorded before the router kept
    ``answered`` is unknown, hence allowed; a supervisor or admin closing on the agent's behalf is not held to an
    agent's permission (they close stranded conversations)."""
    if campaign is None or staff or conv.get("state") == "closed":
        return
    answered = conv.get("answered")
    if problems := campaign.close_without_reply_problems(None if answered is None else answered == "1"):
        raise problems_error(problems)


def check_transfer(campaign: CampaignSnapshot | None, t: Transfer, directory: SnapshotDirectory, *,
                   staff: bool = False) -> None:
    """Transfers happen only where the campaign allows them, to a linked, active campaign (an agent's permission
    and list: a supervisor or admin moving a conversation, a stranded one say, may move it to any active campaign;
    the gateway checks it is one they supervise)."""
    if campaign is None:  # stranded: only a supervisor or admin moves it, to another campaign
        if not staff or t.to_campaign_id is None:
            raise Invalid("the conversation's campaign no longer exists", field="conversation_id")
        _check_target(t.to_campaign_id, directory)
        return
    problems = campaign.transfer_problems(to_agent=t.to_agent_id is not None, to_campaign=t.to_campaign_id is not None)
    if problems and not staff:
        raise problems_error(problems)
    if t.to_campaign_id is None:
        return
    if campaign.linked_campaigns and t.to_campaign_id not in campaign.linked_campaigns and not staff:
        raise Invalid(f"campaign {t.to_campaign_id!r} is not linked to {campaign.name!r}", field="to_campaign_id")
    _check_target(t.to_campaign_id, directory)
    if t.to_campaign_id == campaign.id:
        raise Invalid("the conversation is already in that campaign", field="to_campaign_id")


def _check_target(campaign_id: str, directory: SnapshotDirectory) -> None:
    target = directory.get(campaign_id)
    if target is None or target.status != "active":
        raise Invalid(f"campaign {campaign_id!r} does not exist or is not active", field="to_campaign_id")


# WhatsApp's customer service window: free text only within 24 hours of the contact's last message.
WHATSAPP_WINDOW_MS = 24 * 3600 * 1000
STARTABLE = ("whatsapp", "sms", "email")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=20)


class StartIn(Body):
    """Body of ``POST /conversations``: an agent starts a conversation with a contact (issue 13 item 6)."""

    agent_id: Text
    campaign_id: Text
    channel_id: Text | None = None
    to: str = Field(min_length=1, max_length=320)
    text: str | None = Field(None, max_length=4096)
    subject: str | None = Field(None, max_length=998)
    template: TemplateIn | None = None


@dataclass(frozen=True)
class Start:
    """A checked start: the channel, the text the conversation records, and the template to send (if any)."""

    channel_id: str
    channel_type: str
    text: str
    template: TemplateMessage | None
    window_ms: int | None  # set: free text needs the contact's last message within it (the router's state)


def check_start(campaign: CampaignSnapshot | None, channels: Mapping[str, ChannelSnapshot], body: StartIn
                ) -> Start:
    """What an agent-started conversation sends, or the first problem, naming its field: the campaign's channel
    (``channel_id``; WhatsApp, SMS or e-mail), the recipient (``to``), text or an approved WhatsApp template of
    the channel with every parameter (``template.name``, ``template.parameters[i]``), the campaign's permissions
    (emojis). Whether free text is inside WhatsApp's 24-hour window is the live state's to say (``window_ms``).

    Raises:
        NotFound (campaign), Invalid.
    """
    if campaign is None:
        raise NotFound(f"campaign {body.campaign_id} not found", field="campaign_id")
    mine = [c for c in campaign.channels if c.type in STARTABLE]
    ref = next((c for c in mine if c.id == body.channel_id), None) if body.channel_id else (mine[0] if mine else None)
    if ref is None:
        raise Invalid(f"{body.channel_id or 'no channel'} is not a WhatsApp, SMS or e-mail channel of campaign "
                      f"{campaign.id}", field="channel_id")
    to = body.to.strip()
    if ref.type == "email" and not EMAIL.fullmatch(to):
        raise Invalid(f"{to!r} is not an e-mail address", field="to")
    if ref.type != "email" and not PHONE.fullmatch(to):
        raise Invalid(f"{to!r} is not a phone number in international format (+...)", field="to")
    if body.template is not None and ref.type != "whatsapp":
        raise Invalid(f"templates are WhatsApp messages; {ref.id} is {ref.type}", field="template")
    if body.template is None:
        if not (body.text and body.text.strip()):
            raise Invalid("write the message", field="text")
        if problems := campaign.reply_problems(body.text, False):
            raise problems_error(problems)
        return Start(ref.id, ref.type, body.text, None, WHATSAPP_WINDOW_MS if ref.type == "whatsapp" else None)
    return _with_template(ref.id, channels.get(ref.id), body.template)


def _with_template(channel_id: str, channel: ChannelSnapshot | None, t: TemplateIn) -> Start:
    found = channel.template(t.name, t.language) if channel is not None else None
    if found is None:
        raise Invalid(f"channel {channel_id} has no template {t.name}" + (f" in {t.language}" if t.language else ""),
                      field="template.name")
    if found.status != "approved":
        raise Invalid(f"template {t.name} is {found.status}, not approved by WhatsApp", field="template.name")
    for i in range(found.parameters):
        if i >= len(t.parameters) or not t.parameters[i].strip():
            raise Invalid(f"template {t.name} needs {found.parameters} parameters; {{{{{i + 1}}}}} is missing",
                          field=f"template.parameters[{i}]")
    if len(t.parameters) > found.parameters:
        raise Invalid(f"template {t.name} takes {found.parameters} parameters, not {len(t.parameters)}",
                      field="template.parameters")
    values = [p.strip() for p in t.parameters]
    return Start(channel_id, "whatsapp", found.render(values),
                 TemplateMessage(name=found.name, language=found.language, parameters=values), None)

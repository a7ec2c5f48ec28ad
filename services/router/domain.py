"""Pure routing rules: the business-hours decision, routing config, request bodies and action checks."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from libs.contracts import CampaignSnapshot, MediaRef, Presence
from libs.core.errors import Invalid
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
    """A close through the HTTP API names the acting agent."""

    agent_id: Text


class OfferAnswer(Body):
    agent_id: Text


class Take(Body):
    """An agent takes a conversation waiting in its campaign's queue."""

    agent_id: Text


class Transfer(Body):
    agent_id: Text
    to_agent_id: Text | None = None
    to_campaign_id: Text | None = None
    by_user_id: Text | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
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
    """Transfers happen only where the campaign allows them (an agent's permission: a supervisor or admin moving
    a conversation is not held to it), to a linked, active campaign."""
    if campaign is None:
        raise Invalid("the conversation's campaign no longer exists", field="conversation_id")
    problems = campaign.transfer_problems(to_agent=t.to_agent_id is not None, to_campaign=t.to_campaign_id is not None)
    if problems and not staff:
        raise problems_error(problems)
    if t.to_campaign_id is None:
        return
    if campaign.linked_campaigns and t.to_campaign_id not in campaign.linked_campaigns:
        raise Invalid(f"campaign {t.to_campaign_id!r} is not linked to {campaign.name!r}", field="to_campaign_id")
    target = directory.get(t.to_campaign_id)
    if target is None or target.status != "active":
        raise Invalid(f"campaign {t.to_campaign_id!r} does not exist or is not active", field="to_campaign_id")
    if t.to_campaign_id == campaign.id:
        raise Invalid("the conversation is already in that campaign", field="to_campaign_id")

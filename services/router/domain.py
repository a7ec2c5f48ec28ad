"""Pure routing rules: the campaign directory, the business-hours decision, and request validation."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import ValidationError

from libs.contracts import CampaignSnapshot, MediaRef, Presence
from libs.core.errors import Invalid

PRESENCES: tuple[str, ...] = get_args(Presence)


class CampaignDirectory:
    """The campaign snapshots in memory, indexed by channel and by agent.

    Only active campaigns route: a channel belongs to at most one active campaign.
    """

    def __init__(self) -> None:
        self.by_id: dict[str, CampaignSnapshot] = {}
        self._by_channel: dict[str, str] = {}
        self._by_agent: dict[str, set[str]] = {}

    def apply(self, key: str, value: dict[str, Any] | None) -> CampaignSnapshot | None:
        """Apply a KV change; returns the new snapshot (``None`` when deleted).

        Raises:
            ValueError: the value is not a valid ``CampaignSnapshot``.
        """
        new = CampaignSnapshot.model_validate(value) if value is not None else None
        old = self.by_id.pop(key, None)
        if old is not None:
            for ch in old.channels:
                if self._by_channel.get(ch.id) == key:
                    del self._by_channel[ch.id]
            for agent in old.agents:
                self._by_agent.get(agent, set()).discard(key)
        if new is not None:
            self.by_id[key] = new
            if new.status == "active":
                for ch in new.channels:
                    self._by_channel[ch.id] = key
            for agent in new.agents:
                self._by_agent.setdefault(agent, set()).add(key)
        return new

    def get(self, campaign_id: str) -> CampaignSnapshot | None:
        return self.by_id.get(campaign_id)

    def for_channel(self, channel_id: str) -> CampaignSnapshot | None:
        cid = self._by_channel.get(channel_id)
        return self.by_id.get(cid) if cid else None

    def campaigns_of(self, agent_id: str) -> list[str]:
        return sorted(self._by_agent.get(agent_id, ()))


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
    }
    raw = json.dumps({"cfg": cfg, "agents": sorted(campaign.agents)}, sort_keys=True)
    return cfg, hashlib.sha256(raw.encode()).hexdigest()[:16]


def _ms(seconds: float | None) -> int:
    return int(seconds * 1000) if seconds else 0


# ---- request validation: every error names its field ---------------------------------------------

def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("JSON object expected", field="body")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"{name} is required", field=name)
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{name} must be a non-empty string", field=name)
    if len(value) > max_len:
        raise Invalid(f"{name} is longer than {max_len} characters", field=name)
    return value


@dataclass(frozen=True)
class StatusChange:
    status: str
    reason: str | None


def parse_status(body: Any) -> StatusChange:
    b = _obj(body)
    status = b.get("status")
    if status not in PRESENCES:
        raise Invalid(f"status must be one of {list(PRESENCES)}", field="status")
    return StatusChange(status, _text(b, "reason", required=False))


@dataclass(frozen=True)
class Reply:
    agent_id: str
    text: str | None
    media: list[MediaRef]
    # The client's own id of this reply: a retry with the same id sends nothing new (None: no retry safety).
    client_message_id: str | None = None


CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def parse_reply(body: Any) -> Reply:
    b = _obj(body)
    agent = _text(b, "agent_id")
    text = b.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > 4096):
        raise Invalid("text must be a string of at most 4096 characters", field="text")
    raw_media = b.get("media")
    raw_media = [] if raw_media is None else raw_media
    if not isinstance(raw_media, list):
        raise Invalid("media must be a list", field="media")
    try:
        media = [MediaRef.model_validate(m) for m in raw_media]
    except ValidationError as exc:
        raise Invalid(f"media is invalid: {exc.errors()[0]['msg']}", field="media") from exc
    if not (text and text.strip()) and not media:
        raise Invalid("a reply needs text or media", field="text")
    client_id = b.get("client_message_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)):
        raise Invalid("client_message_id must be 1 to 128 letters, digits or . _ : -", field="client_message_id")
    assert agent is not None
    return Reply(agent, text, media, client_id)


@dataclass(frozen=True)
class Closure:
    agent_id: str | None
    typification_id: str | None
    fields: dict[str, object]


def parse_closure(body: Any, *, agent_required: bool = True) -> Closure:
    b = _obj(body)
    agent = _text(b, "agent_id", required=agent_required)
    typ = b.get("typification_id")
    if typ is not None and not isinstance(typ, str):
        raise Invalid("typification_id must be a string", field="typification_id")
    fields = b.get("fields")
    fields = {} if fields is None else fields
    if not isinstance(fields, dict):
        raise Invalid("fields must be an object", field="fields")
    return Closure(agent, typ, fields)


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
        field, message = problems[0]
        raise Invalid(message, field=field, details=[{"field": f, "message": m} for f, m in problems])


@dataclass(frozen=True)
class Transfer:
    agent_id: str
    to_agent_id: str | None
    to_campaign_id: str | None


def parse_transfer(body: Any) -> Transfer:
    b = _obj(body)
    agent = _text(b, "agent_id")
    to_agent = _text(b, "to_agent_id", required=False)
    to_campaign = _text(b, "to_campaign_id", required=False)
    if (to_agent is None) == (to_campaign is None):
        raise Invalid("exactly one of to_agent_id or to_campaign_id is required", field="to_agent_id")
    assert agent is not None
    return Transfer(agent, to_agent, to_campaign)


def check_transfer(campaign: CampaignSnapshot | None, t: Transfer, directory: CampaignDirectory) -> None:
    """Transfers happen only where the campaign allows them."""
    if campaign is None:
        raise Invalid("the conversation's campaign no longer exists", field="conversation_id")
    if t.to_agent_id is not None:
        if not campaign.permissions.transfer_between_agents:
            raise Invalid(f"campaign {campaign.name!r} does not allow transfers between agents",
                          field="to_agent_id")
        return
    assert t.to_campaign_id is not None
    if not campaign.permissions.transfer_between_campaigns:
        raise Invalid(f"campaign {campaign.name!r} does not allow transfers between campaigns",
                      field="to_campaign_id")
    if campaign.linked_campaigns and t.to_campaign_id not in campaign.linked_campaigns:
        raise Invalid(f"campaign {t.to_campaign_id!r} is not linked to {campaign.name!r}", field="to_campaign_id")
    target = directory.get(t.to_campaign_id)
    if target is None or target.status != "active":
        raise Invalid(f"campaign {t.to_campaign_id!r} does not exist or is not active", field="to_campaign_id")
    if t.to_campaign_id == campaign.id:
        raise Invalid("the conversation is already in that campaign", field="to_campaign_id")


def parse_priority(body: Any) -> int:
    b = _obj(body)
    p = b.get("priority")
    if not isinstance(p, int) or isinstance(p, bool) or not -50 <= p <= 50:
        raise Invalid("priority must be an integer from -50 to 50", field="priority")
    return p

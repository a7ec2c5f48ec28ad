"""Call events: Twilio Voice status callbacks and Asterisk ARI events, as ``InboundMessage(kind="call")``.

Each call yields at most one event per stage (``ringing``, ``answered``, ``ended``, ``missed``): the
provider message id is ``<call id>:<stage>``, so the several ARI events that end a call store one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ConfigDict, Field

from libs.contracts import InboundMessage
from libs.core.errors import Invalid
from libs.core.validation import parse_body
from services.channels.domain.addresses import e164
from services.channels.domain.common import MetaModel

TWILIO_STAGES = {"ringing": "ringing", "in-progress": "answered", "completed": "ended", "busy": "missed",
                 "no-answer": "missed", "failed": "missed", "canceled": "missed"}
ARI_END_EVENTS = ("StasisEnd", "ChannelHangupRequest", "ChannelDestroyed")


def _event(channel_id: str, call_id: str, stage: str, caller: str, at: datetime | None,
           extra: dict[str, str], name: str | None = None) -> InboundMessage:
    return InboundMessage(channel_id=channel_id, channel_type="voice", kind="call", contact_address=caller,
                          contact_name=name or None, provider_message_id=f"{call_id}:{stage}", sent_at=at,
                          extra={"call_id": call_id, "call_event": stage, **extra})


def parse_twilio(channel_id: str, pairs: Sequence[tuple[str, str]]) -> InboundMessage | None:
    """A Twilio Voice status callback; ``None`` for queued/initiated, which are not call events.

    Raises:
        Invalid: ``CallSid``, ``CallStatus`` or the caller is missing.
    """
    form = dict(pairs)
    sid, status = form.get("CallSid", "").strip(), form.get("CallStatus", "").strip().lower()
    if not sid:
        raise Invalid("CallSid is required", field="CallSid")
    if not status:
        raise Invalid("CallStatus is required", field="CallStatus")
    stage = TWILIO_STAGES.get(status)
    if stage is None:
        return None
    direction = form.get("Direction", "inbound")
    party = form.get("From") if direction == "inbound" else form.get("To")
    if not party:
        raise Invalid("From is required", field="From")
    extra = {"direction": direction, "provider_status": status}
    duration = form.get("CallDuration") or form.get("Duration")
    if stage == "ended" and duration and duration.isdigit():
        extra["duration_s"] = duration
    at = None
    if form.get("Timestamp"):
        try:
            at = parsedate_to_datetime(form["Timestamp"])
        except (TypeError, ValueError, IndexError) as exc:
            raise Invalid(f"Timestamp is not an RFC 2822 date: {exc}", field="Timestamp") from exc
    return _event(channel_id, sid, stage, e164(party, assume_international=False), at, extra,
                  form.get("CallerName"))


class AriParty(MetaModel):
    name: str = ""
    number: str = ""


class AriChannel(MetaModel):
    id: str = Field(min_length=1)
    name: str = ""
    state: str = ""
    caller: AriParty = Field(default_factory=AriParty)
    dialplan: dict[str, Any] = Field(default_factory=dict)
    creationtime: datetime | None = None


class AriEvent(MetaModel):
    type: str = Field(min_length=1)
    timestamp: datetime | None = None
    channel: AriChannel | None = None
    cause: int | None = None
    cause_txt: str | None = None


def parse_ari(channel_id: str, payload: Any) -> list[InboundMessage]:
    """One ARI event or a list of them, as call events; other ARI events are ignored.

    Raises:
        Invalid: an event lacks ``type`` or its channel lacks ``id``; the field is named.
    """
    events = payload if isinstance(payload, list) else [payload]
    out: list[InboundMessage] = []
    for i, raw in enumerate(events):
        ev = parse_body(AriEvent, raw, prefix=f"[{i}]" if isinstance(payload, list) else "")
        item = _ari_event(channel_id, ev)
        if item is not None:
            out.append(item)
    return out


def _ari_event(channel_id: str, ev: AriEvent) -> InboundMessage | None:
    ch = ev.channel
    if ch is None:
        return None
    state = ch.state.lower()
    if ev.type in ("StasisStart", "ChannelStateChange") and state in ("ring", "ringing"):
        stage = "ringing"
    elif ev.type in ("StasisStart", "ChannelStateChange") and state == "up":
        stage = "answered"
    elif ev.type in ARI_END_EVENTS:
        stage = "ended" if state == "up" else "missed"
    else:
        return None
    extra = {"channel_name": ch.name}
    if ch.dialplan.get("exten"):
        extra["exten"] = str(ch.dialplan["exten"])
    if ev.cause is not None:
        extra["cause"] = str(ev.cause)
    if stage == "ended" and ev.timestamp and ch.creationtime:
        extra["duration_s"] = str(max(0, round((ev.timestamp - ch.creationtime).total_seconds())))
    caller = e164(ch.caller.number, assume_international=False) if ch.caller.number else ch.name or ch.id
    if not ch.caller.number:
        extra["anonymous"] = "true"
    return _event(channel_id, ch.id, stage, caller, ev.timestamp, extra, ch.caller.name)


class PlaceCall(MetaModel):
    """Body of ``POST /channels/{id}/calls`` (click-to-call, from the CRM): ring the agent, then the contact.
    ``call_id`` is the CRM's call record; the call's events are linked back to it."""

    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    to: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9]{3,31}$")
    agent_id: str = Field(min_length=1, max_length=128)


def agent_address(cfg: Any, ch_id: str, agent_id: str) -> str:
    """The agent's extension (or, through Twilio, number) on a voice channel.

    Raises:
        Invalid: the agent has none (field ``agent_id``, naming the channel setting to fill).
    """
    ext = cfg.agent_extensions.get(agent_id)
    if not ext:
        raise Invalid(f"agent {agent_id} has no extension on channel {ch_id} (config.agent_extensions)",
                      field="agent_id")
    return str(ext)

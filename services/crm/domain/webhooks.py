"""Outbound webhooks to an external CRM (seed 004 "Valor": the custom fields' integration keys): what an admin
configures, how a delivery is signed (HMAC-SHA256 over the timestamp and the body) and when a failed one is
tried again (exponential backoff with jitter). Pure."""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from libs.core.validation import Strict

# The events a webhook may subscribe to: the router's conversation events and the CRM's case closure.
EVENTS = ("conversation.opened", "conversation.assigned", "conversation.transferred", "conversation.message",
          "conversation.closed", "case.closed")
Event = Literal["conversation.opened", "conversation.assigned", "conversation.transferred", "conversation.message",
                "conversation.closed", "case.closed"]
SIGNATURE_HEADER = "X-Switchboard-Signature"
DEFAULT_EVENTS: tuple[Event, ...] = ("conversation.closed", "case.closed")


class WebhookIn(Strict):
    campaign_id: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=8, max_length=2000)
    events: list[Event] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    secret: Annotated[str, Field(min_length=16, max_length=200)] | None = None
    active: bool = True

    @field_validator("events")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an event is listed twice")
        return v


def url_problem(url: str, *, production: bool) -> str | None:
    """Why the CRM will not post to ``url``: not http(s), no host, credentials in it, or plain http in
    production (the body carries customers' data)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http(s)://host/..."
    if parts.username or parts.password:
        return "the URL must not carry credentials; the signature authenticates the CRM"
    if production and parts.scheme != "https":
        return "webhooks go over https in production"
    return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>``: the receiver recomputes it with the shared secret
    and refuses an old timestamp (a replay)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (and the tests' peer): the signature matches and is recent."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, t, body).split("v1=", 1)[1]
    return abs(now - t) <= tolerance_s and hmac.compare_digest(expected, fields.get("v1", ""))


def next_delay(attempts: int, base_s: float, rng: random.Random | None = None) -> float:
    """The wait before attempt ``attempts + 1``: ``base * 2^(attempts-1)``, capped at an hour, ±20 % jitter."""
    delay = min(3600.0, base_s * 2 ** max(0, attempts - 1))
    return delay * (rng or random).uniform(0.8, 1.2)

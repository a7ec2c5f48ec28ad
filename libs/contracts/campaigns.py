"""The compiled campaign snapshot in the ``campaigns`` KV bucket, and the rules every service reads from it.

The campaigns service owns the data in PostgreSQL and publishes one snapshot per campaign (key: the
campaign id) on every change. The router, CRM and gateway keep the snapshots in memory from a KV watch.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from libs.contracts.messages import ChannelType
from libs.contracts.schedule import Schedule

Strategy = Literal["longest_idle", "least_busy", "round_robin", "sticky"]
Problems = list[tuple[str, str]]  # (field, message) pairs; empty when the action may go ahead

# Pictographs, dingbats, flags, skin tones and the variation selector that turns a symbol into an emoji.
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f1e6-\U0001f1ff]")
_DIGIT = re.compile(r"\d")
# Roles that see a contact's number even where the campaign hides it from agents.
SEES_NUMBERS = frozenset({"admin", "supervisor", "system"})


def has_emoji(text: str) -> bool:
    return bool(_EMOJI.search(text))


def mask_number(address: str) -> str:
    """A phone number with the four digits before its last four hidden, spacing kept:
    ``+54 9 11 1234 3456`` -> ``+54 9 11 •••• 3456``. Addresses with fewer than eight digits (e-mail
    addresses, handles) are left as they are."""
    digits = len(_DIGIT.findall(address))
    if digits < 8:
        return address
    seen = 0
    out = []
    for ch in address:
        if ch.isdigit():
            seen += 1
            out.append("•" if digits - 8 < seen <= digits - 4 else ch)
        else:
            out.append(ch)
    return "".join(out)


class Typification(BaseModel):
    """A closing result: category, then optional subcategory."""

    id: str
    category: str
    subcategory: str | None = None
    label: str = ""


class CustomField(BaseModel):
    """A custom field of a campaign, from the field catalog, with the campaign's label and requiredness."""

    key: str
    label: str
    type: Literal["text", "number", "date", "select", "boolean"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list)
    integration_key: str | None = None


class Permissions(BaseModel):
    """Seed 004 permissions. ``history_hours`` 0 turns the conversation history off."""

    media: bool = True
    close_without_reply: bool = False
    transfer_between_agents: bool = True
    transfer_between_campaigns: bool = False
    emojis: bool = True
    show_contact_number: bool = True
    history_hours: int = 24
    view_all_cases: bool = False


class OutOfHours(BaseModel):
    action: Literal["close", "queue"] = "queue"
    send_message: bool = False
    message: str | None = None


class Routing(BaseModel):
    strategy: Strategy = "longest_idle"
    # Weighted capacity: an agent has `agent_capacity` units; a conversation of a channel takes
    # `weights[channel]` units (a call can take all of them).
    agent_capacity: int = 3
    weights: dict[str, int] = Field(default_factory=lambda: {"voice": 3})
    priority: int = 0
    offer_timeout_s: float | None = None
    max_missed_offers: int = 3
    sticky_window_h: float = 72.0
    on_agent_offline: Literal["keep", "requeue"] = "requeue"
    max_wait_s: float | None = None
    overflow: Literal["none", "campaign", "close"] = "none"
    overflow_campaign_id: str | None = None
    release_rate_per_agent: int = 2
    # Re-queue a conversation whose assigned agent has not replied within this time (None = off).
    first_reply_timeout_s: float | None = None
    # Seed 002 advanced options.
    queue_assignment: bool = True  # assign through the campaign queue (off: offers go to no one automatically)
    sticky_fallback: bool = True  # sticky: another agent when the assigned one is unavailable
    offer_in_after_call_work: bool = False  # inbound calls may reach agents in after-call work
    # Service level: the share of contacts answered within the threshold that the campaign aims for
    # (80/20 = 80 % within 20 s). The dashboard, the reports and the staffing forecast measure against it.
    service_level_threshold_s: int = 20
    service_level_target_pct: int = 80


class CaseOptions(BaseModel):
    """Seed 002 "Opciones del Caso". Transfers and "view all cases" live in ``Permissions``."""

    combine_cases: bool = False
    send_transcripts: bool = False
    autocomplete: bool = False
    interact_with_other_contact_data: bool = False
    interactions_only_from_assigned_channels: bool = False
    close_without_work_record: bool = False
    close_without_customer_info: bool = False
    transfer_notification: bool = False
    show_other_campaigns_info: bool = False
    mass_close_by_agents: bool = False
    # Where a case comment may be e-mailed (To, CC, BCC) besides the case's own contact: these domains, exactly
    # (lower-case; a subdomain must be listed itself). Empty: only the contact. Enforced by the CRM.
    comment_email_domains: list[str] = Field(default_factory=list)


class Tab(BaseModel):
    """An extra tab of the conversation view: a name and a URL template such as
    ``https://crm.example/contacts?phone={contact_address}``."""

    name: str
    url_template: str


class ChannelRef(BaseModel):
    id: str
    type: ChannelType


class CampaignSnapshot(BaseModel):
    id: str
    version: int = 1
    client_id: str = ""
    project_id: str = ""
    name: str
    status: Literal["active", "paused", "archived"] = "active"
    channels: list[ChannelRef] = Field(default_factory=list)
    schedule: Schedule | None = None
    out_of_hours: OutOfHours = Field(default_factory=OutOfHours)
    typifications: list[Typification] = Field(default_factory=list)
    closing_typifications: list[str] = Field(default_factory=list)
    inactivity_typification: str | None = None
    inactivity_timeout_s: float | None = None
    transfer_typification: str | None = None
    ignore_comment_typification: str | None = None
    custom_fields: list[CustomField] = Field(default_factory=list)
    permissions: Permissions = Field(default_factory=Permissions)
    routing: Routing = Field(default_factory=Routing)
    agents: list[str] = Field(default_factory=list)
    supervisors: list[str] = Field(default_factory=list)
    linked_campaigns: list[str] = Field(default_factory=list)
    script: str | None = None
    tabs: list[Tab] = Field(default_factory=list)
    case_options: CaseOptions = Field(default_factory=CaseOptions)
    updated_at: datetime | None = None
    updated_by: str | None = None

    def weight(self, channel_type: str) -> int:
        return max(1, min(self.routing.weights.get(channel_type, 1), self.routing.agent_capacity))

    def closure_problems(self, typification_id: str | None, fields: dict[str, object]) -> list[tuple[str, str]]:
        """What is wrong with a closure, as ``(field, message)`` pairs; empty when it may close."""
        problems: list[tuple[str, str]] = []
        allowed = set(self.closing_typifications) or {t.id for t in self.typifications}
        if not typification_id:
            problems.append(("typification_id", "a typification is required to close"))
        elif typification_id not in allowed:
            problems.append(("typification_id", f"typification {typification_id!r} is not allowed in campaign "
                                                 f"{self.name!r}"))
        for cf in self.custom_fields:
            value = fields.get(cf.key)
            if cf.required and (value is None or (isinstance(value, str) and not value.strip())):
                problems.append((f"fields.{cf.key}", f"required field {cf.label!r} is missing"))
            elif value is not None and cf.type == "select" and cf.options and value not in cf.options:
                problems.append((f"fields.{cf.key}", f"{value!r} is not one of {cf.options}"))
        return problems

    # ---- seed 004 permissions: one home for each rule, called by the service that carries out the action ----

    def reply_problems(self, text: str | None, has_media: bool) -> Problems:
        """What the campaign refuses in an agent's reply: media, emojis (the router sends replies)."""
        problems: Problems = []
        if has_media and not self.permissions.media:
            problems.append(("media", f"campaign {self.name!r} does not allow media"))
        if text and not self.permissions.emojis and has_emoji(text):
            problems.append(("text", f"campaign {self.name!r} does not allow emojis"))
        return problems

    def transfer_problems(self, *, to_agent: bool, to_campaign: bool) -> Problems:
        """Whether the campaign allows this kind of transfer (the router transfers)."""
        problems: Problems = []
        if to_agent and not self.permissions.transfer_between_agents:
            problems.append(("to_agent_id", f"campaign {self.name!r} does not allow transfers between agents"))
        if to_campaign and not self.permissions.transfer_between_campaigns:
            problems.append(("to_campaign_id",
                             f"campaign {self.name!r} does not allow transfers between campaigns"))
        return problems

    def close_without_reply_problems(self, replied: bool | None) -> Problems:
        """A close of a conversation nobody replied to (``replied`` False; None: unknown, allowed)."""
        if replied is False and not self.permissions.close_without_reply:
            return [("reply", f"campaign {self.name!r} does not allow closing a conversation without a reply")]
        return []

    def history_since(self, now: datetime) -> datetime:
        """The oldest instant of a contact's history an agent of this campaign sees (``history_hours`` back;
        0 hours: nothing before now)."""
        return now - timedelta(hours=self.permissions.history_hours)

    def contact_number_for(self, address: str, role: str) -> str:
        """The contact's number as ``role`` may see it: whole, or masked for agents when the campaign hides it."""
        if self.permissions.show_contact_number or role in SEES_NUMBERS:
            return address
        return mask_number(address)


class ChannelSnapshot(BaseModel):
    """The non-secret view of a channel in the ``channels`` KV bucket, published by the channels service."""

    id: str
    type: ChannelType
    name: str = ""
    address: str = ""
    active: bool = True

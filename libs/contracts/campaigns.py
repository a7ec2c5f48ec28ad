"""The compiled campaign snapshot in the ``campaigns`` KV bucket, and the rules every service reads from it.

The campaigns service owns the data in PostgreSQL and publishes one snapshot per campaign (key: the
campaign id) on every change. The router, CRM and gateway keep the snapshots in memory from a KV watch.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

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


# The fields of a conversation, queue item or event that may hold the contact's number (a WhatsApp or SMS
# contact's name is often the number itself).
CONTACT_FIELDS = ("contact_address", "contact_name", "to")

# What a value must look like to be a phone number the masking rule hides (not an e-mail address or handle).
_PHONE_LIKE = re.compile(r"^[+\d\s().\-•]+$")


def has_emoji(text: str) -> bool:
    return bool(_EMOJI.search(text))


def mask_number(address: str) -> str:
    """A phone number with the four digits before its last four hidden, spacing kept:
    ``+54 9 11 1234 3456`` -> ``+54 9 11 •••• 3456``. Addresses with fewer than eight digits (e-mail
    addresses, handles) are left as they are."""
    digits = len(_DIGIT.findall(address)) + address.count("•")  # masked once already: the same again
    if digits < 8:
        return address
    seen = 0
    out = []
    for ch in address:
        if ch.isdigit() or ch == "•":
            seen += 1
            out.append("•" if digits - 8 < seen <= digits - 4 else ch)
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(value: str) -> str:
    """``value`` masked by :func:`mask_number` when it is a phone number; e-mail addresses, handles and other
    text are left as they are."""
    return mask_number(value) if _PHONE_LIKE.match(value) else value


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
    """An extra tab of the conversation and work-item views: a name and a URL template such as
    ``https://crm.example/contacts?phone={contact_address}`` (placeholders: ``TAB_PLACEHOLDERS``, plus
    ``{contact.custom.<key>}``, ``{case.fields.<key>}`` and ``{account.<key>}``)."""

    name: str
    url_template: str


# The placeholders a tab URL template may use, filled by the CRM from the contact and the case in view.
TAB_PLACEHOLDERS: frozenset[str] = frozenset({
    "contact_id", "contact_address", "contact_name", "contact_document", "contact_email", "contact_phone",
    "contact_company", "conversation_id", "campaign_id", "channel_id", "channel_type", "agent_id", "case_id",
    "case_title", "account_number",
})
# Prefixed placeholders: ``{contact.custom.<key>}``, ``{case.fields.<key>}``, ``{account.<key>}``.
TAB_PREFIXES: tuple[str, ...] = ("contact.custom.", "case.fields.", "account.")


def tab_placeholder_problem(name: str) -> str | None:
    """Why ``{name}`` cannot be a tab placeholder, or None when it can."""
    if name in TAB_PLACEHOLDERS:
        return None
    for prefix in TAB_PREFIXES:
        key = name.removeprefix(prefix)
        if name.startswith(prefix) and re.fullmatch(r"[A-Za-z0-9_]{1,64}", key):
            return None
    return (f"unknown placeholder {{{name}}}; use {', '.join(sorted(TAB_PLACEHOLDERS))}, or "
            f"{', '.join(p + '<key>' for p in TAB_PREFIXES)}")


def fill_template(template: str, values: Mapping[str, object]) -> str:
    """A tab URL with every ``{placeholder}`` replaced by its value, percent-encoded (a missing one: empty)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name)
            out.append(quote("" if value is None else str(value), safe=""))
    return "".join(out)


class CallCharges(BaseModel):
    """Seed 001 "cargos de la llamada": ``rate`` per ``per`` (e.g. 10 col per second); rate 0 is off."""

    rate: float = 0
    per: Literal["second", "minute"] = "second"
    currency: str = ""


# The fields of a case a campaign may show in the external case view (seed 002, "Vista Externa de Casos").
EXTERNAL_FIELDS: tuple[str, ...] = ("title", "status", "priority", "result", "created_at", "closed_at",
                                    "contact_name", "account", "fields", "comments", "history", "attachments")


class ExternalView(BaseModel):
    """A signed, expiring, read-only link to a case for someone outside the platform: which fields it shows."""

    enabled: bool = False
    fields: list[str] = Field(default_factory=lambda: ["title", "status", "result", "created_at", "closed_at"])
    ttl_hours: int = 72


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
    call_charges: CallCharges = Field(default_factory=CallCharges)
    external_view: ExternalView = Field(default_factory=ExternalView)
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

    def history_campaigns(self) -> list[str] | None:
        """The campaigns whose history an agent of this campaign sees: this one and its linked ones, or every
        campaign (None) when ``case_options.show_other_campaigns_info`` is on."""
        if self.case_options.show_other_campaigns_info:
            return None
        return [self.id, *self.linked_campaigns]

    def hides_numbers_from(self, role: str) -> bool:
        """Whether a ``role`` of this campaign sees contact numbers masked (agents, when the campaign hides them)."""
        return not self.permissions.show_contact_number and role not in SEES_NUMBERS

    def contact_number_for(self, address: str, role: str) -> str:
        """The contact's number as ``role`` may see it: whole, or masked for agents when the campaign hides it."""
        return mask_phone(address) if self.hides_numbers_from(role) else address

    def contact_shown_to(self, item: Mapping[str, Any], role: str) -> Mapping[str, Any]:
        """A conversation, queue item or event as ``role`` may see it: its ``CONTACT_FIELDS`` through
        :meth:`contact_number_for` (a copy when one changes; the item itself otherwise)."""
        if not self.hides_numbers_from(role):
            return item
        out = dict(item)
        for name in CONTACT_FIELDS:
            if isinstance(out.get(name), str):
                out[name] = self.contact_number_for(out[name], role)
        return out

    # ---- seed 002 case options ----

    def close_record_problems(self, *, has_work_record: bool, has_customer_info: bool) -> Problems:
        """A close of an item without a work record (a comment, action, e-mail, attachment, call or reply) or
        without the customer's information (a linked contact with a name), when the campaign forbids it."""
        problems: Problems = []
        if not has_work_record and not self.case_options.close_without_work_record:
            problems.append(("comment", f"campaign {self.name!r} does not allow closing a case without a work "
                                        "record (a comment, an action, an e-mail, a call or a reply)"))
        if not has_customer_info and not self.case_options.close_without_customer_info:
            problems.append(("contact_id", f"campaign {self.name!r} does not allow closing a case without the "
                                           "customer's information (a linked contact with a name)"))
        return problems

    def recipient_problem(self, address: str, *, own: Iterable[str], other_contacts: Iterable[str]) -> str | None:
        """Why a comment e-mail (To, CC, BCC) may not go to ``address``, or None when it may: the case's own
        contact always; an address of another contact of the CRM only with
        ``case_options.interact_with_other_contact_data``; any other address only in a domain of
        ``case_options.comment_email_domains``."""
        address = address.lower()
        if address in {a.lower() for a in own}:
            return None
        if address in {a.lower() for a in other_contacts}:
            if self.case_options.interact_with_other_contact_data:
                return None
            return (f"{address} belongs to another contact, and campaign {self.name!r} does not allow interacting "
                    "with other contacts' data (case_options.interact_with_other_contact_data)")
        allowed = set(self.case_options.comment_email_domains)
        if address.rpartition("@")[2] in allowed:
            return None
        return (f"{address} is not the case's contact, and campaign {self.name!r} does not allow e-mail to its "
                f"domain (allowed: {', '.join(sorted(allowed)) or 'none'}; see case_options.comment_email_domains)")

    def channel_problems(self, channel_id: str, *, field: str = "channel_id") -> Problems:
        """An agent sending through a channel that is not the campaign's, when the campaign allows only its
        own (``case_options.interactions_only_from_assigned_channels``)."""
        if self.case_options.interactions_only_from_assigned_channels and \
                channel_id not in {c.id for c in self.channels}:
            return [(field, f"campaign {self.name!r} sends only through its own channels "
                            f"({', '.join(c.id for c in self.channels) or 'none'}), not {channel_id!r}")]
        return []

    def combine_problems(self) -> Problems:
        if not self.case_options.combine_cases:
            return [("case_options.combine_cases", f"campaign {self.name!r} does not allow combining cases")]
        return []

    def mass_close_problems(self, role: str) -> Problems:
        """Agents close their own cases in bulk only with ``case_options.mass_close_by_agents``."""
        if role == "agent" and not self.case_options.mass_close_by_agents:
            return [("case_ids", f"campaign {self.name!r} does not let agents close cases in bulk")]
        return []

    def integration_values(self, fields: Mapping[str, object]) -> dict[str, object]:
        """The closure's custom fields under their ``integration_key`` (seed 004 "Valor"), for integrations."""
        return {cf.integration_key: fields.get(cf.key) for cf in self.custom_fields
                if cf.integration_key and cf.key in fields}

    def call_charge(self, duration_s: float | None) -> float | None:
        """What a call of ``duration_s`` costs at the campaign's rate, rounded to cents; None when no rate."""
        if not self.call_charges.rate or duration_s is None:
            return None
        units = duration_s if self.call_charges.per == "second" else duration_s / 60
        return round(units * self.call_charges.rate, 2)

    def tabs_for(self, values: Mapping[str, object]) -> list[dict[str, str]]:
        """The campaign's tabs with their URLs filled from ``values`` (contact, case, account fields)."""
        return [{"name": t.name, "url": fill_template(t.url_template, values), "url_template": t.url_template}
                for t in self.tabs]


_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")


class WhatsAppTemplate(BaseModel):
    """A message template of a WhatsApp number, as approved in Meta's WhatsApp Manager: outside the 24-hour
    customer service window a conversation can only start with an approved template. Its body's ``{{1}}``..
    ``{{n}}`` are the parameters the agent fills."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field("es", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    body: str = Field(min_length=1, max_length=1024)
    status: Literal["approved", "pending", "rejected"] = "approved"

    @property
    def parameters(self) -> int:
        """How many parameters the body takes (its highest ``{{n}}``)."""
        return max((int(n) for n in _PLACEHOLDER.findall(self.body)), default=0)

    def render(self, values: list[str]) -> str:
        """The body with its parameters filled (what the customer reads)."""
        return _PLACEHOLDER.sub(lambda m: values[int(m.group(1)) - 1] if int(m.group(1)) <= len(values) else "",
                                self.body)


class ChannelSnapshot(BaseModel):
    """The non-secret view of a channel in the ``channels`` KV bucket, published by the channels service."""

    id: str
    type: ChannelType
    name: str = ""
    address: str = ""
    active: bool = True
    # WhatsApp: the number's message templates (the router checks an agent-started conversation against them).
    templates: list[WhatsAppTemplate] = Field(default_factory=list)

    def template(self, name: str, language: str | None = None) -> WhatsAppTemplate | None:
        return next((t for t in self.templates if t.name == name and (language is None or t.language == language)),
                    None)

"""Pure rules of campaign configuration: input models, cross-field rules, diffs and the snapshot compiler."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from libs.contracts.campaigns import (
    EXTERNAL_FIELDS,
    CallCharges,
    CampaignSnapshot,
    CaseOptions,
    ChannelRef,
    CustomField,
    ExternalView,
    OutOfHours,
    Permissions,
    Routing,
    Tab,
    Typification,
    tab_placeholder_problem,
)
from libs.contracts.messages import ChannelType
from libs.contracts.schedule import DateException, Schedule, TimeInterval
from libs.core.errors import Forbidden, Invalid, Unauthorized
from libs.core.validation import Strict, blame

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def optional_id() -> Any:
    """An optional id field: letters, digits, '.', '_' or '-', at most 64, usable as a NATS KV key."""
    return Field(None, pattern=ID_PATTERN)

CHANNEL_TYPES: tuple[str, ...] = ("whatsapp", "instagram", "sms", "email", "voice")


# ------------------------------------------------------------------------------------------ who is asking

@dataclass(frozen=True)
class Actor:
    """The caller, from its verified internal token (``libs/core/auth.py``)."""

    user_id: str | None
    role: str | None

    def require_admin(self) -> None:
        """Writes are admin only (seed 002), checked here as well as in the gateway.

        Raises:
            Unauthorized: no role (a caller the middleware did not identify).
            Forbidden: the role is not admin.
        """
        if not self.role:
            raise Unauthorized("configuration changes need an authenticated caller", field="Authorization")
        if self.role != "admin":
            raise Forbidden(f"only an admin can change campaign configuration, not a {self.role}", field="role")


# ------------------------------------------------------------------------------------- clients, projects

Status = Literal["active", "inactive"]


class ClientIn(Strict):
    id: str | None = optional_id()
    name: str = Field(min_length=1, max_length=200)
    status: Status = "active"


class ProjectIn(Strict):
    id: str | None = optional_id()
    client_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    status: Status = "active"


# ------------------------------------------------------------------------------------------- schedules

class TimeIntervalIn(Strict, TimeInterval):
    pass


class DateExceptionIn(Strict, DateException):
    intervals: list[TimeIntervalIn] = Field(default_factory=list)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _special_hours_need_intervals(self) -> DateExceptionIn:  # overrides the contract's, to blame a field
        if not self.closed and not self.intervals:
            raise blame("intervals", f"{self.day} is not closed, so it needs special-hours intervals")
        if self.closed and self.intervals:
            raise blame("intervals", f"{self.day} is closed, so it takes no intervals (set closed: false)")
        return self


class ScheduleIn(Strict, Schedule):
    """A named, reusable schedule. ``id`` is optional on create."""

    id: str | None = optional_id()  # type: ignore[assignment]
    name: str = Field(min_length=1, max_length=200)
    weekly: dict[int, list[TimeIntervalIn]] = Field(default_factory=dict)  # type: ignore[assignment]
    exceptions: list[DateExceptionIn] = Field(default_factory=list)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _range(self) -> ScheduleIn:  # overrides the contract's, to blame a field
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise blame("valid_until", "valid_until is before valid_from")
        return self

    @field_validator("exceptions")
    @classmethod
    def _one_exception_per_day(cls, v: list[DateExceptionIn]) -> list[DateExceptionIn]:
        seen: set[date] = set()
        for e in v:
            if e.day in seen:
                raise ValueError(f"two exceptions on {e.day}")
            seen.add(e.day)
        return v


# --------------------------------------------------------------------------------------- typifications

class TypificationIn(Strict):
    id: str | None = optional_id()
    category: str = Field(min_length=1, max_length=200)
    subcategory: str | None = Field(None, min_length=1, max_length=200)
    label: str = Field("", max_length=200)


def typification_label(category: str, subcategory: str | None, label: str) -> str:
    return label or (f"{category} / {subcategory}" if subcategory else category)


# ---------------------------------------------------------------------------------------- field catalog

FieldType = Literal["text", "number", "date", "select", "boolean"]


class FieldIn(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    type: FieldType = "text"
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options(self) -> FieldIn:
        _check_options(self.type, self.options)
        return self


def _check_options(type_: str, options: list[str]) -> None:
    if type_ == "select" and not options:
        raise blame("options", "a select field needs at least one option")
    if type_ != "select" and options:
        raise blame("options", f"only select fields have options, not {type_} fields")
    if len(set(options)) != len(options):
        raise blame("options", "options repeat")


# ------------------------------------------------------------------------------------------- campaigns

class ChannelIn(Strict):
    id: str = Field(min_length=1, max_length=128)
    type: ChannelType | None = None


class OutOfHoursIn(Strict, OutOfHours):
    @model_validator(mode="after")
    def _message_when_sent(self) -> OutOfHoursIn:
        if self.send_message and not (self.message or "").strip():
            raise blame("message", "send_message is on, so the out-of-hours message is required")
        return self


class PermissionsIn(Strict, Permissions):
    history_hours: int = Field(24, ge=0, le=24 * 365)


DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class CaseOptionsIn(Strict, CaseOptions):
    comment_email_domains: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("comment_email_domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        out: list[str] = []
        for i, raw in enumerate(domains):
            domain = raw.strip().lower().rstrip(".")
            labels = domain.split(".")
            if len(domain) > 253 or len(labels) < 2 or not all(DOMAIN_LABEL.fullmatch(x) for x in labels):
                raise blame(f"[{i}]", f"{raw!r} is not a domain name such as example.com (an internationalized "
                                      "one in its xn-- form)")
            if domain in out:
                raise blame(f"[{i}]", f"{domain!r} is listed twice")
            out.append(domain)
        return out


class RoutingIn(Strict, Routing):
    agent_capacity: int = Field(3, ge=1, le=100)
    weights: dict[str, int] = Field(default_factory=lambda: {"voice": 3})
    priority: int = Field(0, ge=-1000, le=1000)
    offer_timeout_s: float | None = Field(None, gt=0, le=3600)
    max_missed_offers: int = Field(3, ge=1, le=100)
    sticky_window_h: float = Field(72.0, gt=0, le=24 * 365)
    max_wait_s: float | None = Field(None, gt=0)
    release_rate_per_agent: int = Field(2, ge=1, le=1000)
    service_level_threshold_s: int = Field(20, ge=1, le=3600)
    service_level_target_pct: int = Field(80, ge=1, le=100)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, int]) -> dict[str, int]:
        for key, w in v.items():
            if key not in CHANNEL_TYPES:
                raise blame(key, f"{key!r} is not a channel type ({', '.join(CHANNEL_TYPES)})")
            if w < 1:
                raise blame(key, f"the {key} weight must be at least 1")
        return v

    @model_validator(mode="after")
    def _overflow(self) -> RoutingIn:
        if self.overflow == "campaign" and not self.overflow_campaign_id:
            raise blame("overflow_campaign_id", "overflow to a campaign needs overflow_campaign_id")
        if self.overflow != "campaign" and self.overflow_campaign_id:
            raise blame("overflow_campaign_id", "only overflow='campaign' takes an overflow_campaign_id")
        return self


class CampaignFieldIn(Strict):
    key: str = Field(min_length=1)
    required: bool = False
    label: str | None = Field(None, max_length=200)
    integration_key: str | None = Field(None, max_length=200)


class TabIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    url_template: str = Field(min_length=1, max_length=2000)

    @field_validator("url_template")
    @classmethod
    def _template(cls, v: str) -> str:
        check_url_template(v)
        return v


def check_url_template(template: str) -> None:
    """A tab URL is http(s) and uses only the known ``{placeholders}``."""
    if not template.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"malformed template: {exc}") from exc
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if spec or conv:
            raise ValueError(f"placeholder {{{name}}} takes no format or conversion")
        if problem := tab_placeholder_problem(name):
            raise ValueError(problem)


class CallChargesIn(Strict, CallCharges):
    rate: float = Field(0, ge=0, le=1_000_000)
    currency: str = Field("", max_length=12)


class ExternalViewIn(Strict, ExternalView):
    ttl_hours: int = Field(72, ge=1, le=24 * 90)

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        for i, name in enumerate(v):
            if name not in EXTERNAL_FIELDS:
                raise blame(f"[{i}]", f"{name!r} is not a case field the external view can show "
                                      f"({', '.join(EXTERNAL_FIELDS)})")
        _no_repeats("", v)
        return v


CampaignStatus = Literal["active", "paused"]
Ref = Annotated[str, Field(min_length=1, max_length=128)]  # the id of a user, typification or campaign


class CampaignIn(Strict):
    """What an administrator configures for a campaign (seed 004 and seed 002)."""

    id: str | None = optional_id()
    client_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    status: CampaignStatus = "active"
    channels: list[ChannelIn] = Field(default_factory=list)
    schedule_id: str | None = None
    out_of_hours: OutOfHoursIn = Field(default_factory=OutOfHoursIn)
    closing_typifications: list[Ref] = Field(default_factory=list)
    inactivity_typification: str | None = None
    inactivity_timeout_s: float | None = Field(None, gt=0, le=30 * 24 * 3600)
    transfer_typification: str | None = None
    ignore_comment_typification: str | None = None
    permissions: PermissionsIn = Field(default_factory=PermissionsIn)
    custom_fields: list[CampaignFieldIn] = Field(default_factory=list)
    agents: list[Ref] = Field(default_factory=list)
    supervisors: list[Ref] = Field(default_factory=list)
    script: str | None = Field(None, max_length=100_000)
    tabs: list[TabIn] = Field(default_factory=list)
    routing: RoutingIn = Field(default_factory=RoutingIn)
    case_options: CaseOptionsIn = Field(default_factory=CaseOptionsIn)
    linked_campaigns: list[Ref] = Field(default_factory=list)
    call_charges: CallChargesIn = Field(default_factory=CallChargesIn)
    external_view: ExternalViewIn = Field(default_factory=ExternalViewIn)

    @model_validator(mode="after")
    def _rules(self) -> CampaignIn:
        for name in ("channels", "closing_typifications", "custom_fields", "agents", "supervisors",
                     "linked_campaigns", "tabs"):
            _no_repeats(name, getattr(self, name))
        if (self.inactivity_typification is None) != (self.inactivity_timeout_s is None):
            if self.inactivity_typification is None:
                raise blame("inactivity_typification", "an inactivity timeout needs an inactivity typification")
            raise blame("inactivity_timeout_s", "the inactivity typification needs an inactivity timeout")
        if self.ignore_comment_typification and not self.has_channel_type("instagram"):
            raise blame("ignore_comment_typification",
                        "the ignore-comment typification is allowed only when an Instagram channel is attached")
        if self.id and self.id in self.linked_campaigns:
            raise blame(f"linked_campaigns[{self.linked_campaigns.index(self.id)}]",
                        "a campaign cannot be linked to itself")
        if self.id and self.routing.overflow_campaign_id == self.id:
            raise blame("routing.overflow_campaign_id", "a campaign cannot overflow into itself")
        return self

    def has_channel_type(self, type_: str) -> bool:
        return any(c.type == type_ for c in self.channels)


def _no_repeats(name: str, items: list[Any]) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = getattr(item, "id", None) or getattr(item, "key", None) or getattr(item, "name", None) or item
        if key in seen:
            raise blame(f"{name}[{i}]", f"{key!r} appears twice")
        seen.add(key)


def merge_patch(current: dict[str, Any], patch: Any, model: type[BaseModel],
                immutable: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """Apply a PATCH body: each given top-level field replaces the current one; then the caller validates
    the whole result, so a patch can never leave an entity that a create would refuse.

    Raises:
        Invalid: the body is not an object, names an unknown field, or changes an immutable one.
    """
    if not isinstance(patch, dict):
        raise Invalid("a JSON object is expected", field="body")
    for key, value in patch.items():
        if key not in model.model_fields:
            raise Invalid(f"{key}: unknown field", field=key)
        if key in immutable and value != current.get(key):
            raise Invalid(f"{key}: cannot change", field=key)
    return {**current, **patch}


@dataclass(frozen=True)
class CampaignQuery:
    """Filters of ``GET /campaigns`` (seed 004 "Consultar campaña"); dates bound the creation date."""

    status: str | None = None
    client_id: str | None = None
    project_id: str | None = None
    channel_id: str | None = None
    agent_id: str | None = None
    supervisor_id: str | None = None
    text: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    limit: int = 100
    after: tuple[str, ...] | None = None  # the sort values of the previous page's last campaign
    within: frozenset[str] | None = None  # the caller's campaign scope (None: every campaign)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The top-level fields that changed, as ``{field: {"from": old, "to": new}}``."""
    return {k: {"from": old.get(k), "to": new.get(k)}
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


# -------------------------------------------------------------------------------------------- compiler

class FieldDef(BaseModel):
    """A catalog field as the compiler needs it."""

    key: str
    label: str
    type: FieldType = "text"
    options: list[str] = Field(default_factory=list)


def compile_snapshot(
    spec: CampaignIn,
    *,
    campaign_id: str,
    status: Literal["active", "paused", "archived"],
    version: int,
    schedule: Schedule | None,
    typifications: Mapping[str, Typification],
    catalog: Mapping[str, FieldDef],
    channel_types: Mapping[str, str],
    updated_at: datetime | None = None,
    updated_by: str | None = None,
) -> CampaignSnapshot:
    """The data-plane view of a campaign: everything the router, CRM and gateway need, denormalized."""
    used = [*spec.closing_typifications, spec.inactivity_typification, spec.transfer_typification,
            spec.ignore_comment_typification]
    typ_ids = list(dict.fromkeys(t for t in used if t))
    fields = []
    for cf in spec.custom_fields:
        d = catalog[cf.key]
        fields.append(CustomField(key=cf.key, label=cf.label or d.label, type=d.type, required=cf.required,
                                  options=list(d.options), integration_key=cf.integration_key))
    return CampaignSnapshot(
        id=campaign_id,
        version=version,
        client_id=spec.client_id,
        project_id=spec.project_id,
        name=spec.name,
        status=status,
        channels=[ChannelRef(id=c.id, type=c.type or channel_types[c.id]) for c in spec.channels],
        schedule=Schedule.model_validate(schedule.model_dump()) if schedule else None,
        out_of_hours=OutOfHours.model_validate(spec.out_of_hours.model_dump()),
        typifications=[typifications[t] for t in typ_ids],
        closing_typifications=list(spec.closing_typifications),
        inactivity_typification=spec.inactivity_typification,
        inactivity_timeout_s=spec.inactivity_timeout_s,
        transfer_typification=spec.transfer_typification,
        ignore_comment_typification=spec.ignore_comment_typification,
        custom_fields=fields,
        permissions=Permissions.model_validate(spec.permissions.model_dump()),
        routing=Routing.model_validate(spec.routing.model_dump()),
        agents=list(spec.agents),
        supervisors=list(spec.supervisors),
        linked_campaigns=list(spec.linked_campaigns),
        script=spec.script,
        tabs=[Tab(name=t.name, url_template=t.url_template) for t in spec.tabs],
        case_options=CaseOptions.model_validate(spec.case_options.model_dump()),
        call_charges=CallCharges.model_validate(spec.call_charges.model_dump()),
        external_view=ExternalView.model_validate(spec.external_view.model_dump()),
        updated_at=updated_at,
        updated_by=updated_by,
    )

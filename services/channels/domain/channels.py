"""The channel registry model: what a channel is, which secrets it holds, and how it is shown without them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from libs.contracts import ChannelSnapshot, ChannelType
from libs.contracts.campaigns import WhatsAppTemplate
from libs.core.errors import Conflict, Invalid
from libs.core.validation import parse_body

SECRET_FIELDS: tuple[str, ...] = ("app_secret", "verify_token", "access_token", "auth_token", "smtp_password")
PLAIN_FIELDS: tuple[str, ...] = ("type", "name", "address", "config", "active", "phone_number_id",
                                 "account_sid", "base_url")
MASK = "********"
CHANNEL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def _check_base_url(v: str | None) -> str | None:
    if v is None or v == "":
        return None
    if not v.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return v.rstrip("/")


class EmailConfig(BaseModel):
    """Outbound SMTP of an e-mail channel (inbound arrives on the service's own SMTP listener)."""

    model_config = ConfigDict(extra="allow")
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False


class VoiceConfig(BaseModel):
    """Click-to-call through the phone system's ARI: who we log in as and what we dial."""

    model_config = ConfigDict(extra="allow")
    ari_username: str = "switchboard"
    ari_app: str = "switchboard"
    endpoint_template: str = "PJSIP/{to}"
    caller_id: str | None = None
    timeout_s: int = Field(30, ge=1, le=600)
    # Where an assigned inbound call is sent: the agent's extension, dialled through this template.
    agent_extensions: dict[str, str] = Field(default_factory=dict)
    agent_endpoint_template: str = "PJSIP/{ext}"
    # Click-to-call: the agent's extension rings first; when they answer, the phone system dials the contact
    # from this dialplan context (ARI ``originate`` with ``extension``/``context``/``priority``). Through
    # Twilio the agent's entry in ``agent_extensions`` is the number (or ``client:<name>``) called first.
    dial_context: str = Field("from-internal", min_length=1, max_length=80)

    @field_validator("endpoint_template")
    @classmethod
    def _has_to(cls, v: str) -> str:
        if "{to}" not in v:
            raise ValueError("must contain {to}")
        return v

    @field_validator("agent_endpoint_template")
    @classmethod
    def _has_ext(cls, v: str) -> str:
        if "{ext}" not in v:
            raise ValueError("must contain {ext}")
        return v


class WhatsAppConfig(BaseModel):
    """A WhatsApp number's message templates, as approved in Meta's WhatsApp Manager (name, language, body with
    ``{{n}}`` parameters, status): what an agent may start a conversation with outside the 24-hour window."""

    model_config = ConfigDict(extra="allow")
    templates: list[WhatsAppTemplate] = Field(default_factory=list, max_length=250)

    @field_validator("templates")
    @classmethod
    def _unique(cls, v: list[WhatsAppTemplate]) -> list[WhatsAppTemplate]:
        seen = set()
        for t in v:
            if (t.name, t.language) in seen:
                raise ValueError(f"template {t.name} ({t.language}) is listed twice")
            seen.add((t.name, t.language))
        return v


CONFIG_MODELS: dict[str, type[BaseModel]] = {"email": EmailConfig, "voice": VoiceConfig, "whatsapp": WhatsAppConfig}


class _ChannelFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=320)
    config: dict[str, Any] | None = None
    active: bool | None = None
    phone_number_id: str | None = Field(None, max_length=64)
    account_sid: str | None = Field(None, max_length=64)
    base_url: str | None = Field(None, max_length=500)
    app_secret: str | None = Field(None, max_length=500)
    verify_token: str | None = Field(None, max_length=500)
    access_token: str | None = Field(None, max_length=2000)
    auth_token: str | None = Field(None, max_length=500)
    smtp_password: str | None = Field(None, max_length=500)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return _check_base_url(v)


class ChannelCreate(_ChannelFields):
    """Body of ``POST /channels``."""

    id: str | None = Field(None, pattern=CHANNEL_ID_PATTERN)
    type: ChannelType


class ChannelUpdate(_ChannelFields):
    """Body of ``PUT /channels/{id}``: the fields given replace the stored ones; a masked secret keeps it."""

    type: ChannelType | None = None


class Channel(BaseModel):
    """A channel with its secrets. ``SecretStr`` keeps secrets out of reprs and logs."""

    id: str
    type: ChannelType
    name: str = ""
    address: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    phone_number_id: str | None = None
    account_sid: str | None = None
    base_url: str | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    access_token: SecretStr | None = None
    auth_token: SecretStr | None = None
    smtp_password: SecretStr | None = None
    revision: int = 1

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def snapshot(self) -> ChannelSnapshot:
        templates = WhatsAppConfig.model_validate(self.config).templates if self.type == "whatsapp" else []
        return ChannelSnapshot(id=self.id, type=self.type, name=self.name, address=self.address,
                               active=self.active, templates=templates)

    def masked(self) -> dict[str, Any]:
        """The API view: every secret is ``"********"`` when set and ``null`` when not."""
        out = self.model_dump(exclude=set(SECRET_FIELDS))
        for name in SECRET_FIELDS:
            out[name] = MASK if getattr(self, name) is not None else None
        return out

    def email_config(self) -> EmailConfig:
        return EmailConfig.model_validate(self.config)

    def voice_config(self) -> VoiceConfig:
        return VoiceConfig.model_validate(self.config)


def _requirements(ch: Channel) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if ch.type in ("whatsapp", "instagram") and ch.app_secret is None:
        problems.append(("app_secret", f"a {ch.type} channel needs its app secret to check signatures"))
    if ch.type == "sms":
        for name in ("account_sid", "auth_token"):
            if not getattr(ch, name):
                problems.append((name, "an sms channel needs the Twilio account SID and auth token"))
    if ch.type == "email" and "@" not in ch.address:
        problems.append(("address", "an email channel needs its e-mail address, e.g. care@example.com"))
    if ch.type == "voice" and ch.app_secret is None and ch.auth_token is None:
        problems.append(("auth_token", "a voice channel needs auth_token (Twilio) or app_secret (ARI)"))
    return problems


def _validated(ch: Channel) -> Channel:
    model = CONFIG_MODELS.get(ch.type)
    if model is not None:
        parse_body(model, ch.config, prefix="config")
    problems = _requirements(ch)
    if problems:
        field, message = problems[0]
        raise Invalid(message, field=field)
    if ch.type == "email":
        ch.address = ch.address.lower()
    return ch


def parse_create(body: Any, new_id: str) -> Channel:
    """Validate a create body into a channel.

    Raises:
        Invalid: naming the first wrong field.
    """
    data = parse_body(ChannelCreate, body)
    values = data.model_dump(exclude_none=True)
    values["id"] = data.id or new_id
    values = {k: v for k, v in values.items() if not (k in SECRET_FIELDS and v == "")}
    return _validated(Channel.model_validate(values))


def apply_update(current: Channel, body: Any) -> Channel:
    """Merge an update body into a channel. A secret sent back masked keeps its value; ``""`` clears it.

    Raises:
        Invalid: naming the first wrong field.
    """
    data = parse_body(ChannelUpdate, body)
    values = current.model_dump()
    for name in data.model_fields_set:
        value = getattr(data, name)
        if name in SECRET_FIELDS:
            if value == MASK:
                continue
            values[name] = value or None
        elif value is None and name not in ("base_url", "phone_number_id", "account_sid"):
            raise Invalid(f"{name} cannot be null", field=name)
        else:
            values[name] = value
    values["revision"] = current.revision + 1
    return _validated(Channel.model_validate(values))


def deletion_conflict(channel_id: str, campaigns: list[tuple[str, str]], open_count: int,
                      conversations: list[str]) -> Conflict | None:
    """Why a channel may not be deleted (issue 13 item 12: configuration never strands work): an active campaign
    still uses it, or conversations are still open on it; None when it may go."""
    if not campaigns and not open_count:
        return None
    reasons = []
    if campaigns:
        reasons.append("active campaign(s) " + ", ".join(f"{name!r} ({cid})" for cid, name in campaigns) +
                       " use it: remove it from them first")
    if open_count:
        shown = ", ".join(conversations[:10]) + (" ..." if open_count > len(conversations[:10]) else "")
        reasons.append(f"{open_count} conversation(s) are open on it ({shown}): close or move them first")
    return Conflict(f"channel {channel_id!r} is in use: " + "; ".join(reasons), field="channel_id",
                    details={"campaigns": [cid for cid, _ in campaigns], "open_conversations": open_count,
                             "conversations": conversations})

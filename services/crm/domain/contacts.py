"""Contacts: input models, phone / e-mail / handle normalization, and matching rules."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.core.phones import E164_SHAPE, unchanged_by_parsing

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NETWORK_RE = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
HANDLE_RE = re.compile(r"^[\w.\-]{1,100}$")
PHONE_CHANNELS = frozenset({"whatsapp", "sms", "voice"})


class BadAddress(ValueError):
    """An address that cannot be normalized; the message says why."""


def normalize_phone(raw: str, region: str) -> str:
    """E.164 of a phone written by a person or a provider.

    ``00`` is read as the international prefix; digits with no prefix are read in ``region`` and, if that
    fails, as an international number without its ``+`` (WhatsApp sends them that way).

    Raises:
        BadAddress: not a valid phone number.
    """
    text = (raw or "").strip()
    if not text:
        raise BadAddress("phone number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    if E164_SHAPE.match(text):
        valid = _e164_valid(text[1:])
        if valid is not None:
            if valid:
                return text
            raise BadAddress(f"{raw!r} is not a valid phone number")
    return _normalize_slow(text, region, raw)


@functools.lru_cache(maxsize=4096)
def _normalize_slow(text: str, region: str, raw: str) -> str:
    candidates = [text] if text.startswith("+") else [text, "+" + re.sub(r"\D", "", text)]
    for i, candidate in enumerate(candidates):
        try:
            number = phonenumbers.parse(candidate, region if i == 0 else None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise BadAddress(f"{raw!r} is not a valid phone number")




def _e164_valid(digits: str) -> bool | None:
    """Whether ``+digits`` (already E.164-shaped) is a valid number, without ``phonenumbers.parse`` (most of
    the cost of an import row). ``None`` when parsing could change the digits: the caller takes the full path."""
    number = unchanged_by_parsing(digits)
    return None if number is None else phonenumbers.is_valid_number(number)


def normalize_email(raw: str) -> str:
    text = (raw or "").strip().lower()
    if not EMAIL_RE.match(text) or len(text) > 254:
        raise BadAddress(f"{raw!r} is not a valid e-mail address")
    return text


def normalize_handle(network: str, raw: str) -> tuple[str, str]:
    net = (network or "").strip().lower()
    if not NETWORK_RE.match(net):
        raise BadAddress(f"network {network!r} must be a lower-case name such as instagram")
    handle = (raw or "").strip().lstrip("@").lower()
    if not HANDLE_RE.match(handle):
        raise BadAddress(f"{raw!r} is not a valid {net} handle")
    return net, handle


@dataclass(frozen=True)
class Address:
    """A normalized contact address: ``kind`` phone / email / handle, ``network`` for handles."""

    kind: Literal["phone", "email", "handle"]
    value: str
    raw: str
    network: str = ""
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "phone":
            return {"number": self.value, "raw": self.raw, "label": self.label}
        if self.kind == "email":
            return {"address": self.value, "raw": self.raw, "label": self.label}
        return {"network": self.network, "handle": self.value, "raw": self.raw}


def address_of_channel(channel_type: str, contact_address: str, region: str) -> Address | None:
    """The address a conversation's contact is matched by; ``None`` when it cannot be normalized."""
    try:
        if channel_type in PHONE_CHANNELS:
            return Address("phone", normalize_phone(contact_address, region), contact_address)
        if channel_type == "email":
            return Address("email", normalize_email(contact_address), contact_address)
        net, handle = normalize_handle(channel_type, contact_address)
        return Address("handle", handle, contact_address, network=net)
    except BadAddress:
        return None


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=64)
    label: str | None = Field(None, max_length=50)


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=254)
    label: str | None = Field(None, max_length=50)


class HandleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    network: str = Field(min_length=1, max_length=30)
    handle: str = Field(min_length=1, max_length=100)


def _wrap(value: Any, key: str) -> Any:
    return {key: value} if isinstance(value, str) else value


# The fields of a contact a PATCH may change besides its addresses.
EDITABLE = ("name", "document", "company", "assigned_user", "custom", "tags")


class ContactPatch(BaseModel):
    """Fields of a contact; every one is optional in a PATCH."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=300)
    document: str | None = Field(None, max_length=64)
    company: str | None = Field(None, max_length=300)
    assigned_user: str | None = Field(None, max_length=128)
    custom: dict[str, Any] | None = None
    tags: list[str] | None = Field(None, max_length=200)
    phones: list[PhoneIn] | None = Field(None, max_length=50)
    emails: list[EmailIn] | None = Field(None, max_length=50)
    handles: list[HandleIn] | None = Field(None, max_length=50)

    @field_validator("phones", mode="before")
    @classmethod
    def _phones(cls, v: Any) -> Any:
        return [_wrap(x, "number") for x in v] if isinstance(v, list) else v

    @field_validator("emails", mode="before")
    @classmethod
    def _emails(cls, v: Any) -> Any:
        return [_wrap(x, "address") for x in v] if isinstance(v, list) else v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else normalize_tags(v)


class ContactIn(ContactPatch):
    """A new contact: everything optional, but at least a name or one address."""


def normalize_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        t = tag.strip()
        if not t or len(t) > 64:
            raise ValueError(f"tag {tag!r} must have 1 to 64 characters")
        if t not in out:
            out.append(t)
    return out


def addresses_of(patch: ContactPatch, region: str) -> tuple[list[Address] | None, list[tuple[str, str]]]:
    """Normalize the addresses a patch sets; ``None`` when it sets none. Problems name their field."""
    if patch.phones is None and patch.emails is None and patch.handles is None:
        return None, []
    out: list[Address] = []
    problems: list[tuple[str, str]] = []
    for i, p in enumerate(patch.phones or []):
        try:
            out.append(Address("phone", normalize_phone(p.number, region), p.number, label=p.label))
        except BadAddress as exc:
            problems.append((f"phones[{i}]", str(exc)))
    for i, e in enumerate(patch.emails or []):
        try:
            out.append(Address("email", normalize_email(e.address), e.address, label=e.label))
        except BadAddress as exc:
            problems.append((f"emails[{i}]", str(exc)))
    for i, h in enumerate(patch.handles or []):
        try:
            net, handle = normalize_handle(h.network, h.handle)
            out.append(Address("handle", handle, h.handle, network=net))
        except BadAddress as exc:
            problems.append((f"handles[{i}]", str(exc)))
    return _dedupe(out), problems


def _dedupe(addresses: list[Address]) -> list[Address]:
    seen: set[tuple[str, str, str]] = set()
    out: list[Address] = []
    for a in addresses:
        key = (a.kind, a.network, a.value)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def replaced_kinds(patch: ContactPatch) -> list[str]:
    """The address kinds a patch replaces (a kind left out of the patch is kept)."""
    return [k for k, v in (("phone", patch.phones), ("email", patch.emails), ("handle", patch.handles))
            if v is not None]


MatchResult = Literal["one", "several", "none"]


def match_result(count: int) -> MatchResult:
    """One match links automatically; several are offered to choose from; none lets the agent create."""
    return "one" if count == 1 else "several" if count > 1 else "none"


@dataclass
class ContactFilter:
    """Filters of the contact search, the export and the bulk processes that select contacts."""

    q: str | None = None
    phone: str | None = None
    email: str | None = None
    handle: str | None = None
    network: str | None = None
    company: str | None = None
    tag: str | None = None
    assigned_user: str | None = None
    disposition: str | None = None
    list_id: str | None = None
    batch_id: str | None = None
    activity_from: Any = None
    activity_to: Any = None
    # A caller's campaign scope: only contacts with an account, a case, a conversation or a list of one of
    # these campaigns (None: every contact).
    campaigns: list[str] | None = None


# What an update template can show of a contact (seed 000, "Actualización de Datos"): the import's field names,
# besides ``custom.<key>`` (the repository has one column expression for each).
UPDATE_FIELDS = ("name", "document", "company", "assigned_user", "tags", "phone", "email")

"""Imports: sniffing a file (format, encoding, separator), field specs, mappings, and row validation."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from libs.core.errors import Invalid
from services.crm.domain.common import dumps
from services.crm.domain.contacts import BadAddress, normalize_email, normalize_phone, normalize_tags
from services.crm.domain.exports import FORMULA_START, PLAIN_NUMBER

FieldType = Literal["text", "phone", "email", "number", "date", "tags", "boolean"]
SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Bytes cp1252 leaves undefined: a "CSV" holding them is not text in any encoding we read.
CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


@dataclass(frozen=True)
class Sniffed:
    format: Literal["csv", "xlsx", "xls", "xlsb", "ods"]
    encoding: str | None = None
    delimiter: str | None = None


def sniff(head: bytes, filename: str, encoding: str | None = None) -> Sniffed:
    """Decide what an uploaded file is from its first bytes.

    Raises:
        Invalid: empty, a binary or old-Excel file, an XLSX that is not a zip, or text in no known encoding.
    """
    if not head.strip():
        raise Invalid("the file is empty", field="file")
    name = filename.lower()
    if head.startswith(ZIP_MAGIC):
        # An OpenDocument spreadsheet names its type in its first member, "mimetype", stored uncompressed.
        if b"opendocument.spreadsheet" in head[:200] or name.endswith(".ods"):
            return Sniffed("ods")
        return Sniffed("xlsb" if name.endswith(".xlsb") else "xlsx")
    if head.startswith(OLE_MAGIC):  # Excel 97-2003 (an OLE compound file)
        return Sniffed("xls")
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise Invalid("the file is named .xlsx but is not really an XLSX workbook (not a zip archive)",
                      field="file")
    enc = encoding or detect_encoding(head)
    try:
        text = _decode_sample(head, enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise Invalid(f"the file is not valid {enc} text: {exc}", field="encoding") from None
    return Sniffed("csv", enc, detect_delimiter(text))


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, or Windows-1252 (Excel's Spanish CSV)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise Invalid("the file holds NUL bytes: it is binary, or UTF-16 without a byte order mark",
                      field="encoding")
    try:
        _decode_sample(head, "utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if CP1252_UNDEFINED & set(head):
        raise Invalid("the file is neither UTF-8 nor Windows-1252 text (wrong encoding?)", field="encoding")
    return "cp1252"


def _decode_sample(head: bytes, enc: str) -> str:
    """Decode a sample that may end in the middle of a multi-byte character."""
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode(enc)
        except UnicodeDecodeError:
            if cut == 3 or len(head) < SAMPLE_BYTES:
                raise
    raise AssertionError("unreachable")


def detect_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def clean_columns(header: list[Any]) -> list[str]:
    """The header row's column names. Raises ``Invalid`` for an empty header or duplicate names."""
    cols = [str(h).strip() if h is not None else "" for h in header]
    while cols and not cols[-1]:
        cols.pop()
    if not cols:
        raise Invalid("the first row must hold the column names; it is empty", field="columns")
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if not c:
            raise Invalid(f"column {i + 1} has no name", field="columns")
        key = c.lower()
        if key in seen:
            raise Invalid(f"column {c!r} appears twice (columns {seen[key] + 1} and {i + 1})", field="columns")
        seen[key] = i
    return cols


# --- values -------------------------------------------------------------------------------------------

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if m := ISO_DATE.match(text):  # the common case, without strptime's cost
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)") from None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


NUMBER_RE = re.compile(r"^[+-]?[\d.,]+$")


def parse_number(value: Any) -> float | int:
    """A number written the English (1,234.5) or the Spanish way (1.234,5)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip().replace(" ", "")
    if not NUMBER_RE.match(text):
        raise ValueError(f"{value!r} is not a number")
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        text = text.replace(thousands, "").replace(decimal, ".")
    elif "," in text:
        text = text.replace(",", ".") if text.count(",") == 1 else text.replace(",", "")
    elif text.count(".") > 1:
        text = text.replace(".", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    return int(number) if number == number.to_integral_value() and "." not in text else float(number)


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "si", "sí", "x", "verdadero"):
        return True
    if text in ("0", "false", "no", "falso"):
        return False
    raise ValueError(f"{value!r} is not yes/no")


# Digits and phone punctuation only ("+34 600 111 222", "-1.5"): nothing a spreadsheet could run or call.
DIGITS_ONLY = re.compile(r"^[+-]?[\d\s().-]*\d[\d\s().-]*$")


def is_formula(value: Any) -> bool:
    """A text cell a spreadsheet would run as a formula (a phone written with spaces is not one)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    text = value.strip()
    return not (PLAIN_NUMBER.match(text) or DIGITS_ONLY.match(text))


# --- field specs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType = "text"
    required: bool = False
    max_len: int = 300


ACCOUNT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("account_number", required=True, max_len=100),
    FieldSpec("document", max_len=64),
    FieldSpec("name"),
    FieldSpec("phone", "phone"),
    FieldSpec("phone_2", "phone"),
    FieldSpec("email", "email"),
    FieldSpec("company"),
    FieldSpec("product", max_len=200),
    FieldSpec("balance", "number"),
    FieldSpec("due_date", "date"),
    FieldSpec("assigned_user", max_len=128),
    FieldSpec("tags", "tags", max_len=2000),
)
CONTACT_FIELDS: tuple[FieldSpec, ...] = tuple(
    f for f in ACCOUNT_FIELDS if f.name not in ("account_number", "product", "balance", "due_date"))
# A details import aimed at the account (seed 000 "Detalles", entity ``account``): besides the contact's key, the
# account's own columns; ``account_number`` picks the account when the contact has several in the campaign.
DETAIL_ACCOUNT_FIELDS: tuple[FieldSpec, ...] = tuple(
    replace(f, required=False) for f in ACCOUNT_FIELDS
    if f.name in ("account_number", "product", "balance", "due_date", "assigned_user"))
DETAIL_ENTITIES = ("contact", "account")
DETAIL_KEY = r"^(document|phone|email|name|custom\.[A-Za-z0-9_\-]{1,64})$"  # the contact keys of a details import
DEDUP_KEYS = ("document", "phone", "email", "account_number")


def details_columns(entity: str, key: str, custom_keys: list[str]) -> list[str]:
    """The template of a details import: the contact's key, the entity's own columns (an account's), then the
    detail fields (``custom.<key>``: the contact's custom fields, or the account's fields)."""
    head = [key] + ([f.name for f in DETAIL_ACCOUNT_FIELDS] if entity == "account" else [])
    return head + [f"custom.{k}" for k in custom_keys if f"custom.{k}" != key]
CUSTOM_PREFIXES = ("custom.", "account.")


def spec_for(name: str, base: tuple[FieldSpec, ...], custom_types: dict[str, FieldType]) -> FieldSpec | None:
    """The spec of a target field: a base field, ``custom.<key>`` (contact) or ``account.<key>``."""
    for f in base:
        if f.name == name:
            return f
    for prefix in CUSTOM_PREFIXES:
        if name.startswith(prefix) and re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", name[len(prefix):]):
            if prefix == "account." and not any(f.name == "account_number" for f in base):
                return None
            return FieldSpec(name, custom_types.get(name[len(prefix):], "text"), max_len=2000)
    return None


@dataclass
class Mapping:
    """Target field -> index of the file column holding it."""

    columns: dict[str, int] = field(default_factory=dict)
    specs: dict[str, FieldSpec] = field(default_factory=dict)
    plan: list[tuple[str, int, bool, Any]] | None = field(default=None, repr=False, compare=False)


def build_mapping(mode: Literal["template", "custom"], file_columns: list[str], mapping: dict[str, str] | None,
                  base: tuple[FieldSpec, ...], custom_types: dict[str, FieldType],
                  required: tuple[str, ...] = ()) -> Mapping:
    """Check a mapping against the file's columns; every problem names its field.

    Template mode: the file's columns are the field names (case-insensitive); an unknown column is an error.
    Custom mode: ``mapping`` is ``{target field: file column}``.
    """
    index = {c.lower(): i for i, c in enumerate(file_columns)}
    pairs: dict[str, str]
    if mode == "template":
        unknown = [c for c in file_columns if spec_for(c.strip().lower(), base, custom_types) is None]
        if unknown:
            raise Invalid(f"columns not in the template: {', '.join(unknown)}; download the template or use a "
                          f"custom mapping", field="columns")
        pairs = {c.strip().lower(): c for c in file_columns}
    else:
        if not mapping:
            raise Invalid("a custom import needs a mapping {field: column}", field="mapping")
        pairs = dict(mapping)
    out = Mapping()
    for target, column in pairs.items():
        spec = spec_for(target, base, custom_types)
        if spec is None:
            raise Invalid(f"{target!r} is not a field this import knows", field=f"mapping.{target}")
        if not isinstance(column, str) or column.lower() not in index:
            raise Invalid(f"column {column!r} is not in the file (its columns: {', '.join(file_columns)})",
                          field=f"mapping.{target}")
        out.columns[target] = index[column.lower()]
        out.specs[target] = spec
    missing = [f.name for f in base if f.required and f.name not in out.columns]
    missing += [r for r in required if r not in out.columns and r not in missing]
    if missing:
        raise Invalid(f"missing required columns: {', '.join(missing)}", field="columns")
    return out


def read_row(values: list[Any], m: Mapping, region: str) -> tuple[dict[str, Any], list[str]]:
    """One file row as typed values by target field, and its problems (``field: why``).

    The hot loop of every import: plain functions prepared once per mapping, no model per row.
    """
    record: dict[str, Any] = {}
    problems: list[str] = []
    size = len(values)
    for target, idx, required, typed in _plan(m):
        raw = values[idx] if idx < size else None
        if raw.__class__ is str:
            text = raw.strip()
            if not text:
                raw = None
            elif raw[0] in FORMULA_FIRST and is_formula(raw):
                problems.append(f"{target}: starts with {raw[0]!r}, a spreadsheet formula; refused")
                continue
        if raw is None:
            if required:
                problems.append(f"{target}: required")
            continue
        try:
            record[target] = typed(text if raw.__class__ is str else raw, region)
        except (ValueError, BadAddress) as exc:
            problems.append(f"{target}: {exc}")
    return record, problems


FORMULA_FIRST = frozenset("".join(FORMULA_START))
TAG_SPLIT = re.compile(r"[,;|]")
Typed = Callable[[Any, str], Any]


def _plan(m: Mapping) -> list[tuple[str, int, bool, Typed]]:
    """``(target, column, required, convert)`` per mapped field; a ``str`` cell reaches ``convert`` stripped."""
    if m.plan is None:
        m.plan = [(target, idx, m.specs[target].required, _converter(m.specs[target]))
                  for target, idx in m.columns.items()]
    return m.plan


def _converter(spec: FieldSpec) -> Typed:
    if spec.type == "text":
        limit = spec.max_len

        def text(raw: Any, region: str) -> str:
            value = raw if raw.__class__ is str else _text(raw)
            if len(value) > limit:
                raise ValueError(f"longer than {limit} characters")
            return value

        return text
    if spec.type == "phone":
        return lambda raw, region: (normalize_phone(_text(raw), region), _text(raw))
    if spec.type == "email":
        return lambda raw, region: normalize_email(_text(raw))
    if spec.type == "number":
        return lambda raw, region: parse_number(raw)
    if spec.type == "date":
        return lambda raw, region: parse_date(raw).isoformat()
    if spec.type == "boolean":
        return lambda raw, region: parse_bool(raw)
    return lambda raw, region: normalize_tags([t for t in TAG_SPLIT.split(_text(raw)) if t.strip()])


def _text(raw: Any) -> str:
    if raw.__class__ is str:
        return raw.strip()
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    return str(raw).strip()


def dedup_value(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, tuple):  # a phone: (e164, raw)
        return value[0]
    return None if value is None else str(value)


def merge_tags(existing: list[str], incoming: list[str], mode: str) -> list[str]:
    """Tags after an import: ``replace`` them, ``append`` to them, or ``remove`` the file's ones."""
    if mode == "replace":
        return list(incoming)
    if mode == "remove":
        return [t for t in existing if t not in incoming]
    return existing + [t for t in incoming if t not in existing]


# --- the plan of an account or contact import chunk ----------------------------------------------------

IDENTITY: tuple[str, ...] = ("document", "phone", "email")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A good row of an account or contact import, as the planner sees it."""

    row: int
    key: str  # its deduplication key's value
    ident: tuple[str, str] | None  # (document | phone | email, value): who the customer is
    number: str | None = None  # the account number (account imports)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happens to one row. ``outcome`` is ``write`` (create or update, ``duplicate`` says which) or the
    outcome line of a row that is not written: ``invalid``, ``skipped``, or in a dry run ``new`` /
    ``duplicate``."""

    row: int
    key: str
    outcome: str
    contact_id: str | None = None
    duplicate: bool = False
    reason: str | None = None


def lookups_needed(candidates: list[Candidate], dedup_key: str) -> dict[str, set[str]]:
    """The contact lookups a chunk needs: each row's identity, and its deduplication key when it is one."""
    wanted: dict[str, set[str]] = {}
    for c in candidates:
        if c.ident:
            wanted.setdefault(c.ident[0], set()).add(c.ident[1])
        if dedup_key in IDENTITY:
            wanted.setdefault(dedup_key, set()).add(c.key)
    return wanted


def plan_import(candidates: list[Candidate], *, known: dict[tuple[str, str], list[str]],
                existing_accounts: dict[str, tuple[str, str]], dedup_key: str, accounts: bool,
                replace_duplicates: bool, dry_run: bool) -> list[Verdict]:
    """Decide every row of a chunk, given the contacts found by ``lookups_needed`` (``known``: (kind, value) ->
    contact ids) and, for account imports, the campaign's accounts by number (-> (account id, contact id)).

    A row's customer is its account's, else the contact its identity finds. It is a duplicate when its
    account exists (``dedup_key`` ``account_number``) or a contact has its key. An account of another
    customer, or a number twice in the chunk, is invalid; a duplicate is skipped unless
    ``replace_duplicates``; a dry run only says what would happen.
    """
    verdicts: list[Verdict] = []
    numbers: dict[str, int] = {}  # account number -> its first row in this chunk
    for c in candidates:
        account = existing_accounts.get(c.number or "") if accounts else None
        if account:
            contact_id: str | None = account[1]
        else:
            ids = known.get(c.ident, []) if c.ident else []
            contact_id = ids[0] if ids else None
        if accounts and dedup_key == "account_number":
            duplicate = account is not None
        else:
            ids = known.get((dedup_key, c.key), [])
            duplicate = bool(ids)
            contact_id = ids[0] if ids else contact_id
        if accounts and not duplicate and account and account[1] != contact_id:
            verdicts.append(Verdict(c.row, c.key, "invalid", reason=f"account {c.number!r} belongs to another "
                                                                      "customer"))
            continue
        if accounts:
            first = numbers.setdefault(c.number or "", c.row)
            if first != c.row:
                verdicts.append(Verdict(c.row, c.key, "invalid", reason=f"account {c.number!r} appears twice in the "
                                                                          f"file (first at row {first})"))
                continue
        if duplicate and not replace_duplicates:
            verdicts.append(Verdict(c.row, c.key, "duplicate" if dry_run else "skipped", contact_id, True,
                                    f"already exists (contact {contact_id}); replace_duplicates is off"))
            continue
        if dry_run:
            verdicts.append(Verdict(c.row, c.key, "duplicate" if duplicate else "new", contact_id, duplicate,
                                    "would replace the existing data" if duplicate else None))
            continue
        verdicts.append(Verdict(c.row, c.key, "write", contact_id, duplicate))
    return verdicts


def new_contact(values: dict[str, Any], tags: list[str]) -> tuple[Any, ...]:
    """The ``COPY`` columns of a new contact after its id (``name``, ``document``, ``company``,
    ``assigned_user``, ``custom`` as JSON text, ``tags``); worked out while parsing, off the event loop."""
    custom = values.get("custom")
    return (values.get("name") or "", values.get("document"), values.get("company"), values.get("assigned_user"),
            dumps(custom) if custom else "{}", tags)


def new_account(number: str, product: str | None, fields: dict[str, Any], assigned_user: str | None
                ) -> tuple[Any, ...]:
    """The ``COPY`` columns of a new account after its id and contact (fields as JSON text)."""
    return number, product, dumps(fields), assigned_user

"""Ticket forms (seed 001 1.3.3.1): typed fields with required flags, defined by admins; the values an action
(or a ticket) carries are checked against them, each problem naming its field. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from libs.core.validation import Strict, blame

FieldType = Literal["text", "number", "date", "select", "boolean"]
Problems = list[tuple[str, str]]


class FormFieldIn(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    type: FieldType = "text"
    required: bool = False
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _options(self) -> FormFieldIn:
        if self.type == "select" and not self.options:
            raise blame("options", "a select field needs at least one option")
        if self.type != "select" and self.options:
            raise blame("options", f"only select fields have options, not {self.type} fields")
        if len(set(self.options)) != len(self.options):
            raise blame("options", "options repeat")
        return self


class TicketFormIn(Strict):
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    fields: list[FormFieldIn] = Field(min_length=1, max_length=100)
    position: int = Field(0, ge=0, le=10_000)

    @field_validator("fields")
    @classmethod
    def _keys(cls, v: list[FormFieldIn]) -> list[FormFieldIn]:
        seen: set[str] = set()
        for i, f in enumerate(v):
            if f.key in seen:
                raise blame(f"[{i}].key", f"{f.key!r} appears twice")
            seen.add(f.key)
        return v


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def value_problem(f: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` is not a value of form field ``f``, or None."""
    kind = f.get("type", "text")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{f['label']!r} is a number, not {type(value).__name__} {value!r}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"{f['label']!r} is yes or no (true/false), not {value!r}"
    if kind == "text" and not isinstance(value, str):
        return f"{f['label']!r} is text, not {type(value).__name__}"
    if kind == "text" and len(value) > 5000:
        return f"{f['label']!r} is longer than 5000 characters"
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            return f"{f['label']!r} is a date YYYY-MM-DD, not {value!r}"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"{f['label']!r}: {value!r} is not a calendar date"
    if kind == "select" and value not in f.get("options", []):
        return f"{f['label']!r} is one of {f.get('options', [])}, not {value!r}"
    return None


def form_problems(fields: Sequence[Mapping[str, Any]], values: Any, prefix: str) -> Problems:
    """Every problem of ``values`` against a form's ``fields``: not an object, an unknown key, a missing required
    field, a value of the wrong type. Fields are named ``<prefix>.<key>``."""
    if not isinstance(values, Mapping):
        return [(prefix, "the form's values are an object {field: value}")]
    by_key = {f["key"]: f for f in fields}
    problems: Problems = [(f"{prefix}.{k}", f"{k!r} is not a field of this form") for k in values if k not in by_key]
    for key, f in by_key.items():
        value = values.get(key)
        if value is None or (isinstance(value, str) and not value.strip() and f.get("type") != "text"):
            if f.get("required"):
                problems.append((f"{prefix}.{key}", f"{f['label']!r} is required"))
            continue
        if isinstance(value, str) and not value.strip() and f.get("required"):
            problems.append((f"{prefix}.{key}", f"{f['label']!r} is required"))
            continue
        if problem := value_problem(f, value):
            problems.append((f"{prefix}.{key}", problem))
    return problems

"""Shared pure helpers: pydantic input parsing into field-naming errors, cursors, query parameters."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from libs.core.errors import Invalid
from libs.core.inputs import text_problem

M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 500


def field_path(loc: tuple[Any, ...]) -> str:
    """``("phones", 0, "number")`` -> ``"phones.0.number"``; union branch names are dropped."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p.startswith("function-") or "[" in p))]
    return ".".join(parts) or "body"


def parse_model(model: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate ``data`` as ``model`` or raise ``Invalid`` naming the first bad field (all in details)."""
    if not isinstance(data, Mapping):
        raise Invalid("a JSON object is expected", field=prefix or "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [((prefix + field_path(e["loc"])) if e["loc"] else (prefix.rstrip(".") or "body"), _message(e))
                  for e in exc.errors()]
        first_field, first_msg = errors[0]
        raise Invalid(f"{first_field}: {first_msg}", field=first_field,
                      details=[{"field": f, "message": m} for f, m in errors]) from None


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def problems_error(problems: list[tuple[str, str]]) -> Invalid:
    """Turn ``(field, message)`` pairs into one ``Invalid`` naming the first field and listing all."""
    field, message = problems[0]
    return Invalid(message if len(problems) == 1 else "; ".join(m for _, m in problems), field=field,
                   details=[{"field": f, "message": m} for f, m in problems])


def encode_cursor(*values: Any) -> str:
    """An opaque keyset cursor from the sort values of the last row of a page."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """Read a cursor made by ``encode_cursor``; ``kinds`` are the expected types (datetime is parsed)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("shape")
        out: list[Any] = []
        for value, kind in zip(raw, kinds, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value) if value is not None else None)
            elif value is not None and not isinstance(value, kind):
                raise ValueError("type")
            elif isinstance(value, str) and text_problem(value):
                raise ValueError("text")
            else:
                out.append(value)
        return out
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise Invalid("cursor is not one this API returned", field="cursor") from exc


def parse_limit(raw: str | None, default: int = 50) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"limit must be an integer, got {raw!r}", field="limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return value


def parse_datetime(raw: str | None, field: str) -> datetime | None:
    """An ISO date or date-time query parameter; naive values are UTC."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise Invalid(f"{field} must be an ISO date or date-time, got {raw!r}", field=field) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_date(raw: str | None, field: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{field} must be a date YYYY-MM-DD, got {raw!r}", field=field) from None


def parse_int(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"{field} must be an integer, got {raw!r}", field=field) from None


def parse_choice(raw: str | None, field: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise Invalid(f"{field} must be one of {', '.join(choices)}; got {raw!r}", field=field)
    return raw


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What changed between two flat records, as ``{field: [old, new]}`` (JSON-friendly values)."""
    changes: dict[str, list[Any]] = {}
    for key in after:
        old, new = before.get(key), after[key]
        if old != new:
            changes[key] = [_jsonable(old), _jsonable(new)]
    return changes


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value

"""Shared pure helpers of the CRM: query parameters and record diffs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from libs.core.errors import Invalid


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# One encoder for every call: ``json.dumps`` with options builds a new one each time (imports call it per row).
_ENCODER = json.JSONEncoder(default=_iso, ensure_ascii=False)


def dumps(value: Any) -> str:
    """The JSON text of a jsonb column: dates as ISO 8601, non-ASCII kept."""
    return _ENCODER.encode(value)


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

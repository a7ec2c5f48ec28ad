"""Helpers shared by the payload normalizers: timestamps and the parse-or-400 guard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from libs.core.errors import Invalid
from libs.core.validation import invalid_from

T = TypeVar("T")

# Earliest and latest instants a provider timestamp may plausibly carry (1990 .. 2200).
_MIN_S, _MAX_S = 631152000, 7258118400


class MetaModel(BaseModel):
    """Base of provider payload models: unknown fields are kept, aliases (``from``) accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


def from_unix(value: int | float | str | None) -> datetime | None:
    """A provider's unix timestamp as an aware UTC datetime. Values above 10^11 are milliseconds (Meta
    sends seconds in some fields and milliseconds in others).

    Raises:
        ValueError: not a number, or outside 1990..2200.
    """
    if value is None or value == "":
        return None
    seconds = float(value)
    if seconds > 1e11:
        seconds /= 1000.0
    if not _MIN_S <= seconds <= _MAX_S:
        raise ValueError(f"timestamp {value!r} is out of range")
    return datetime.fromtimestamp(seconds, UTC)


def guarded(fn: Callable[..., T], *args: Any, field: str = "body") -> T:
    """Run a normalizer; any error from a hostile payload becomes a 400, never a 500."""
    try:
        return fn(*args)
    except Invalid:
        raise
    except ValidationError as exc:
        raise invalid_from(exc) from exc
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
        raise Invalid(f"malformed payload: {exc}", field=field) from exc


def meta_error_text(err: dict[str, Any]) -> str:
    """Meta's error object (Graph API answers and WhatsApp status errors) as one readable line."""
    data = err.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = f"({err.get('code', '?')}) {err.get('title') or err.get('message') or ''}".strip()
    return f"{text}: {details}" if details else text

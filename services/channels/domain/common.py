"""Helpers shared by the payload normalizers: timestamps and the parse-or-400 guard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from libs.contracts import Contract
from libs.core.errors import Invalid
from libs.core.validation import invalid_from, json_text_problem, parse_body

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


@dataclass(frozen=True)
class Rejected:
    """An item of a webhook batch that could not be normalized: where it was, why, and the item itself."""

    path: str
    reason: str
    item: Any


@dataclass
class Batch:
    """What one webhook POST brought: the normalized items, and the items set aside with their reason.

    One malformed message must not cost the others: each item is normalized on its own (``add``), and only
    a body whose envelope is wrong is refused whole.
    """

    items: list[Contract] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Whether each item's text is checked for what PostgreSQL cannot store (NUL, a lone surrogate): a body that
    # cannot hold either skips it (``libs.core.validation.may_hold_unstorable``).
    check_text: bool = True

    def add(self, path: str, raw: Any, fn: Callable[..., Contract | None], *args: Any) -> None:
        """Normalize the item at ``path`` (``raw``) with ``fn(*args)``; keep what it returns, or set the item aside.

        An item is set aside when ``fn`` raises anything a hostile payload can cause (``guarded``), or when what
        it made holds text PostgreSQL cannot store; the reason names the field inside the webhook body. ``fn``
        may also add the items nested in ``raw`` itself (an entry adds its changes) and return ``None``.
        """
        try:
            item = guarded(fn, *args, field=path)
            if item is not None and self.check_text and (
                    found := json_text_problem(item.model_dump(mode="json"), path)) is not None:
                raise Invalid(f"{found[0]} {found[1]}", field=found[0])
        except Invalid as err:
            where = err.field if err.field and err.field.startswith(path) else (
                f"{path}.{err.field}" if err.field and err.field != "body" else path)
            reason = err.message if err.message.startswith(where) else f"{where}: {err.message}"
            self.rejected.append(Rejected(where, reason, raw))
            return
        if item is not None:
            self.items.append(item)


def parse_entries(envelope: type[BaseModel], payload: Any, channel_id: str,
                  entry: Callable[[str, Any, str, Batch], None], check_text: bool = True) -> Batch:
    """A Meta webhook body: its envelope validated whole (``object``, ``entry``), then ``entry(channel_id, raw,
    path, batch)`` for each entry, which adds its items to the batch one by one.

    Raises:
        Invalid: the envelope does not have the documented shape.
    """
    body = parse_body(envelope, payload)
    batch = Batch(check_text=check_text)
    for i, raw in enumerate(body.entry):  # type: ignore[attr-defined]
        batch.add(f"entry[{i}]", raw, entry, channel_id, raw, f"entry[{i}]", batch)
    return batch

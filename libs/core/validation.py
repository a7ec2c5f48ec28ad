"""Input validation every service shares: one body parser, one field-path format, one list cursor.

Pure (no aiohttp, no drivers), so a service's ``domain`` may use it. A field path is written the way the
console finds the input it names: ``tabs[0].url_template``, ``weekly.1[0].end``, ``phones[1]``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from libs.core.errors import Invalid

M = TypeVar("M", bound=BaseModel)

# PostgreSQL ``text`` cannot hold NUL; a lone surrogate (from a ``\ud800`` JSON escape, or from bytes that are not
# UTF-8 in a request line, which aiohttp decodes with ``surrogateescape``) cannot even be encoded as UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "is not valid Unicode text (a lone surrogate)"


def check_text(value: str, field: str) -> str:
    """``value`` when PostgreSQL can store it.

    Raises:
        Invalid: it holds a NUL character or a lone surrogate; the error names ``field``.
    """
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(f"{field} {problem}", field=field)
    return value


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether the strings a JSON body decodes to may hold text PostgreSQL cannot store. Only an escape
    (``\\u0000``, ``\\ud800``) can put either character in a string: the decoder refuses raw control characters,
    and bytes that are not strict UTF-8 do not decode. Most bodies skip the walk (``json_text_problem``)."""
    return b"\\u" in raw


def json_text_problem(value: Any, field: str = "body") -> tuple[str, str] | None:
    """The first key or string of a decoded JSON document that cannot be stored as text, as
    ``(field path, reason)``; ``None`` when every one can. Iterative: depth costs no stack."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if (problem := text_problem(item)) is not None:
                return path, problem
        elif isinstance(item, dict):
            for key, child in item.items():
                if (problem := text_problem(key)) is not None:
                    return path, f"has a key that {problem}"
                stack.append((key if path == "body" else f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


MAX_LIMIT = 500
# A model validator's message that starts with this names a field inside its model (see ``blame``).
_BLAME = "@"


class Strict(BaseModel):
    """Base of request bodies: an unknown field is a 400 that names it, not a silent no-op.

    ``BODY_FIELD`` is the field named by an error of a whole-body rule (a model validator) that
    blames no field itself.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    BODY_FIELD: ClassVar[str | None] = None

    @field_validator("*")
    @classmethod
    def _storable(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL (nor UTF-8 a lone surrogate), and no name or message needs one.
        if isinstance(v, str) and (problem := text_problem(v)) is not None:
            raise ValueError(problem)
        return v


def field_path(loc: Iterable[int | str], prefix: str = "") -> str:
    """``("tabs", 0, "url_template")`` -> ``tabs[0].url_template``; pydantic's branch names are dropped.

    An empty path is ``""``: the caller decides what a whole-body error names.
    """
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and not (part.startswith("function-") or "[" in part):
            out += f".{part}" if out else part
    return out


def blame(field: str, message: str) -> ValueError:
    """The error a model validator raises to name a field inside its model (``parse_body`` reads it)."""
    return ValueError(f"{_BLAME}{field}: {message}")


def invalid_from(exc: ValidationError, prefix: str = "", body_field: str | None = None) -> Invalid:
    """A pydantic error as one ``Invalid``: the first problem names its field, every problem is in details."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = field_path(err["loc"], prefix)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif msg.startswith(_BLAME) and ": " in msg:
            blamed, msg = msg[len(_BLAME):].split(": ", 1)
            path = f"{path}.{blamed}" if path and not blamed.startswith("[") else f"{path}{blamed}"
        problems.append((path or body_field or prefix or "body", msg))
    field, message = problems[0]
    return Invalid(f"{field}: {message}", field=field,
                   details=[{"field": f, "message": m} for f, m in problems])


def parse_body(model: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate a JSON body (or a part of one, named by ``prefix``) into ``model``.

    Raises:
        Invalid: ``data`` is not an object, or the first problem, naming its field (all of them in details).
    """
    if not isinstance(data, Mapping):
        raise Invalid("a JSON object is expected", field=prefix or "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc, prefix, getattr(model, "BODY_FIELD", None)) from None


def problems_error(problems: Sequence[tuple[str, str]]) -> Invalid:
    """``(field, message)`` pairs (from a rule such as ``CampaignSnapshot.closure_problems``) as one ``Invalid``."""
    field, message = problems[0]
    return Invalid(message if len(problems) == 1 else "; ".join(m for _, m in problems), field=field,
                   details=[{"field": f, "message": m} for f, m in problems])


# ---------------------------------------------------------------------------------------------- lists

def encode_cursor(*values: Any) -> str:
    """An opaque keyset cursor from the sort values of the last row of a page."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """Read a cursor made by ``encode_cursor``; ``kinds`` are the expected types (datetime is parsed).

    Raises:
        Invalid: the cursor was not made by this API (naming ``cursor``).
    """
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


def parse_limit(raw: str | None, default: int = 50, maximum: int = MAX_LIMIT) -> int:
    """The ``limit`` query parameter of a list, between 1 and ``maximum``."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"limit must be an integer, got {raw!r}", field="limit") from None
    if not 1 <= value <= maximum:
        raise Invalid(f"limit must be between 1 and {maximum}", field="limit")
    return value


def is_page(body: Any) -> bool:
    """Whether an answer is a list in the one shape (a page), as opposed to an item or a view."""
    return isinstance(body, dict) and isinstance(body.get("items"), list) and "next_cursor" in body


def page_of(items: Sequence[Any], limit: int, key: Any) -> dict[str, Any]:
    """The one list shape, ``{"items", "next_cursor"}``.

    A full page (``limit`` rows) gets a cursor, made by ``key(last_row)`` from the sort values the next
    page starts after; a shorter page is the last one (``next_cursor`` is ``null``).
    """
    shown = list(items[:limit])
    full = len(shown) == limit and shown
    return {"items": shown, "next_cursor": encode_cursor(*key(shown[-1])) if full else None}

"""Turn pydantic validation errors into ``Invalid`` errors that name the field."""

from __future__ import annotations

from pydantic import ValidationError

from libs.core.errors import Invalid


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("entry", 0, "changes")`` -> ``entry[0].changes``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def invalid_from(exc: ValidationError, prefix: str = "") -> Invalid:
    """The first problem of a validation error as an ``Invalid`` naming its field; all of them in details."""
    errors = exc.errors(include_url=False, include_input=False)
    problems = [{"field": field_path(e["loc"], prefix), "message": e["msg"]} for e in errors]
    first = problems[0] if problems else {"field": prefix or "body", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return Invalid(message, field=first["field"], details=problems if len(problems) > 1 else None)

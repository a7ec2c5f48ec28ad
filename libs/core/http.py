"""The HTTP kit of every service's routes: one JSON encoder, ``respond``, list paging, typed settings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from libs.core.service import SETTINGS
from libs.core.settings import ServiceSettings
from libs.core.validation import decode_cursor, page_of, parse_limit

S = TypeVar("S", bound=ServiceSettings)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """The one JSON encoder of every answer: dates as ISO 8601, models as their JSON, decimals as numbers."""
    return json.dumps(value, default=_default, ensure_ascii=False)


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer through the one encoder."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def query(request: web.Request, name: str) -> str | None:
    """A query parameter, stripped; ``None`` when absent or blank."""
    value = request.query.get(name)
    return value.strip() if value and value.strip() else None


def page_args(request: web.Request, kinds: tuple[type, ...] = (datetime, str), *, default: int = 50
              ) -> tuple[int, tuple[Any, ...] | None]:
    """``limit`` and the decoded ``cursor`` (the sort values, of ``kinds``) of a list request."""
    limit = parse_limit(request.query.get("limit"), default)
    raw = request.query.get("cursor")
    return limit, (tuple(decode_cursor(raw, kinds)) if raw else None)


def respond_page(items: Sequence[Any], limit: int, key: Callable[[Any], Sequence[Any]]) -> web.Response:
    """A list answer in the one shape, ``{"items", "next_cursor"}`` (``null`` on the last page)."""
    return respond(page_of(items, limit, key))


def settings_of(app: web.Application, kind: type[S]) -> S:
    """The service's settings, typed as its own settings class.

    Raises:
        TypeError: the app was built with another service's settings (a wiring mistake).
    """
    settings = app[SETTINGS]
    if not isinstance(settings, kind):
        raise TypeError(f"the app's settings are {type(settings).__name__}, not {kind.__name__}")
    return settings

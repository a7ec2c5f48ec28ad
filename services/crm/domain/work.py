"""Pure rules of work items: priorities, statuses, the 24-hour call window, calendar ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.core.errors import Invalid

PRIORITIES = ("low", "medium", "high")
PriorityName = Literal["low", "medium", "high"]
CalendarView = Literal["day", "week", "month"]


def priority_value(name: str | None, default: int = 0) -> int:
    """``low`` / ``medium`` / ``high`` -> 0 / 1 / 2 (high is seen first)."""
    return default if name is None else PRIORITIES.index(name)


def priority_name(value: int) -> str:
    return PRIORITIES[value]


def ticket_pending(action_statuses: list[str]) -> bool:
    """A ticket shows as pending (red) while any of its actions is pending."""
    return "pending" in action_statuses


def call_classifiable(started_at: datetime, classified_at: datetime | None, now: datetime, hours: float) -> bool:
    """An unclassified call may be classified for ``hours`` after it started; a classified one stays editable."""
    return classified_at is not None or now - started_at <= timedelta(hours=hours)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r}", field="tz") from None


def calendar_range(view: CalendarView, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC ``[start, end)`` of the day, the Monday-to-Sunday week, or the month holding ``day``."""
    if view == "day":
        first, last = day, day + timedelta(days=1)
    elif view == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last, time(0), tz).astimezone(UTC)
    return start, end

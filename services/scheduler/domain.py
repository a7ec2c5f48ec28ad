"""Pure rules of timers: validation of a timer request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from libs.contracts import TimerSet
from libs.core.errors import Invalid
from libs.core.validation import parse_body

# A timer further away than this is almost certainly a unit mistake (ms sent as s).
MAX_HORIZON = timedelta(days=400)


def parse_timer(body: Any) -> TimerSet:
    """A ``TimerSet`` from an HTTP body, with the first problem named by field."""
    timer = parse_body(TimerSet, body)
    check_timer(timer)
    return timer


def check_timer(timer: TimerSet, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    if timer.fire_at.tzinfo is None:
        raise Invalid("fire_at needs a time zone offset", field="fire_at")
    if timer.fire_at - now > MAX_HORIZON:
        raise Invalid(f"fire_at is more than {MAX_HORIZON.days} days away", field="fire_at")

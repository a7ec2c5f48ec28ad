"""Pure rules of timers: validation of a timer request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from libs.contracts import TimerSet
from libs.core.errors import Invalid

# A timer further away than this is almost certainly a unit mistake (ms sent as s).
MAX_HORIZON = timedelta(days=400)


def parse_timer(body: Any) -> TimerSet:
    """A ``TimerSet`` from an HTTP body, with the first problem named by field."""
    if not isinstance(body, dict):
        raise Invalid("JSON object expected", field="body")
    try:
        timer = TimerSet.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Invalid(f"{err['msg']}", field=".".join(str(p) for p in err["loc"]) or "body") from exc
    check_timer(timer)
    return timer


def check_timer(timer: TimerSet, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    if timer.fire_at.tzinfo is None:
        raise Invalid("fire_at needs a time zone offset", field="fire_at")
    if timer.fire_at - now > MAX_HORIZON:
        raise Invalid(f"fire_at is more than {MAX_HORIZON.days} days away", field="fire_at")

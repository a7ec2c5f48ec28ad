"""Business-hours schedules: weekly intervals, overnight spans, holidays and exceptions, validity range.

The schedule is part of the campaign snapshot that the campaigns service compiles and the router reads,
so ``is_open`` and ``next_opening`` live with the contract and every service answers the same way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

HORIZON_DAYS = 400


class TimeInterval(BaseModel):
    """Open from ``start`` to ``end`` local time. ``end <= start`` is an overnight span into the next day;
    ``end == 00:00`` means midnight."""

    start: time
    end: time

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def contains_same_day(self, t: time) -> bool:
        return self.start <= t and (self.overnight or t < self.end)


class DateException(BaseModel):
    """A holiday (``closed``) or a day with special hours."""

    day: date
    name: str = ""
    closed: bool = True
    intervals: list[TimeInterval] = Field(default_factory=list)

    @model_validator(mode="after")
    def _special_hours_need_intervals(self) -> DateException:
        if not self.closed and not self.intervals:
            raise ValueError(f"exception {self.day} is not closed, so it needs special-hours intervals")
        return self


class Schedule(BaseModel):
    """A named, reusable schedule in an IANA time zone. ``weekly`` maps ISO weekday 1 (Monday) .. 7."""

    id: str = ""
    name: str = ""
    timezone: str = "UTC"
    always_open: bool = False
    weekly: dict[int, list[TimeInterval]] = Field(default_factory=dict)
    exceptions: list[DateException] = Field(default_factory=list)
    valid_from: date | None = None
    valid_until: date | None = None

    model_config = {"frozen": False}

    @field_validator("timezone")
    @classmethod
    def _tz_exists(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @field_validator("weekly")
    @classmethod
    def _weekdays(cls, v: dict[int, list[TimeInterval]]) -> dict[int, list[TimeInterval]]:
        for day in v:
            if not 1 <= day <= 7:
                raise ValueError(f"weekday {day} must be 1 (Monday) to 7 (Sunday)")
        return v

    @model_validator(mode="after")
    def _range(self) -> Schedule:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _exceptions(self) -> dict[date, DateException]:
        return {e.day: e for e in self.exceptions}

    def intervals_on(self, day: date) -> list[TimeInterval]:
        """The intervals that start on a local ``day``."""
        if self.valid_from and day < self.valid_from:
            return []
        if self.valid_until and day > self.valid_until:
            return []
        exc = self._exceptions.get(day)
        if exc is not None:
            return [] if exc.closed else exc.intervals
        return self.weekly.get(day.isoweekday(), [])

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at the aware instant ``at``."""
        if self.always_open:
            return True
        local = at.astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        today = local.date()
        if any(iv.contains_same_day(t) for iv in self.intervals_on(today)):
            return True
        yesterday = today - timedelta(days=1)
        return any(iv.overnight and t < iv.end for iv in self.intervals_on(yesterday))

    def next_opening(self, at: datetime) -> datetime | None:
        """The earliest instant at or after ``at`` when the schedule is open; ``None`` if never again."""
        if self.is_open(at):
            return at
        if self.always_open:
            return at
        local_day = at.astimezone(self.tz).date()
        best: datetime | None = None
        for offset in range(-1, HORIZON_DAYS):
            day = local_day + timedelta(days=offset)
            if self.valid_until and day > self.valid_until:
                break
            for iv in self.intervals_on(day):
                start = _aware(day, iv.start, self.tz)
                if start >= at and self.is_open(start) and (best is None or start < best):
                    best = start
                elif start < at or not self.is_open(start):
                    # A start inside a DST gap: the first open instant after the gap counts.
                    moment = _first_open_after_gap(self, day, iv, at)
                    if moment is not None and (best is None or moment < best):
                        best = moment
            if best is not None and offset >= 1:
                return best
        return best


def _aware(day: date, t: time, tz: ZoneInfo) -> datetime:
    """Local wall time to an aware instant; a time inside a DST gap maps forward (fold=0 semantics)."""
    naive = datetime.combine(day, t)
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC")).astimezone(tz)


def _first_open_after_gap(s: Schedule, day: date, iv: TimeInterval, at: datetime) -> datetime | None:
    start = datetime.combine(day, iv.start).replace(tzinfo=s.tz)
    probe = max(start.astimezone(ZoneInfo("UTC")), at.astimezone(ZoneInfo("UTC")))
    # Walk minute by minute for at most two hours: DST gaps are at most that long.
    for _ in range(121):
        if probe >= at and s.is_open(probe):
            return probe.astimezone(s.tz)
        probe += timedelta(minutes=1)
    return None

"""Business-hours schedules: weekly intervals, overnight spans, holidays and exceptions, validity range.

The schedule is part of the campaign snapshot that the campaigns service compiles and the router reads,
so ``is_open`` and ``next_opening`` live with the contract and every service answers the same way.

Semantics (wall-clock time in the schedule's IANA zone):

- An interval belongs to the local day it starts on. ``end <= start`` runs overnight into the next day
  (``22:00-06:00``); ``end == 00:00`` means midnight; ``start == end`` is a full 24 hours.
- A date exception replaces the weekly intervals of that day: ``closed`` (holiday) or special hours.
  An overnight interval of the day before still runs into it (it started before the holiday).
- Outside ``valid_from .. valid_until`` no interval starts.
- Daylight-saving changes follow the wall clock: an interval 09:00-17:00 is open while the local clock
  shows 09:00 to 17:00. When a start time falls in a spring-forward gap, the schedule opens at the
  instant the clock jumps past it. When the clock falls back, a wall time is seen twice and is open
  both times.
- ``always_open`` ignores everything else: open 24/7.

Treat a ``Schedule`` as immutable once built: the compiled lookup tables are cached on first use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

HORIZON_DAYS = 400
DAY_US = 86_400_000_000
_ONE_DAY = timedelta(days=1)

Segments = tuple[tuple[int, int], ...]  # (start, end) in microseconds of the local day, end exclusive


def _us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


class TimeInterval(BaseModel):
    """Open from ``start`` to ``end`` local time. ``end <= start`` is an overnight span into the next day;
    ``end == 00:00`` means midnight."""

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, v: time) -> time:
        if v.tzinfo is not None:
            raise ValueError("a local wall time without a UTC offset is expected; the zone is the schedule's")
        return v

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def contains_same_day(self, t: time) -> bool:
        return self.start <= t and (self.overnight or t < self.end)

    def same_day(self) -> tuple[int, int]:
        """The part on the start day, in microseconds of the day."""
        return (_us(self.start), DAY_US if self.overnight else _us(self.end))

    def spill(self) -> tuple[int, int] | None:
        """The part on the next day, if any."""
        return (0, _us(self.end)) if self.overnight and _us(self.end) > 0 else None


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
        if self.closed and self.intervals:
            raise ValueError(f"exception {self.day} is closed, so it takes no intervals")
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

    # ------------------------------------------------------------------------------------ compiled form

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _exceptions(self) -> dict[date, DateException]:
        return {e.day: e for e in self.exceptions}

    @cached_property
    def _weekday_segments(self) -> dict[int, Segments]:
        """For each weekday, the open segments of an ordinary day (its own intervals and the previous
        weekday's overnight spill), merged and sorted."""
        out = {}
        for wd in range(1, 8):
            prev = 7 if wd == 1 else wd - 1
            out[wd] = _merge(self.weekly.get(wd, []), self.weekly.get(prev, []))
        return out

    @cached_property
    def _special_segments(self) -> dict[date, Segments]:
        """Days that are not ordinary: exception days, the days after them, and the validity edges."""
        days: set[date] = set()
        for d in self._exceptions:
            days.update((d, d + _ONE_DAY))
        if self.valid_from:
            days.add(self.valid_from)
        if self.valid_until:
            days.add(self.valid_until + _ONE_DAY)
        return {d: _merge(self.intervals_on(d), self.intervals_on(d - _ONE_DAY)) for d in days}

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

    def segments_on(self, day: date) -> Segments:
        """The open segments of a local ``day`` (microseconds of the day, end exclusive)."""
        special = self._special_segments.get(day)
        if special is not None:
            return special
        if self.valid_from and day < self.valid_from:
            return ()
        if self.valid_until and day > self.valid_until + _ONE_DAY:
            return ()
        return self._weekday_segments[day.isoweekday()]

    # ------------------------------------------------------------------------------------------ queries

    def is_open(self, at: datetime) -> bool:
        """Whether the schedule is open at the aware instant ``at``.

        Raises:
            ValueError: ``at`` is naive.
        """
        if self.always_open:
            return True
        if at.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        local = at.astimezone(self.tz)
        t = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
        for start, end in self.segments_on(local.date()):
            if t < start:
                return False
            if t < end:
                return True
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """The earliest instant at or after ``at`` when the schedule is open; ``None`` if never again
        within ``HORIZON_DAYS``. ``at`` itself when open; otherwise an aware datetime in UTC.

        An opening is either the instant the wall clock reaches an interval start (each of the two
        instants when the clock falls back), or a daylight-saving jump that lands inside an interval.

        Raises:
            ValueError: ``at`` is naive.
        """
        if self.is_open(at):
            return at
        at_utc = at.astimezone(UTC)
        day = at_utc.astimezone(self.tz).date() - _ONE_DAY
        if self.valid_from and day < self.valid_from - _ONE_DAY:
            day = self.valid_from - _ONE_DAY
        last = at_utc.astimezone(self.tz).date() + timedelta(days=HORIZON_DAYS)
        if self.valid_until and last > self.valid_until + _ONE_DAY:
            last = self.valid_until + _ONE_DAY
        best: datetime | None = None
        best_day: date | None = None
        while day <= last and (best_day is None or day <= best_day + _ONE_DAY):
            for candidate in self._openings_on(day):
                if candidate >= at_utc and (best is None or candidate < best) and self.is_open(candidate):
                    best, best_day = candidate, best_day or day
            day += _ONE_DAY
        return best

    def _openings_on(self, day: date) -> list[datetime]:
        """Candidate opening instants (UTC) of a local day: interval starts and clock jumps."""
        out = []
        for iv in self.intervals_on(day):
            wall = datetime.combine(day, iv.start, tzinfo=self.tz)
            out.append(wall.astimezone(UTC))
            out.append(wall.replace(fold=1).astimezone(UTC))
        jump = _offset_change(self.tz, day)
        if jump is not None:
            out.append(jump)
        return out


def _merge(own: list[TimeInterval], previous_day: list[TimeInterval]) -> Segments:
    segs = sorted([iv.same_day() for iv in own] + [s for iv in previous_day if (s := iv.spill())])
    merged: list[list[int]] = []
    for start, end in segs:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def _offset_change(tz: ZoneInfo, day: date) -> datetime | None:
    """The instant (UTC) the zone's UTC offset changes during the local ``day``, if it does."""
    lo = int(datetime.combine(day, time(), tzinfo=tz).timestamp())
    hi = int(datetime.combine(day + _ONE_DAY, time(), tzinfo=tz).timestamp())
    before = datetime.fromtimestamp(lo, tz).utcoffset()
    if datetime.fromtimestamp(hi, tz).utcoffset() == before:
        return None
    while hi - lo > 1:  # the offset is ``before`` at lo and differs at hi
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


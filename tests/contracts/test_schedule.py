"""Schedules: lunch breaks, overnight shifts, holidays, special hours, validity, and DST, with property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.contracts.schedule import Schedule, TimeInterval

ZONES = ("America/New_York", "Europe/Madrid", "America/Santiago", "Australia/Lord_Howe", "Europe/London",
         "America/Bogota", "Asia/Kolkata", "Pacific/Chatham")
# Days with a daylight-saving change in at least one of the zones, and an ordinary one.
DST_DAYS = (date(2026, 3, 8), date(2026, 3, 29), date(2026, 11, 1), date(2026, 10, 25), date(2026, 4, 5),
            date(2026, 9, 6), date(2026, 10, 4), date(2026, 9, 27), date(2026, 6, 15))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(tz: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold)  # type: ignore[misc]


def iv(start: str, end: str) -> dict[str, str]:
    return {"start": start, "end": end}


# ------------------------------------------------------------------------------------------ the oracle

def oracle_open(s: Schedule, at: datetime) -> bool:
    """The definition, written plainly: some interval that started today or yesterday (local) covers the
    local wall time."""
    if s.always_open:
        return True
    wall = at.astimezone(ZoneInfo(s.timezone)).replace(tzinfo=None, fold=0)
    for day in (wall.date(), wall.date() - timedelta(days=1)):
        for i in s.intervals_on(day):
            start = datetime.combine(day, i.start)
            end = datetime.combine(day + timedelta(days=1) if i.end <= i.start else day, i.end)
            if start <= wall < end:
                return True
    return False


# ------------------------------------------------------------------------------------------ examples

OFFICE = Schedule(timezone="America/Bogota", weekly={
    d: [TimeInterval(start=time(8), end=time(12)), TimeInterval(start=time(14), end=time(18))] for d in range(1, 6)})


def test_lunch_break_is_closed() -> None:
    assert OFFICE.is_open(local("America/Bogota", 2026, 3, 2, 11, 59))
    assert not OFFICE.is_open(local("America/Bogota", 2026, 3, 2, 12, 0))
    assert not OFFICE.is_open(local("America/Bogota", 2026, 3, 2, 13, 59, 59))
    assert OFFICE.next_opening(local("America/Bogota", 2026, 3, 2, 12, 30)) == local("America/Bogota", 2026, 3, 2, 14)
    # Friday evening -> Monday morning.
    assert OFFICE.next_opening(local("America/Bogota", 2026, 3, 6, 18)) == local("America/Bogota", 2026, 3, 9, 8)


def test_overnight_shift_runs_into_the_next_day() -> None:
    s = Schedule(timezone="Europe/Madrid", weekly={5: [iv("22:00", "06:00")]})  # Friday night
    assert s.is_open(local("Europe/Madrid", 2026, 3, 6, 23))
    assert s.is_open(local("Europe/Madrid", 2026, 3, 7, 5, 59))  # Saturday morning
    assert not s.is_open(local("Europe/Madrid", 2026, 3, 7, 6))
    assert not s.is_open(local("Europe/Madrid", 2026, 3, 6, 21, 59))


def test_end_at_midnight_and_full_day() -> None:
    s = Schedule(timezone="UTC", weekly={1: [iv("18:00", "00:00")], 2: [iv("00:00", "00:00")]})
    assert s.is_open(utc(2026, 3, 2, 23, 59, 59))
    assert s.is_open(utc(2026, 3, 3, 0, 0))  # Tuesday is open all day
    assert s.is_open(utc(2026, 3, 3, 23, 59, 59))
    assert not s.is_open(utc(2026, 3, 4, 0, 0))


def test_holiday_closes_and_special_hours_replace_the_day() -> None:
    s = Schedule.model_validate({**OFFICE.model_dump(), "exceptions": [
        {"day": date(2026, 12, 25), "name": "Navidad"},
        {"day": date(2026, 12, 24), "closed": False, "intervals": [iv("09:00", "11:00")]},
    ]})
    assert not s.is_open(local("America/Bogota", 2026, 12, 25, 10))
    assert s.is_open(local("America/Bogota", 2026, 12, 24, 10))
    assert not s.is_open(local("America/Bogota", 2026, 12, 24, 15))
    assert s.next_opening(local("America/Bogota", 2026, 12, 24, 12)) == local("America/Bogota", 2026, 12, 28, 8)


def test_validity_range() -> None:
    s = Schedule(timezone="UTC", weekly={d: [iv("09:00", "17:00")] for d in range(1, 8)},
                 valid_from=date(2026, 5, 1), valid_until=date(2026, 5, 31))
    assert not s.is_open(utc(2026, 4, 30, 10))
    assert s.is_open(utc(2026, 5, 1, 10))
    assert s.is_open(utc(2026, 5, 31, 16, 59))
    assert not s.is_open(utc(2026, 6, 1, 10))
    assert s.next_opening(utc(2026, 1, 1)) == utc(2026, 5, 1, 9)
    assert s.next_opening(utc(2026, 5, 31, 17)) is None


def test_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC). A 02:30 start does not exist.
    s = Schedule(timezone="America/New_York", weekly={7: [iv("02:30", "05:00")]})
    assert not s.is_open(utc(2026, 3, 8, 6, 59))
    assert s.is_open(utc(2026, 3, 8, 7, 0))
    assert s.next_opening(utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 7, 0)


def test_fall_back_sees_the_hour_twice() -> None:
    # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:xx happens twice.
    s = Schedule(timezone="America/New_York", weekly={7: [iv("01:15", "01:45")]})
    first, second = utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 6, 15)
    assert s.is_open(first) and s.is_open(second)
    assert not s.is_open(utc(2026, 11, 1, 5, 50))
    assert s.next_opening(utc(2026, 11, 1, 5, 50)) == second
    # An interval covering the repeated hour opens again at the jump back.
    s2 = Schedule(timezone="America/New_York", weekly={7: [iv("00:30", "01:30")]})
    assert s2.next_opening(utc(2026, 11, 1, 5, 45)) == utc(2026, 11, 1, 6, 0)


def test_always_open_and_never_open() -> None:
    assert Schedule(always_open=True).is_open(utc(2026, 1, 1))
    empty = Schedule(timezone="Europe/London")
    assert not empty.is_open(utc(2026, 1, 1))
    assert empty.next_opening(utc(2026, 1, 1)) is None


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        OFFICE.is_open(datetime(2026, 1, 1, 10))


@pytest.mark.parametrize("bad", [
    {"timezone": "Nowhere/City"},
    {"weekly": {0: []}},
    {"weekly": {8: []}},
    {"valid_from": "2026-02-01", "valid_until": "2026-01-01"},
    {"exceptions": [{"day": "2026-01-01", "closed": False}]},
    {"exceptions": [{"day": "2026-01-01", "closed": True, "intervals": [iv("09:00", "10:00")]}]},
])
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Schedule.model_validate(bad)


# ----------------------------------------------------------------------------------------- properties

minutes = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
# Bias toward the hours where clocks change (00:00-04:00) and the day edges.
hot_minutes = st.one_of(minutes, st.sampled_from([
    time(0), time(0, 30), time(1), time(1, 15), time(1, 30), time(1, 45), time(2), time(2, 30), time(3),
    time(3, 30), time(23, 30)]))
intervals = st.builds(lambda a, b: TimeInterval(start=a, end=b), hot_minutes, hot_minutes)
weekly = st.dictionaries(st.integers(1, 7), st.lists(intervals, max_size=3), max_size=7)


def _changes(tz: str, year: int = 2026) -> list[datetime]:
    """The instants (UTC) a zone's offset changes in a year, found hour by hour."""
    zone, out = ZoneInfo(tz), []
    t = datetime(year, 1, 1, tzinfo=UTC)
    while t.year == year:
        nxt = t + timedelta(hours=1)
        if t.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            m = t
            while m.astimezone(zone).utcoffset() == t.astimezone(zone).utcoffset():
                m += timedelta(minutes=1)
            out.append(m)
        t = nxt
    return out


CHANGES = {tz: _changes(tz) for tz in ZONES}


@st.composite
def schedules(draw: st.DrawFn, tz: str | None = None) -> Schedule:
    tz = tz or draw(st.sampled_from(ZONES))
    days = draw(st.lists(st.sampled_from(DST_DAYS).flatmap(
        lambda d: st.integers(-2, 2).map(lambda k: d + timedelta(days=k))), max_size=3, unique=True))
    exceptions = [{"day": d, "closed": draw(st.booleans())} for d in days]
    for e in exceptions:
        if not e["closed"]:
            e["intervals"] = draw(st.lists(intervals, min_size=1, max_size=2))
    valid_from = draw(st.none() | st.sampled_from(DST_DAYS))
    valid_until = draw(st.none() | st.sampled_from(DST_DAYS))
    if valid_from and valid_until and valid_until < valid_from:
        valid_from, valid_until = valid_until, valid_from
    return Schedule(timezone=tz, weekly=draw(weekly), exceptions=exceptions, valid_from=valid_from,
                    valid_until=valid_until)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Whole minutes within two days of a DST change."""
    day = draw(st.sampled_from(DST_DAYS))
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=draw(st.integers(-2 * 1440, 2 * 1440)))


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule, and a whole minute within six hours of one of its zone's clock changes."""
    tz = draw(st.sampled_from([z for z in ZONES if CHANGES[z]]))
    change = draw(st.sampled_from(CHANGES[tz]))
    return draw(schedules(tz)), change + timedelta(minutes=draw(st.integers(-360, 360)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), instants())
def test_is_open_matches_the_definition(s: Schedule, at: datetime) -> None:
    assert s.is_open(at) == oracle_open(s, at)
    assert s.is_open(at.astimezone(ZoneInfo(s.timezone))) == s.is_open(at)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), instants())
def test_next_opening_is_the_first_open_minute(s: Schedule, at: datetime) -> None:
    nxt = s.next_opening(at)
    window = 3 * 1440
    first = next((at + timedelta(minutes=m) for m in range(window) if oracle_open(s, at + timedelta(minutes=m))),
                 None)
    if first is not None:
        assert nxt == first
        return
    # Nothing in three days: the answer, if any, is later, open, and nothing before it is.
    if nxt is not None:
        assert nxt >= at + timedelta(minutes=window)
        assert s.is_open(nxt) and oracle_open(s, nxt)
        assert not oracle_open(s, nxt - timedelta(minutes=1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_a_change())
def test_across_a_clock_change(case: tuple[Schedule, datetime]) -> None:
    s, at = case
    assert s.is_open(at) == oracle_open(s, at)
    nxt = s.next_opening(at)
    first = next((at + timedelta(minutes=m) for m in range(1440) if oracle_open(s, at + timedelta(minutes=m))),
                 None)
    if first is not None:
        assert nxt == first
    else:
        assert nxt is None or nxt >= at + timedelta(minutes=1440)

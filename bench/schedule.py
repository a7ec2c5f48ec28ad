"""Schedule benchmark: ``Schedule.is_open`` evaluations per second on one core (target >= 200,000).

The schedule has what contact centers need: a lunch break on weekdays, a Saturday overnight shift,
holidays and a special-hours day, in a zone with daylight saving. The instants spread over a year, so
ordinary days, exception days and clock changes are all evaluated.

    python -m bench.schedule [--seconds 2] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta

from libs.contracts.schedule import Schedule

TARGET = 200_000


def office() -> Schedule:
    weekday = [{"start": "08:00", "end": "12:30"}, {"start": "13:30", "end": "18:00"}]
    return Schedule.model_validate({
        "timezone": "Europe/Madrid",
        "weekly": {**{d: weekday for d in range(1, 6)}, 6: [{"start": "22:00", "end": "06:00"}]},
        "exceptions": [
            {"day": date(2026, 1, 1), "name": "Año Nuevo"},
            {"day": date(2026, 1, 6), "name": "Reyes"},
            {"day": date(2026, 12, 24), "closed": False, "intervals": [{"start": "09:00", "end": "14:00"}]},
            {"day": date(2026, 12, 25), "name": "Navidad"},
        ],
    })


def run(seconds: float) -> float:
    schedule = office()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    instants = [start + timedelta(minutes=523 * i) for i in range(1000)]  # about a year
    is_open = schedule.is_open
    done, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for at in instants:
            is_open(at)
        done += len(instants)
    return done / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 below the target")
    args = parser.parse_args(argv)
    rate = run(args.seconds)
    verdict = "ok" if rate >= TARGET else "BELOW TARGET"
    print(f"schedule.is_open: {rate:,.0f} evaluations/s on one core (target {TARGET:,}): {verdict}")
    return 1 if args.strict and rate < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())

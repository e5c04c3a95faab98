"""Microseconds per business-time operation after warm-up (``helpline.domains.automation.calendar``).

The SLA engine recomputes every open ticket's clocks after a schedule edit, so each call must cost a
few microseconds. A Berlin schedule with a lunch break and a year of holidays; start instants spread
over two years (so both years' indexes are built during warm-up), spans of up to three weeks. One
JSON line per operation on stdout: ``us_per_call`` in wall-clock time, ``cpu_us_per_call`` in this
process's CPU time (the machine may be shared).

    .venv/bin/python bench/calendar_ops.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from common import emit

from helpline.domains.automation import calendar as cal_

BODY = {
    "timezone": "Europe/Berlin",
    "week": {d: [["09:00", "12:30"], ["13:30", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [
        {"name": "New Year", "start": "2026-01-01"},
        {"name": "Easter", "start": "2026-04-03", "end": "2026-04-06"},
        {"name": "Christmas", "start": "2026-12-24", "end": "2026-12-26"},
        {"name": "Easter", "start": "2027-03-26", "end": "2027-03-29"},
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(14)
    cal = cal_.Calendar.from_body(BODY)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [base + timedelta(seconds=rng.randrange(2 * 365 * 86400)) for _ in range(10_000)]
    ends = [s + timedelta(seconds=rng.randrange(21 * 86400)) for s in starts]
    targets = [rng.randrange(60, 5 * 8 * 3600) for _ in starts]
    ops = {
        "between": lambda i: cal_.business_seconds_between(cal, starts[i], ends[i]),
        "add": lambda i: cal_.add_business_seconds(cal, starts[i], targets[i]),
        "is_open": lambda i: cal_.is_open(cal, starts[i]),
    }
    for name, op in ops.items():
        for i in range(len(starts)):  # warm-up: builds the per-year indexes
            op(i)
        n = len(starts)
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(args.calls):
            op(k % n)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        emit(
            bench="calendar_ops",
            op=name,
            calls=args.calls,
            us_per_call=round(wall / args.calls * 1e6, 3),
            cpu_us_per_call=round(cpu / args.calls * 1e6, 3),
        )
    t0 = time.perf_counter()
    cold = cal_.Calendar.from_body({**BODY, "holidays": []})
    cal_.business_seconds_between(cold, base, base + timedelta(days=1))
    emit(bench="calendar_ops", op="first_call_one_year_index", us=round((time.perf_counter() - t0) * 1e6, 1))


if __name__ == "__main__":
    main()

"""Figures for Prometheus: what ``GET /metrics`` serves, in the text exposition format (0.0.4).

Written by hand rather than with a client library: every figure is read from the database when
scraped (nothing accumulates in a process, so any process answers the same), and the format of a
few gauges and counters is a dozen lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from helpline.platform.db import Database
from helpline.platform.feed import consumer_lag
from helpline.platform.jobs import pending_counts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Family:
    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def render(families: list[Family]) -> str:
    """The exposition text of ``families`` (label values escaped, one HELP and TYPE per family)."""
    lines: list[str] = []
    for f in families:
        lines.append(f"# HELP {f.name} {f.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {f.name} {f.kind}")
        for labels, v in f.samples:
            inner = ",".join(f'{k}="{_label(val)}"' for k, val in sorted(labels.items()))
            lines.append(f"{f.name}{{{inner}}} {_value(v)}" if inner else f"{f.name} {_value(v)}")
    return "\n".join(lines) + "\n"


async def collect(db: Database) -> list[Family]:
    """The feed's lag per consumer and the job queue, read now."""
    async with db.read() as conn:
        lags = await consumer_lag(conn)
    behind = Family(
        "helpline_feed_behind_events", "gauge", "Rows committed that the consumer has not handled yet."
    )
    oldest = Family(
        "helpline_feed_oldest_undelivered_seconds",
        "gauge",
        "Age of the oldest row the consumer has not handled (0 when none).",
    )
    failing = Family(
        "helpline_feed_failing_partitions", "gauge", "Partitions of the consumer whose last delivery raised."
    )
    attempts = Family(
        "helpline_feed_attempts",
        "gauge",
        "Failed deliveries in a row of the consumer's most failing partition.",
    )
    delivered = Family("helpline_feed_delivered_total", "counter", "Rows delivered to the consumer.")
    for lag in lags:
        labels = {"consumer": lag.consumer, "source": lag.source}
        behind.samples.append((labels, lag.behind))
        oldest.samples.append((labels, lag.oldest_seconds or 0.0))
        failing.samples.append((labels, lag.failing))
        attempts.samples.append((labels, lag.attempts))
        delivered.samples.append((labels, lag.delivered))
    counts = await pending_counts(db)
    jobs = Family("helpline_jobs", "gauge", "Background jobs by state.")
    for state in ("queued", "running", "dead"):
        jobs.samples.append(({"state": state}, counts.get(state, 0)))
    return [behind, oldest, failing, attempts, delivered, jobs]

"""Time axes and scales of the dashboard charts.

Charts draw a fixed grid of buckets over the chosen span (every minute of the
last 6 hours, every hour beyond), whatever the traffic: one prediction on a
fresh install is one bar in a day-wide axis, not an axis a millisecond wide.
The newest buckets are still filling (the current one, and the one the
rollups have not caught up with); they are marked so a half-counted hour does
not read as a fall in latency or outliers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitoring.calculations.methods import METHODS
from monitoring.calculations.windows import window_floor

#: spans offered on the dashboards, in hours
SPANS = {"6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30}
DEFAULT_SPAN = "24h"
#: spans up to this many hours are drawn per minute, longer ones per hour
MINUTE_BUCKETS_UP_TO_HOURS = 6


@dataclass(frozen=True)
class Buckets:
    """A fixed grid of equal buckets ``[start, end)``; ``settled`` buckets
    (from the first) are final, the rest are still filling."""

    start: datetime
    end: datetime
    step: timedelta
    granularity: str
    starts: list[datetime]
    settled: int

    @property
    def partial_from(self) -> int | None:
        """Index of the first bucket still filling (None: all are final)."""
        return self.settled if self.settled < len(self.starts) else None

    def index(self, moment: datetime) -> int | None:
        """The bucket holding ``moment`` (None outside the grid)."""
        if not self.start <= moment < self.end:
            return None
        return int((moment - self.start) // self.step)


def span_buckets(*, now: datetime, hours: int, settled_until: datetime) -> Buckets:
    """The buckets of the last ``hours`` up to the one holding ``now``.

    Buckets are aligned (whole minutes or hours, UTC) and their number is
    fixed by the span: 360 minutes for 6 hours, 24 hours for a day. Buckets
    that end after ``settled_until`` (the current one, and any the rollups
    may not have folded in completely yet) are not settled.
    """
    if hours <= MINUTE_BUCKETS_UP_TO_HOURS:
        granularity, step = "minute", timedelta(minutes=1)
    else:
        granularity, step = "hour", timedelta(hours=1)
    count = int(timedelta(hours=hours) / step)
    end = window_floor(now, int(step.total_seconds() // 60)) + step
    start = end - count * step
    starts = [start + i * step for i in range(count)]
    settled = sum(1 for s in starts if s + step <= settled_until)
    return Buckets(start, end, step, granularity, starts, settled)


def span_hours(span: str | None) -> tuple[str, int]:
    """The span's name and length in hours (the default for an unknown one)."""
    name = span if span in SPANS else DEFAULT_SPAN
    return name, SPANS[name]


def drift_ratio(method: str, score: float | None, threshold: float) -> float | None:
    """A drift score on one scale for every method: 0 is no drift at all, 1 is
    the column's threshold, above 1 is drift.

    Distances from 0 (Wasserstein, Jensen-Shannon, PSI) divide by the
    threshold; a domain classifier's ROC AUC counts from its chance level
    (0.5); p-values (K-S, chi-square), where smaller is more drift, compare
    logarithms: ``log(p) / log(threshold)``.
    """
    if score is None or not math.isfinite(score):
        return None
    spec = METHODS.get(method)
    if spec is None or threshold <= 0:
        return None
    if spec.score_kind == "p_value":
        if threshold >= 1:
            return None
        return math.log(max(score, 1e-300)) / math.log(threshold)
    baseline = spec.baseline
    if threshold <= baseline:
        return None
    return max(score - baseline, 0.0) / (threshold - baseline)

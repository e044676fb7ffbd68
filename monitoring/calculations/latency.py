"""Latency percentiles from fixed histogram buckets (what rollups store)."""

from __future__ import annotations

from collections.abc import Sequence

#: upper bounds of the latency buckets in milliseconds; the last bucket is open
BUCKETS_MS: tuple[float, ...] = (
    1, 2.5, 5, 7.5, 10, 15, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip


def bucket_index(latency_ms: float) -> int:
    for i, bound in enumerate(BUCKETS_MS):
        if latency_ms <= bound:
            return i
    return len(BUCKETS_MS)


def empty_histogram() -> list[int]:
    return [0] * (len(BUCKETS_MS) + 1)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0-1) by linear interpolation inside the bucket; None
    when the histogram is empty. The open last bucket reports its lower bound."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            low = BUCKETS_MS[i - 1] if i > 0 else 0.0
            if i >= len(BUCKETS_MS):
                return float(BUCKETS_MS[-1])
            high = BUCKETS_MS[i]
            return float(low + (high - low) * (rank - seen) / count)
        seen += count
    return float(BUCKETS_MS[-1])


def merge(histograms: Sequence[Sequence[int]]) -> list[int]:
    out = empty_histogram()
    for h in histograms:
        for i, v in enumerate(h):
            out[i] += v
    return out

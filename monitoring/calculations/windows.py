"""Time windows aligned on multiples of their length (from the Unix epoch),
so every run of a monitor, on any worker, names the same window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_floor(moment: datetime, minutes: int) -> datetime:
    length = minutes * 60
    seconds = int((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % length)


def last_complete_window(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The newest window of ``minutes`` that has ended at ``now``."""
    end = window_floor(now, minutes)
    return end - timedelta(minutes=minutes), end


def windows_between(
    start: datetime, end: datetime, minutes: int
) -> list[tuple[datetime, datetime]]:
    """Aligned windows overlapping ``[start, end)``."""
    out = []
    cursor = window_floor(start, minutes)
    step = timedelta(minutes=minutes)
    while cursor < end:
        out.append((cursor, cursor + step))
        cursor += step
    return out

"""Trimming the stream consumer's Redis streams (input, output, dead letters).

A stream entry may go once every consumer group on the stream is done with it
and it is older than the retention: an entry still pending (delivered, not
acknowledged) or not yet delivered to some group is never trimmed, whatever
its age. The consumer acknowledges an input event only after its log rows
and stored response committed (or after dead-lettering it), so what is
trimmed from the input is acknowledged and logged. Streams that no group reads
(the output and dead-letter streams, read with XREAD) are trimmed by age
and, beyond that, to at most ``maxlen`` entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

StreamId = tuple[int, int]


def parse_id(value) -> StreamId:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(value: StreamId) -> str:
    return f"{value[0]}-{value[1]}"


@dataclass(frozen=True)
class GroupProgress:
    """Where a consumer group stands on a stream."""

    last_delivered: StreamId
    oldest_pending: StreamId | None


def trim_threshold(
    *, now_ms: int, retention_ms: int, groups: list[GroupProgress]
) -> StreamId:
    """The smallest id to keep (XTRIM MINID): nothing younger than the
    retention, still pending, or not yet delivered to a group is below it."""
    keep = (max(now_ms - retention_ms, 0), 0)
    for group in groups:
        # entries after the last delivered one have not been read by the group
        ms, seq = group.last_delivered
        keep = min(keep, (ms, seq + 1))
        if group.oldest_pending is not None:
            keep = min(keep, group.oldest_pending)
    return keep


def _groups(redis_client, stream: str) -> list[GroupProgress]:
    progress = []
    for info in redis_client.xinfo_groups(stream):
        name = info["name"]
        pending = redis_client.xpending(stream, name)
        oldest = pending.get("min") if pending.get("pending") else None
        progress.append(
            GroupProgress(
                last_delivered=parse_id(info["last-delivered-id"]),
                oldest_pending=parse_id(oldest) if oldest is not None else None,
            )
        )
    return progress


def stream_trim(
    *, redis_client, stream: str, retention_ms: int, maxlen: int | None = None
) -> int:
    """Trim ``stream`` (see the module's rule); returns the entries removed.
    ``maxlen`` applies only to a stream that no consumer group reads."""
    import redis

    if not redis_client.exists(stream):
        return 0
    try:
        groups = _groups(redis_client, stream)
    except redis.ResponseError:  # a key of another type: not ours to trim
        return 0
    seconds, micros = redis_client.time()  # the clock that made the ids
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    threshold = trim_threshold(now_ms=now_ms, retention_ms=retention_ms, groups=groups)
    removed = redis_client.xtrim(stream, minid=format_id(threshold), approximate=False)
    if maxlen is not None and not groups:
        removed += redis_client.xtrim(stream, maxlen=maxlen, approximate=False)
    if removed:
        logger.debug("trimmed %d entries of %s", removed, stream)
    return removed

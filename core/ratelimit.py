"""Fixed-window request counters for per-client rate limits.

One integer per (scope, client, window). With Redis (``REDIS_URL``) the counter
is shared by every process: one round trip per sync (``INCRBY`` and
``EXPIRE ... NX`` pipelined) on a client kept for the life of the process.
Django's cache API would build a new Redis client object and make two round
trips per call, which costs more than a one-row prediction.

Far from a client's limit (more than ``EXACT_WITHIN`` requests left), a
process adds its hits to Redis in batches: at most every ``SYNC_EVERY_HITS``
hits or ``SYNC_EVERY_SECONDS``, whichever comes first, and decides on the
last shared count plus its own hits since. Near the limit every hit is a
round trip again, so refusals stay exact up to the hits other processes have
not added yet (fewer than ``SYNC_EVERY_HITS`` each). A one-row prediction
then waits for Redis on one request in sixteen instead of every one.

While Redis is unreachable, and on the embedded default without Redis, each
process counts in memory: a limit then applies per process (so a client gets
at most ``limit × processes`` per window). Requests are never refused or
slowed because the counter store is down.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 0.25
SYNC_EVERY_HITS = 16
SYNC_EVERY_SECONDS = 0.25
EXACT_WITHIN = 64  # requests left in the window under which every hit syncs
MAX_KEPT_WINDOWS = 10_000  # beyond this, finished windows are forgotten

_lock = threading.Lock()
_local: dict[str, int] = {}
_local_window: dict[str, float] = {}
_client = None
_client_url: str | None = None
_open_until = 0.0


@dataclass
class _Tally:
    """This process's view of one shared window counter."""

    shared: int = 0  # the count in Redis at the last sync
    pending: int = 0  # this process's hits not added to Redis yet
    synced_at: float = float("-inf")  # time.monotonic() of the last sync
    expires_at: float = 0.0


_tallies: dict[str, _Tally] = {}


def _redis():
    """The process's Redis client for counters (None without Redis)."""
    global _client, _client_url
    url = settings.REDIS_URL
    if not url:
        return None
    if _client is None or _client_url != url:
        import redis

        with _lock:
            _client = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                health_check_interval=30,
            )
            _client_url = url
    return _client


def _count_locally(key: str, expires_at: float) -> int:
    with _lock:
        now = time.time()
        if len(_local_window) > MAX_KEPT_WINDOWS:
            for stale in [k for k, end in _local_window.items() if end < now]:
                _local.pop(stale, None)
                _local_window.pop(stale, None)
        _local[key] = _local.get(key, 0) + 1
        _local_window[key] = expires_at
        return _local[key]


def window_hit(
    *,
    scope: str,
    who: str,
    period: int,
    now: float | None = None,
    limit: int | None = None,
) -> int:
    """Count one request of ``who`` in the current window of ``period`` seconds
    and return the window's count so far.

    With ``limit`` (the caller refuses above it), hits far from the limit are
    added to the shared counter in batches (module docstring).
    """
    global _open_until
    now = time.time() if now is None else now
    window = int(now // period)
    key = f"{settings.MODELGATE['RATE_LIMIT_PREFIX']}:{scope}:{who}:{window}"
    expires_at = (window + 1) * period
    client = _redis()
    if client is not None and time.monotonic() >= _open_until:
        import redis

        add = 1
        tally = None
        if limit is not None:
            with _lock:
                tally = _tally(key, expires_at)
                estimate = tally.shared + tally.pending + 1
                if (
                    limit - estimate > EXACT_WITHIN
                    and tally.pending + 1 < SYNC_EVERY_HITS
                    and time.monotonic() - tally.synced_at < SYNC_EVERY_SECONDS
                ):
                    tally.pending += 1
                    return estimate
                add += tally.pending
                tally.pending = 0
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incrby(key, add)
            pipe.expire(key, period + 1, nx=True)
            count, _ = pipe.execute()
            if tally is not None:
                with _lock:
                    tally.shared = max(tally.shared, int(count))
                    tally.synced_at = time.monotonic()
            return int(count)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            _open_until = time.monotonic() + BREAKER_SECONDS
            logger.warning(
                "rate-limit counters unavailable (%s: %s); counting per process "
                "for %.0fs",
                type(exc).__name__,
                exc,
                BREAKER_SECONDS,
            )
    return _count_locally(key, expires_at)


def _tally(key: str, expires_at: float) -> _Tally:
    """The tally of ``key`` (caller holds ``_lock``)."""
    tally = _tallies.get(key)
    if tally is None:
        if len(_tallies) > MAX_KEPT_WINDOWS:
            now = time.time()
            for stale in [k for k, t in _tallies.items() if t.expires_at < now]:
                del _tallies[stale]
        tally = _tallies[key] = _Tally(expires_at=expires_at)
    return tally


def reset() -> None:
    """Forget the in-memory counters and the Redis client (tests)."""
    global _client, _client_url, _open_until
    with _lock:
        _local.clear()
        _local_window.clear()
        _tallies.clear()
        _client = None
        _client_url = None
        _open_until = 0.0

"""A Redis cache that degrades to "always miss" while Redis is unreachable.

The cache holds throttle counters and other disposable state. A Redis outage
(stopped or frozen server) must not turn predictions into errors or make them
wait: every operation has a short socket timeout, and after a failure the cache
stops trying for ``BREAKER_SECONDS`` (a circuit breaker), answering as if the
key were absent. Throttling is therefore relaxed, not enforced, during an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import wraps
from typing import Any

from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 5.0

DEFAULT = object()  # fall back to the caller's ``default`` argument
# operation → what it returns while Redis is unavailable (a factory, so no
# caller ever shares a mutable fallback)
FALLBACKS = {
    "get": DEFAULT,
    "get_many": dict,
    "has_key": lambda: False,
    "add": lambda: False,
    "touch": lambda: False,
    "delete": lambda: False,
    "set": lambda: None,
    "set_many": list,
    "delete_many": lambda: None,
    "clear": lambda: None,
    "incr": lambda: None,
}


class TolerantRedisCache(RedisCache):
    """django's RedisCache with a circuit breaker around every call."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        options.setdefault("socket_timeout", 0.25)
        options.setdefault("socket_connect_timeout", 0.25)
        super().__init__(server, {**params, "OPTIONS": options})
        self._open_until = 0.0
        self._lock = threading.Lock()

    def _available(self) -> bool:
        return time.monotonic() >= self._open_until

    def _trip(self, exc: Exception, operation: str) -> None:
        with self._lock:
            first = self._available()
            self._open_until = time.monotonic() + BREAKER_SECONDS
        if first:
            logger.warning(
                "cache unavailable during %s (%s: %s); skipping Redis for %.0fs",
                operation,
                type(exc).__name__,
                exc,
                BREAKER_SECONDS,
            )


def _guard(name: str, fallback: Any):
    original = getattr(RedisCache, name)

    def unavailable(args: tuple, kwargs: dict) -> Any:
        if fallback is DEFAULT:
            return kwargs.get("default", args[1] if len(args) > 1 else None)
        return fallback()

    @wraps(original)
    def method(self: TolerantRedisCache, *args, **kwargs):
        import redis

        if not self._available():
            return unavailable(args, kwargs)
        try:
            return original(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._trip(exc, name)
            return unavailable(args, kwargs)

    return method


for _name, _fallback in FALLBACKS.items():
    setattr(TolerantRedisCache, _name, _guard(_name, _fallback))

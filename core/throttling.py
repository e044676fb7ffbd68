"""Login throttling for the session login form (the API has DRF's throttles)."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(count), seconds


class LoginThrottle:
    """At most N failed logins per period for one client address, and the same
    for one username (so spreading guesses over addresses does not help)."""

    def __init__(self, rate: str | None = None) -> None:
        self.limit, self.period = _parse_rate(
            rate or settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
        )

    @staticmethod
    def _keys(address: str, username: str) -> list[str]:
        user_hash = hashlib.sha256(username.lower().encode()).hexdigest()[:16]
        return [f"login-fail:ip:{address}", f"login-fail:user:{user_hash}"]

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in cache.get(key, []) if t > now - self.period]

    def blocked_for(self, address: str, username: str) -> int:
        """Seconds until the next attempt is allowed (0: allowed now)."""
        now = time.time()
        waits = []
        for key in self._keys(address, username):
            recent = self._recent(key, now)
            if len(recent) >= self.limit:
                waits.append(int(recent[0] + self.period - now) + 1)
        return max(waits, default=0)

    def record_failure(self, address: str, username: str) -> None:
        now = time.time()
        for key in self._keys(address, username):
            cache.set(key, [*self._recent(key, now), now], self.period)

    def reset(self, address: str, username: str) -> None:
        for key in self._keys(address, username):
            cache.delete(key)

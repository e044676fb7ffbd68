"""One login throttle for every login form (the site's and the admin's; the
API has DRF's throttles).

Each attempt is counted before its password is checked, by an atomic
increment of a fixed-window counter in the cache (Redis ``INCR`` in
production), one per client address and one per username. An attempt whose
count is above the limit is refused without checking the password, so N
parallel attempts run at most ``limit`` password checks. A successful login
clears both counters; a failed one keeps its count.

While the cache is unreachable (``core.cache.TolerantRedisCache``) attempts
are not counted: throttling is relaxed, never a reason to refuse a login. The
embedded file cache increments by read and write, so there the limit holds
for attempts one after the other, not for parallel ones.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)


def _parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(count), seconds


class LoginThrottle:
    """At most N login attempts per period for one client address, and the
    same for one username (so spreading guesses over addresses does not
    help); successful logins do not count."""

    def __init__(self, rate: str | None = None) -> None:
        self.limit, self.period = _parse_rate(
            rate or settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
        )

    def _keys(self, address: str, username: str, now: float) -> list[str]:
        user_hash = hashlib.sha256(username.lower().encode()).hexdigest()[:16]
        window = int(now // self.period)
        return [
            f"login-attempts:ip:{address}:{window}",
            f"login-attempts:user:{user_hash}:{window}",
        ]

    def _hit(self, key: str) -> int | None:
        """Add one to ``key``'s counter; its new value (None: cache down)."""
        for _ in range(2):
            cache.add(key, 0, timeout=self.period + 1)
            try:
                return cache.incr(key)
            except ValueError:  # expired between add and incr: once more
                continue
        return None

    def attempt(self, address: str, username: str) -> int:
        """Count one attempt; seconds until the next one is allowed if this
        one is over the limit (its password must not be checked), else 0."""
        now = time.time()
        counts = [self._hit(key) for key in self._keys(address, username, now)]
        if any(c is not None and c > self.limit for c in counts):
            return max(1, math.ceil((int(now // self.period) + 1) * self.period - now))
        return 0

    def reset(self, address: str, username: str) -> None:
        for key in self._keys(address, username, time.time()):
            cache.delete(key)


def throttled_login(
    request: HttpRequest,
    check: Callable[[], HttpResponse],
    refuse: Callable[[int], HttpResponse],
) -> HttpResponse:
    """Run a login form's POST ``check`` (which answers 302 on success)
    unless the attempt is over the limit; then ``refuse(wait)``, which
    answers 429 with ``Retry-After``, without checking the password."""
    throttle = LoginThrottle()
    address = request.META.get("REMOTE_ADDR", "")
    username = request.POST.get("username", "")
    wait = throttle.attempt(address, username)
    if wait:
        logger.warning(
            "login attempt refused for %s at %s (over %s per %ss)",
            username[:150],
            address,
            throttle.limit,
            throttle.period,
        )
        response = refuse(wait)
        response.status_code = 429
        response["Retry-After"] = str(wait)
        return response
    response = check()
    if response.status_code == 302:
        throttle.reset(address, username)
    return response


def too_many_text(wait: int) -> str:
    return f"Too many failed logins. Try again in {wait} seconds."

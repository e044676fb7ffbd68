"""One login throttle for every login form (the site's and the admin's; the
API has DRF's throttles).

Each attempt is counted before its password is checked, by an atomic
increment of a per-window counter in the cache (Redis ``INCR`` in
production), one per client address and one per username. The count judged
is a sliding window's: this window's counter plus the previous window's,
weighted by the share of the previous window the sliding period still covers,
so a burst that straddles a window boundary does not get the limit twice. An
attempt whose count is above the limit is refused without checking the
password, so N parallel attempts run at most ``limit`` password checks. A
successful login clears the counters; a failed or refused one keeps its count.

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


def sliding_count(current: int, previous: int, fraction: float) -> float:
    """Attempts in the period that ends now, estimated from this window's
    count and the previous window's: the previous one still weighs the share
    ``1 - fraction`` of it that the sliding period covers (``fraction``: how
    far into this window we are, 0 to 1)."""
    return current + previous * (1 - fraction)


def retry_after(
    current: int, previous: int, fraction: float, limit: int, period: int
) -> int:
    """Whole seconds until one more attempt would be counted within
    ``limit``, if nobody tries before then (at least 1)."""
    if current + 1 <= limit:
        # later in this window, once the previous window weighs less
        needed = 1 - (limit - current - 1) / previous if previous else fraction
        seconds = (needed - fraction) * period
    else:
        # in the next window, once this one weighs little enough
        needed = max(0.0, 1 - (limit - 1) / current)
        seconds = (1 - fraction + needed) * period
    return max(1, math.ceil(round(seconds, 6)))  # 18.000000000000004 is 18


class LoginThrottle:
    """At most N login attempts per sliding period for one client address,
    and the same for one username (so spreading guesses over addresses does
    not help); successful logins do not count."""

    def __init__(self, rate: str | None = None) -> None:
        self.limit, self.period = _parse_rate(
            rate or settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
        )

    def _counters(self, address: str, username: str) -> list[str]:
        user_hash = hashlib.sha256(username.lower().encode()).hexdigest()[:16]
        return [f"login-attempts:ip:{address}", f"login-attempts:user:{user_hash}"]

    def _hit(self, key: str) -> int | None:
        """Add one to ``key``'s counter; its new value (None: cache down)."""
        for _ in range(2):
            # kept for two periods: the next window still weighs this one
            cache.add(key, 0, timeout=2 * self.period + 1)
            try:
                return cache.incr(key)
            except ValueError:  # expired between add and incr: once more
                continue
        return None

    def attempt(self, address: str, username: str) -> int:
        """Count one attempt; seconds until the next one is allowed if this
        one is over the limit (its password must not be checked), else 0."""
        window, offset = divmod(time.time(), self.period)
        fraction = offset / self.period
        wait = 0
        for counter in self._counters(address, username):
            current = self._hit(f"{counter}:{int(window)}")
            if current is None:
                continue
            previous = cache.get(f"{counter}:{int(window) - 1}") or 0
            if sliding_count(current, previous, fraction) > self.limit:
                wait = max(
                    wait,
                    retry_after(current, previous, fraction, self.limit, self.period),
                )
        return wait

    def reset(self, address: str, username: str) -> None:
        window = int(time.time() // self.period)
        for counter in self._counters(address, username):
            cache.delete_many([f"{counter}:{window}", f"{counter}:{window - 1}"])


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

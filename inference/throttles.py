"""Per-client rate limits with a fixed-window counter.

DRF's ``SimpleRateThrottle`` keeps every request time of the window in the
cache and rewrites the whole list on each request, which grows with the rate
(200,000 timestamps per hour for a busy client). Here each client has one
integer per window (``core.ratelimit``: shared through Redis, in batches
while the client is far from its limit, or a per-process count without
Redis).
"""

from __future__ import annotations

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core.ratelimit import window_hit

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"200/minute"`` → ``(200, 60)``."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[0]]


class ClientRateThrottle(BaseThrottle):
    """Limits each authenticated client (anonymous: each address) per scope."""

    scope = "predict"

    def allow_request(self, request, view) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        self.limit, self.period = parse_rate(rate)
        who = (
            f"u{request.user.pk}"
            if request.user and request.user.is_authenticated
            else f"ip{self.get_ident(request)}"
        )
        now = time.time()
        self.window_end = (int(now // self.period) + 1) * self.period
        self.now = now
        count = window_hit(
            scope=self.scope, who=who, period=self.period, now=now, limit=self.limit
        )
        return count <= self.limit

    def wait(self) -> float:
        return max(0.0, self.window_end - self.now)


class PredictThrottle(ClientRateThrottle):
    scope = "predict"


class FeedbackThrottle(ClientRateThrottle):
    scope = "feedback"


class BatchThrottle(ClientRateThrottle):
    scope = "batch"

"""Per-client window counters: shared through Redis, per process without it,
and never an error while Redis is down."""

import pytest

from core import ratelimit


@pytest.fixture(autouse=True)
def _fresh(settings):
    ratelimit.reset()
    yield
    ratelimit.reset()


@pytest.mark.redis
def test_counts_are_shared_through_redis(settings, redis_url, redis_client):
    settings.REDIS_URL = redis_url
    settings.MODELGATE = {**settings.MODELGATE, "RATE_LIMIT_PREFIX": "mg-test:rl"}
    counts = [ratelimit.window_hit(scope="s", who="u1", period=60, now=120.0)]
    ratelimit.reset()  # another process: a fresh client, no local memory
    counts.append(ratelimit.window_hit(scope="s", who="u1", period=60, now=121.0))
    counts.append(ratelimit.window_hit(scope="s", who="u2", period=60, now=121.0))
    counts.append(ratelimit.window_hit(scope="s", who="u1", period=60, now=180.0))
    assert counts == [1, 2, 1, 1]  # next window starts afresh
    ttl = redis_client.ttl("mg-test:rl:s:u1:2")
    assert 0 < ttl <= 61


def test_without_redis_each_process_counts(settings):
    settings.REDIS_URL = ""
    hits = [
        ratelimit.window_hit(scope="s", who="u", period=60, now=5.0) for _ in range(3)
    ]
    assert hits == [1, 2, 3]


def test_unreachable_redis_falls_back_to_local_counts(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    hits = [
        ratelimit.window_hit(scope="s", who="u", period=60, now=5.0) for _ in range(3)
    ]
    assert hits == [1, 2, 3]

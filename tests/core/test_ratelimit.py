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


def _use_redis(settings, redis_url, prefix):
    settings.REDIS_URL = redis_url
    settings.MODELGATE = {**settings.MODELGATE, "RATE_LIMIT_PREFIX": prefix}


@pytest.mark.redis
def test_far_from_the_limit_hits_reach_redis_in_batches(
    settings, redis_url, redis_client
):
    _use_redis(settings, redis_url, "mg-test:rlb")
    redis_client.delete("mg-test:rlb:s:u1:2")
    every = ratelimit.SYNC_EVERY_HITS

    def hit():
        return ratelimit.window_hit(
            scope="s", who="u1", period=60, now=125.0, limit=10_000
        )

    counts = [hit() for _ in range(every)]
    assert counts == list(range(1, every + 1))  # the process's own count
    assert int(redis_client.get("mg-test:rlb:s:u1:2")) == 1  # the first hit only
    assert hit() == every + 1  # the batch goes out with this one
    assert int(redis_client.get("mg-test:rlb:s:u1:2")) == every + 1
    for _ in range(every - 1):
        hit()
    assert int(redis_client.get("mg-test:rlb:s:u1:2")) == every + 1  # not sent yet
    redis_client.incrby("mg-test:rlb:s:u1:2", 100)  # another process's hits
    assert hit() == 2 * every + 1 + 100  # this sync sends ours and brings theirs


@pytest.mark.redis
def test_batches_are_sent_at_least_every_sync_period(
    settings, redis_url, redis_client, monkeypatch
):
    _use_redis(settings, redis_url, "mg-test:rlt")
    redis_client.delete("mg-test:rlt:s:u1:2")
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    hit = lambda: ratelimit.window_hit(  # noqa: E731
        scope="s", who="u1", period=60, now=125.0, limit=10_000
    )
    hit()
    hit()
    assert int(redis_client.get("mg-test:rlt:s:u1:2")) == 1
    clock[0] += ratelimit.SYNC_EVERY_SECONDS
    assert hit() == 3
    assert int(redis_client.get("mg-test:rlt:s:u1:2")) == 3


@pytest.mark.redis
def test_near_the_limit_every_hit_is_counted_in_redis(
    settings, redis_url, redis_client
):
    _use_redis(settings, redis_url, "mg-test:rle")
    redis_client.delete("mg-test:rle:s:u1:2")
    limit = ratelimit.EXACT_WITHIN  # every hit is near the limit
    counts = [
        ratelimit.window_hit(scope="s", who="u1", period=60, now=125.0, limit=limit)
        for _ in range(limit + 2)
    ]
    assert counts == list(range(1, limit + 3))
    assert int(redis_client.get("mg-test:rle:s:u1:2")) == limit + 2
    ratelimit.reset()  # another process sees every hit
    assert (
        ratelimit.window_hit(scope="s", who="u1", period=60, now=125.0, limit=limit)
        == limit + 3
    )

"""The shared cache keeps working against real Redis and degrades to misses,
quickly, when Redis is refused or frozen."""

import socket
import threading
import time

import pytest

from core.cache import TolerantRedisCache


def make_cache(url: str) -> TolerantRedisCache:
    return TolerantRedisCache(url, {"KEY_PREFIX": "mg-test"})


@pytest.mark.redis
def test_round_trip_on_real_redis(redis_url, redis_client):
    cache = make_cache(redis_url)
    cache.set("k", [1, 2], 30)
    assert cache.get("k") == [1, 2]
    assert cache.add("k", "other") is False
    cache.delete("k")
    assert cache.get("k", "missing") == "missing"


def test_refused_connection_answers_like_a_miss():
    cache = make_cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert cache.get("k", []) == []
    assert cache.get_many(["a"]) == {}
    assert cache.set("k", 1) is None
    assert cache.add("k", 1) is False


@pytest.fixture
def frozen_server():
    """A TCP server that accepts connections and never answers (like a Redis
    frozen with SIGSTOP)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_frozen_redis_costs_one_short_timeout_then_nothing(frozen_server):
    cache = make_cache(frozen_server)
    started = time.perf_counter()
    assert cache.get("k", "d") == "d"
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(100):
        assert cache.get("k", "d") == "d"
        cache.set("k", 1)
    rest = time.perf_counter() - started
    assert first < 1.0  # one socket timeout (0.25 s), not a hang
    assert rest < 0.05  # the breaker is open: no network at all

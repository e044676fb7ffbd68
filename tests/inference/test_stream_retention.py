"""Trimming the stream consumer's streams: the threshold rule (pure), and on
real Redis that no pending or undelivered event is trimmed and that the
streams stay bounded under traffic."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from inference.models import PredictionLog
from inference.services.stream import StreamConfig, StreamConsumer
from inference.services.stream_retention import (
    GroupProgress,
    format_id,
    parse_id,
    trim_threshold,
)

NOW = 1_000_000


# ------------------------------------------------------------------ the rule
def test_without_groups_only_the_retention_counts():
    assert trim_threshold(now_ms=NOW, retention_ms=60_000, groups=[]) == (940_000, 0)
    assert trim_threshold(now_ms=NOW, retention_ms=0, groups=[]) == (NOW, 0)


def test_a_pending_entry_holds_the_threshold():
    group = GroupProgress(last_delivered=(999_000, 7), oldest_pending=(500_000, 2))
    assert trim_threshold(now_ms=NOW, retention_ms=0, groups=[group]) == (500_000, 2)


def test_undelivered_entries_of_any_group_are_kept():
    done = GroupProgress(last_delivered=(999_000, 7), oldest_pending=None)
    behind = GroupProgress(last_delivered=(400_000, 3), oldest_pending=None)
    assert trim_threshold(now_ms=NOW, retention_ms=0, groups=[done]) == (999_000, 8)
    assert trim_threshold(now_ms=NOW, retention_ms=0, groups=[done, behind]) == (
        400_000,
        4,
    )
    fresh = GroupProgress(last_delivered=(0, 0), oldest_pending=None)
    assert trim_threshold(now_ms=NOW, retention_ms=0, groups=[fresh]) == (0, 1)


def test_the_retention_holds_back_acknowledged_entries():
    done = GroupProgress(last_delivered=(999_000, 7), oldest_pending=None)
    assert trim_threshold(now_ms=NOW, retention_ms=10_000, groups=[done]) == (
        990_000,
        0,
    )


def test_ids_round_trip():
    assert parse_id(b"1700000000000-12") == (1_700_000_000_000, 12)
    assert format_id(parse_id("5-0")) == "5-0"


# ------------------------------------------------------------- real Redis
@pytest.fixture
def streams(redis_client, redis_url):
    tag = uuid.uuid4().hex[:8]
    config = StreamConfig(
        redis_url=redis_url,
        input=f"mg-test:{tag}:in",
        output=f"mg-test:{tag}:out",
        dead_letter=f"mg-test:{tag}:dead",
        group="mg-test",
        consumer="c1",
        batch=10,
        block_ms=100,
        claim_idle_ms=60_000,
        retention_ms=0,
        maxlen=5,
        trim_seconds=None,
    )
    yield config
    for key in (config.input, config.output, config.dead_letter):
        redis_client.delete(key)


def _event(i: int) -> dict:
    return {"inputs": json.dumps({"message": f"message number {i}"})}


def _ids(redis_client, stream) -> list[bytes]:
    return [entry_id for entry_id, _fields in redis_client.xrange(stream)]


@pytest.mark.redis
def test_pending_and_undelivered_events_are_never_trimmed(
    served_sms, streams, redis_client
):
    # given 30 events: 1-10 handled, 11-20 taken by a consumer that stalls
    # (pending), 21-30 handled; a second group has read only events 1-5
    ids = [redis_client.xadd(streams.input, _event(i)) for i in range(30)]
    consumer = StreamConsumer(streams)
    consumer.ensure_group()
    redis_client.xgroup_create(streams.input, "audit", id=ids[4])

    def handle(name: str, count: int) -> list:
        reply = redis_client.xreadgroup(
            streams.group, name, {streams.input: ">"}, count=count
        )
        return reply[0][1]

    consumer.process(handle("c1", 10))
    assert len(handle("stalled", 10)) == 10
    consumer.process(handle("c1", 10))
    assert PredictionLog.objects.filter(source="stream").count() == 20
    # when trimmed with a retention of an hour: no event goes, the 20 results
    # are capped at maxlen
    streams.retention_ms = 3_600_000
    consumer.trim()
    assert _ids(redis_client, streams.input) == ids
    assert redis_client.xlen(streams.output) == 5
    # when trimmed with no retention: only what every group is done with
    streams.retention_ms = 0
    consumer.trim()
    assert _ids(redis_client, streams.input) == ids[5:]
    redis_client.xgroup_destroy(streams.input, "audit")
    consumer.trim()
    assert _ids(redis_client, streams.input) == ids[10:]  # 11-20 still pending
    assert redis_client.xlen(streams.output) == 0  # results past the retention
    # then the stalled events are reclaimed, logged, and only then trimmed
    streams.claim_idle_ms = 0
    stats = consumer.run(idle_exit_seconds=0.3)
    assert stats.reclaimed == 10
    consumer.trim()
    assert redis_client.xlen(streams.input) == 0
    assert PredictionLog.objects.filter(source="stream").count() == 30
    assert (
        PredictionLog.objects.filter(source="stream")
        .values("request_id")
        .distinct()
        .count()
        == 30
    )


@pytest.mark.redis
def test_streams_stay_bounded_under_traffic(served_sms, streams, redis_client):
    # given a producer publishing 3,000 events, one in ten malformed, while
    # the consumer runs and trims after every read (no retention)
    streams.batch, streams.trim_seconds = 100, 0
    total, done = 3000, threading.Event()
    peaks = {"input": 0, "output": 0, "dead": 0}

    def produce():
        for start in range(0, total, 100):
            with redis_client.pipeline(transaction=False) as pipe:
                for i in range(start, start + 100):
                    pipe.xadd(
                        streams.input, {"inputs": "{bad"} if i % 10 == 0 else _event(i)
                    )
                pipe.execute()
            time.sleep(0.01)

    def watch():
        while not done.is_set():
            for name, stream in (
                ("input", streams.input),
                ("output", streams.output),
                ("dead", streams.dead_letter),
            ):
                peaks[name] = max(peaks[name], redis_client.xlen(stream))
            time.sleep(0.005)

    producer = threading.Thread(target=produce)
    watcher = threading.Thread(target=watch)
    producer.start()
    watcher.start()
    # when
    try:
        stats = StreamConsumer(streams).run(idle_exit_seconds=1.0)
    finally:
        producer.join(60)
        done.set()
        watcher.join(10)
    # then every event was handled exactly once ...
    assert (stats.predicted, stats.dead) == (2700, 300)
    assert PredictionLog.objects.filter(source="stream").count() == 2700
    assert not redis_client.xpending(streams.input, streams.group)["pending"]
    # ... and the streams stayed within their bounds: between two trims the
    # consumer adds at most one read's results or dead letters
    assert peaks["output"] <= streams.batch
    assert peaks["dead"] <= streams.batch
    assert peaks["input"] < total
    lengths = [redis_client.xlen(s) for s in (streams.input, streams.output)]
    assert lengths + [redis_client.xlen(streams.dead_letter)] == [0, 0, 0]
    assert stats.trimmed == total + 2700 + 300
    print(f"peak lengths under traffic: {peaks}")

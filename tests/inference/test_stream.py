"""The Redis Streams consumer: results, dead letters, redelivery, and the
acceptance run of 10,000 events with the consumer killed once."""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid

import pytest

from inference.models import PredictionLog, StoredResponse
from inference.services.stream import StreamConfig, StreamConsumer
from tests.inference import live

pytestmark = pytest.mark.redis


@pytest.fixture
def streams(redis_client, redis_url):
    """Unique stream names under mg-test: (removed after the test)."""
    tag = uuid.uuid4().hex[:8]
    config = StreamConfig(
        redis_url=redis_url,
        input=f"mg-test:{tag}:in",
        output=f"mg-test:{tag}:out",
        dead_letter=f"mg-test:{tag}:dead",
        group="mg-test",
        consumer="c1",
        batch=50,
        block_ms=200,
        claim_idle_ms=500,
    )
    yield config
    for key in (config.input, config.output, config.dead_letter):
        redis_client.delete(key)


def _results(redis_client, stream) -> list[dict]:
    return [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _id, fields in redis_client.xrange(stream)
    ]


def test_events_are_predicted_logged_published_and_acknowledged(
    served_sms, streams, redis_client
):
    # given good events, one with two rows, and malformed ones
    good = [
        redis_client.xadd(
            streams.input, {"inputs": json.dumps({"message": "hi there"})}
        ),
        redis_client.xadd(
            streams.input,
            {
                "inputs": json.dumps(
                    [{"message": "WINNER! claim your prize"}, {"message": "ok"}]
                )
            },
        ),
    ]
    redis_client.xadd(streams.input, {"inputs": "{not json"})
    redis_client.xadd(streams.input, {"model": "sms-spam"})
    redis_client.xadd(streams.input, {"inputs": json.dumps({"message": 5})})
    redis_client.xadd(
        streams.input,
        {"inputs": json.dumps({"message": "x"}), "model": "no-such-model"},
    )
    # when the consumer runs until the stream is idle
    stats = StreamConsumer(streams).run(idle_exit_seconds=0.5)
    # then
    results = _results(redis_client, streams.output)
    assert sorted(r["request_id"] for r in results) == sorted(g.decode() for g in good)
    bodies = {r["request_id"]: json.loads(r["result"]) for r in results}
    assert len(bodies[good[1].decode()]["predictions"]) == 2
    assert PredictionLog.objects.filter(source="stream").count() == 3
    dead = _results(redis_client, streams.dead_letter)
    reasons = sorted(d["reason"] for d in dead)
    assert len(dead) == 4 and stats.dead == 4
    assert any("not valid JSON" in r for r in reasons)
    assert any("missing field 'inputs'" in r for r in reasons)
    assert any("inputs[0].message" in r for r in reasons)
    assert any("model_not_found" in r for r in reasons)
    assert redis_client.xpending(streams.input, streams.group)["pending"] == 0


def test_a_redelivered_event_returns_the_stored_result(
    served_sms, streams, redis_client
):
    entry = redis_client.xadd(streams.input, {"inputs": json.dumps({"message": "hey"})})
    consumer = StreamConsumer(streams)
    consumer.ensure_group()
    # first delivery: predicted and stored, but (as if the consumer died before
    # publishing) we process it again from the raw entry
    fields = redis_client.xrange(streams.input)[0][1]
    consumer.process([(entry, fields)])
    consumer.process([(entry, fields)])
    assert PredictionLog.objects.count() == 1
    assert StoredResponse.objects.count() == 1
    results = _results(redis_client, streams.output)
    assert len(results) == 2  # published twice here because acked twice by hand
    assert json.loads(results[0]["result"]) == json.loads(results[1]["result"])
    assert consumer.stats.replayed == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_ten_thousand_events_with_the_consumer_killed_once(
    transactional_db, trained_models, streams, redis_client, tmp_path
):
    from tests.inference.conftest import confirm

    confirm("sms-spam", trained_models["sms-spam"].version)
    total = 10_000
    pipe = redis_client.pipeline(transaction=False)
    for i in range(total):
        pipe.xadd(streams.input, {"inputs": json.dumps({"message": f"event {i} hi"})})
    pipe.execute()

    def consumer(name: str) -> live.Process:
        env = live.process_env(tmp_path, REDIS_URL=streams.redis_url)
        return live.start(
            [
                sys.executable,
                "manage.py",
                "consume_stream",
                "--input",
                streams.input,
                "--output",
                streams.output,
                "--dead-letter",
                streams.dead_letter,
                "--group",
                streams.group,
                "--consumer",
                name,
                "--batch",
                "50",
                "--claim-idle-ms",
                "1000",
                "--exit-when-idle",
                "3",
            ],
            env,
            tmp_path / f"{name}.log",
        )

    # when the first consumer is killed mid-way
    first = consumer("first")
    deadline = time.monotonic() + 120
    while redis_client.xlen(streams.output) < total // 3:
        assert first.popen.poll() is None, first.output()
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.stop(signal.SIGKILL)
    killed_at = redis_client.xlen(streams.output)
    assert killed_at < total
    # and another consumer starts (and reclaims the killed one's pending events)
    second = consumer("second")
    try:
        second.popen.wait(180)
    finally:
        second.stop()
    # then every event has exactly one result and one log row
    results = _results(redis_client, streams.output)
    ids = [r["request_id"] for r in results]
    assert len(ids) == total and len(set(ids)) == total, second.output()
    assert PredictionLog.objects.count() == total
    assert PredictionLog.objects.values("request_id").distinct().count() == total
    assert redis_client.xpending(streams.input, streams.group)["pending"] == 0
    assert redis_client.xlen(streams.dead_letter) == 0
    print(
        f"killed after {killed_at} results; {second.output()[-300:]}", file=sys.stderr
    )

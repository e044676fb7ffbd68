"""Group commit of the prediction log across threads (real PostgreSQL commits)."""

import threading
import time

import pytest
from django.db import IntegrityError, connection

from inference import groupcommit
from inference.models import PredictionLog, StoredResponse

pytestmark = pytest.mark.postgres


def _log(i: int) -> PredictionLog:
    return PredictionLog(
        model_name="m",
        model_version=1,
        inputs={"i": i},
        prediction="x",
        latency_ms=1.0,
        request_id=str(i),
    )


def _stored(key: str) -> StoredResponse:
    return StoredResponse(
        scope="u1", request_id=key, model_name="m", model_version=1, response={}
    )


def _slow_insert(monkeypatch):
    real = groupcommit._insert

    def slow(group):
        time.sleep(0.02)  # a slow disk: commits overlap with new arrivals
        real(group)

    monkeypatch.setattr(groupcommit, "_insert", slow)


def test_concurrent_writers_share_transactions_and_lose_nothing(
    transactional_db, monkeypatch
):
    _slow_insert(monkeypatch)
    committer = groupcommit.GroupCommitter()
    errors = []

    def worker(base: int) -> None:
        try:
            for i in range(25):
                committer.write([_log(base + i)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PredictionLog.objects.count() == 200
    assert committer.items == 200 and committer.groups < 200


def test_a_conflict_fails_only_its_own_request(transactional_db, monkeypatch):
    _slow_insert(monkeypatch)
    committer = groupcommit.GroupCommitter()
    StoredResponse.objects.create(
        scope="u1", request_id="taken", model_name="m", model_version=1, response={}
    )
    outcomes = {}

    def worker(name: str, stored) -> None:
        try:
            committer.write([_log(len(name))], stored)
            outcomes[name] = "ok"
        except IntegrityError:
            outcomes[name] = "conflict"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=("first", _stored("a")))]
    threads += [
        threading.Thread(target=worker, args=(f"w{i}", _stored(f"k{i}")))
        for i in range(4)
    ]
    threads.append(threading.Thread(target=worker, args=("dup", _stored("taken"))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.pop("dup") == "conflict"
    assert set(outcomes.values()) == {"ok"}
    assert PredictionLog.objects.count() == 5
    assert StoredResponse.objects.count() == 6

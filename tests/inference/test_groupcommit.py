"""Group commit of the prediction log across threads (real PostgreSQL commits)."""

import threading
import time

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection

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


def _write_concurrently(committer, *, threads: int, each: int) -> list:
    """``threads`` threads write ``each`` requests of one row; their errors."""
    errors = []

    def worker(base: int) -> None:
        try:
            for i in range(each):
                committer.write([_log(base + i)])
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    started = [threading.Thread(target=worker, args=(n * 100,)) for n in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return errors


def test_concurrent_writers_share_transactions_and_lose_nothing(
    transactional_db, monkeypatch
):
    _slow_insert(monkeypatch)
    committer = groupcommit.GroupCommitter()
    assert _write_concurrently(committer, threads=8, each=25) == []
    assert PredictionLog.objects.count() == 200
    assert committer.items == 200 and committer.groups < 200


def test_without_group_commit_each_request_has_its_own_transaction(
    transactional_db, monkeypatch, settings
):
    settings.INFERENCE = {**settings.INFERENCE, "GROUP_COMMIT": False}
    _slow_insert(monkeypatch)
    committer = groupcommit.GroupCommitter()
    StoredResponse.objects.create(
        scope="u1", request_id="taken", model_name="m", model_version=1, response={}
    )
    assert _write_concurrently(committer, threads=4, each=10) == []
    assert PredictionLog.objects.count() == 40
    assert committer.items == 40 and committer.groups == 40
    taken = StoredResponse(
        scope="u1", request_id="taken", model_name="m", model_version=1, response={}
    )
    with pytest.raises(IntegrityError):
        committer.write([_log(999)], taken)
    assert not PredictionLog.objects.filter(request_id="999").exists()


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


# -------------------------------------- health check skipped when just used
def _request_boundary() -> None:
    """What Django does at the start and end of every request."""
    connection.close_if_unusable_or_obsolete()


def _counting_health_checks(monkeypatch) -> list:
    checks = []
    from django.db import connections

    wrapper = type(connections["default"])
    real = wrapper.is_usable

    def is_usable(self):
        checks.append(1)
        return real(self)

    monkeypatch.setattr(wrapper, "is_usable", is_usable)
    return checks


def test_a_connection_that_just_wrote_skips_the_next_health_check(
    transactional_db, monkeypatch
):
    # given health checks on and a connection that has just written a group
    connection.health_check_enabled = True
    checks = _counting_health_checks(monkeypatch)
    committer = groupcommit.GroupCommitter()
    committer.write([_log(1)])
    # when the next request writes within the window
    _request_boundary()
    committer.write([_log(2)])
    # then no SELECT 1 was spent
    assert checks == []
    # but after the window the check runs again
    monkeypatch.setattr(groupcommit, "ALIVE_WINDOW_SECONDS", 0.0)
    _request_boundary()
    committer.write([_log(3)])
    assert checks == [1]
    assert PredictionLog.objects.count() == 3


def test_a_connection_that_died_within_the_window_fails_loudly_then_recovers(
    transactional_db,
):
    # given a connection that has just written, then is killed by the server
    connection.health_check_enabled = True
    committer = groupcommit.GroupCommitter()
    committer.write([_log(1)])
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    _request_boundary()
    # when the next request writes within the window: an error, not a 2xx
    with pytest.raises(DatabaseError):
        committer.write([_log(2)])
    # then Django drops the dead connection at the end of that request, and
    # the next request writes on a new one
    _request_boundary()
    committer.write([_log(3)])
    assert sorted(PredictionLog.objects.values_list("request_id", flat=True)) == [
        "1",
        "3",
    ]

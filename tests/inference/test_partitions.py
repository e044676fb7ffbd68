"""The prediction log partitioned by day on PostgreSQL: the migration from the
plain table, partitions made ahead, retention by partition, and lookups and
window reads that read only the partitions they need (EXPLAIN)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.ids import uuid7, uuid7_time
from inference.models import Feedback, FeedbackHistory, PredictionLog
from inference.services.partitions import (
    DEFAULT_PARTITION,
    log_is_partitioned,
    log_partition_create,
    log_partitions,
    log_partitions_ensure,
    partition_name,
)

pytestmark = [pytest.mark.postgres]

BEFORE = [("inference", "0004_log_client_without_constraint")]
AFTER = [("inference", "0005_partitioned_log")]


def _log(at: datetime, *, client=None, model="m", pid=None, **extra) -> PredictionLog:
    return PredictionLog.objects.create(
        prediction_id=pid or uuid7(at=at),
        model_name=model,
        model_version=1,
        inputs={"x": 1},
        prediction="a",
        latency_ms=1.0,
        client=client,
        created_at=at,
        **extra,
    )


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _partitions_read(plan: str) -> set[str]:
    names = {p.name for p in log_partitions()} | {DEFAULT_PARTITION}
    return {name for name in names if name in plan}


def _log_queries(captured) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if 'FROM "inference_predictionlog"' in q["sql"]
        and q["sql"].lstrip().upper().startswith("SELECT")
    ]


@pytest.fixture
def days_back():
    """Partitions of the last five days (the migration made today's and the
    next days' ones)."""
    today = datetime.now(tz=UTC).date()
    for n in range(1, 6):
        log_partition_create(today - timedelta(days=n))
    return today


# --- the migration -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_moves_a_populated_log_with_every_row_id_and_feedback_link():
    # given a plain log (the schema before partitioning) with rows over ten
    # days, an old random-UUID id among them, and feedback with history
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert not log_is_partitioned()
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    Log = old.get_model("inference", "PredictionLog")
    Fb = old.get_model("inference", "Feedback")
    Hist = old.get_model("inference", "FeedbackHistory")
    now = timezone.now()
    rows = [
        Log(
            prediction_id=uuid.uuid4()
            if i == 0
            else uuid7(at=now - timedelta(hours=i * 4)),
            model_name="m",
            model_version=1,
            inputs={"x": i},
            prediction="a",
            latency_ms=1.0,
            request_id=f"r{i}",
            created_at=now - timedelta(hours=i * 4),
        )
        for i in range(60)
    ]
    Log.objects.bulk_create(rows)
    before = {
        r["id"]: r
        for r in Log.objects.values("id", "prediction_id", "created_at", "request_id")
    }
    labelled = list(Log.objects.order_by("id")[:10])
    for row in labelled:
        fb = Fb.objects.create(prediction_id=row.id, label="b")
        Hist.objects.create(feedback=fb, previous_label="a", new_label="b")

    # when it migrates
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    # then every row, id and feedback link is there, in a partitioned table
    assert log_is_partitioned()
    after = {
        r["id"]: r
        for r in PredictionLog.objects.values(
            "id", "prediction_id", "created_at", "request_id"
        )
    }
    assert after == before
    days = {p.day for p in log_partitions()}
    assert {r["created_at"].astimezone(UTC).date() for r in before.values()} <= days
    # later migrations add columns to the partitioned table (0007: served_as,
    # filled in every copied row)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    served_as = set(PredictionLog.objects.values_list("served_as", flat=True))
    assert served_as == {"promoted"}
    for row in labelled:
        log = PredictionLog.objects.get(id=row.id)
        assert log.feedback.label == "b"
        assert log.feedback.history.count() == 1
    # new rows get ids after the copied ones
    newer = _log(timezone.now())
    assert newer.id > max(before)
    # and the whole way back keeps them too
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert not log_is_partitioned()
    assert Log.objects.count() == len(before) + 1
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert log_is_partitioned()
    assert PredictionLog.objects.count() == len(before) + 1


# --- partitions ahead, the default partition ----------------------------------


@pytest.mark.django_db
def test_partitions_are_made_ahead_and_a_late_day_takes_its_rows_from_default():
    # given rows of a day that has no partition yet (they are in the default)
    far = datetime.now(tz=UTC).date() + timedelta(days=30)
    at = datetime.combine(far, datetime.min.time(), tzinfo=UTC) + timedelta(hours=5)
    stray = _log(at)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{DEFAULT_PARTITION}"')  # noqa: S608
        assert cursor.fetchone()[0] == 1

    # when the task makes partitions ahead, then that day's
    created = log_partitions_ensure(days_ahead=3)
    assert created == []  # the migration made today and the next days
    assert log_partition_create(far)

    # then the row moved to its day, nothing is left in the default
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{DEFAULT_PARTITION}"')  # noqa: S608
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SELECT id FROM "{partition_name(far)}"')  # noqa: S608
        assert [r[0] for r in cursor.fetchall()] == [stray.id]
    assert PredictionLog.objects.get(prediction_id=stray.prediction_id).id == stray.id
    more = log_partitions_ensure(days_ahead=5, now=timezone.now())
    assert len(more) == 2


# --- retention ---------------------------------------------------------------


@pytest.mark.django_db
def test_retention_drops_whole_days_with_their_feedback(days_back, tmp_path):
    from inference.services.retention import prediction_log_prune

    today = days_back
    noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    old = [_log(noon - timedelta(days=d)) for d in (5, 4, 4, 3)]
    recent = [_log(noon - timedelta(days=d)) for d in (1, 0)]
    ancient = _log(noon - timedelta(days=90))  # no partition: the default one
    fb = Feedback.objects.create(prediction=old[1], label="b")
    FeedbackHistory.objects.create(feedback=fb, previous_label="a", new_label="b")
    Feedback.objects.create(prediction=recent[0], label="a")

    removed = prediction_log_prune(older_than_days=2, archive_dir=tmp_path)

    assert removed == len(old) + 1
    assert set(PredictionLog.objects.values_list("id", flat=True)) == {
        r.id for r in recent
    }
    assert not PredictionLog.objects.filter(id=ancient.id).exists()
    assert list(Feedback.objects.values_list("prediction_id", flat=True)) == [
        recent[0].id
    ]
    assert not FeedbackHistory.objects.exists()
    days = {p.day for p in log_partitions()}
    for d in (5, 4, 3):
        assert today - timedelta(days=d) not in days
    assert today - timedelta(days=1) in days
    archived = sum(1 for _ in __import__("gzip").open(next(tmp_path.iterdir()), "rt"))
    assert archived == len(old) + 1


@pytest.mark.django_db
def test_retention_keeps_the_feedback_of_a_row_whose_id_falls_among_a_dropped_days(
    days_back,
):
    from inference.services.retention import prediction_log_prune

    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    first = _log(noon - timedelta(days=4))
    inside = _log(noon - timedelta(days=1))  # logged late: an id of day 4's range
    last = _log(noon - timedelta(days=4))
    assert first.id < inside.id < last.id
    for row in (first, inside, last):
        Feedback.objects.create(prediction=row, label="a")

    assert prediction_log_prune(older_than_days=2) == 2

    assert list(Feedback.objects.values_list("prediction_id", flat=True)) == [inside.id]


@pytest.mark.django_db
def test_retention_drops_a_day_left_detached_by_an_interrupted_retention(days_back):
    from inference.services.partitions import log_detached_days
    from inference.services.retention import prediction_log_prune

    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    kept = _log(noon - timedelta(days=1))
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for d in (4, 1):  # stopped between the detach and the drop
            name = partition_name((noon - timedelta(days=d)).date())
            cursor.execute(
                f"ALTER TABLE {quote(PredictionLog._meta.db_table)} "
                f"DETACH PARTITION {quote(name)}"
            )
    assert [p.day for p in log_detached_days()] == [
        (noon - timedelta(days=d)).date() for d in (4, 1)
    ]

    prediction_log_prune(older_than_days=2)

    # the old one is gone, the recent one (with its row) left to the operator
    assert [p.day for p in log_detached_days()] == [(noon - timedelta(days=1)).date()]
    with connection.cursor() as cursor:
        name = partition_name((noon - timedelta(days=1)).date())
        cursor.execute(f"SELECT id FROM {quote(name)}")  # noqa: S608
        assert [r[0] for r in cursor.fetchall()] == [kept.id]


@contextlib.contextmanager
def _log_held_by_a_long_read():
    """Another session reading the log in an open transaction (a drift
    report's sample): it holds a lock that conflicts with a detach. (The
    test commits its rows and partitions: a transaction-wrapped test would
    hold the partitions' creation locks and the read would wait for it.)"""
    conf = connection.settings_dict
    other = psycopg.connect(
        dbname=conf["NAME"],
        user=conf["USER"] or None,
        host=conf["HOST"] or None,
        port=conf["PORT"] or None,
        password=conf["PASSWORD"] or None,
    )
    try:
        other.execute("SELECT count(*) FROM inference_predictionlog")
        yield other
    finally:
        other.close()


@pytest.mark.django_db
def test_a_dropped_day_is_counted_and_its_feedback_deleted_in_paced_chunks(
    days_back, settings, caplog, monkeypatch
):
    from inference.services import partitions
    from inference.services.retention import prediction_log_prune

    settings.INFERENCE = {
        **settings.INFERENCE,
        "LOG_DROP_CHUNK_ROWS": 2,
        "LOG_DROP_PAUSE_MS": 7,
    }
    pauses = []
    monkeypatch.setattr(partitions.clock, "sleep", pauses.append)
    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    old = [_log(noon - timedelta(days=4)) for _ in range(5)]
    inside = _log(noon - timedelta(days=1))  # logged late: an id of day 4's range
    old.append(_log(noon - timedelta(days=4)))
    for row in (*old, inside):
        fb = Feedback.objects.create(prediction=row, label="b")
        FeedbackHistory.objects.create(feedback=fb, previous_label="a", new_label="b")

    with caplog.at_level("INFO", logger="inference.services.partitions"):
        assert prediction_log_prune(older_than_days=2) == 6

    # 6 rows in chunks of 2: three full chunks, a pause after each (an empty
    # read after the last one ends the loop)
    assert "(6 rows; " in caplog.text and "in 3 chunk(s)" in caplog.text
    assert pauses == [0.007] * 3
    assert list(Feedback.objects.values_list("prediction_id", flat=True)) == [inside.id]
    assert list(
        FeedbackHistory.objects.values_list("feedback__prediction_id", flat=True)
    ) == [inside.id]


@pytest.mark.django_db
def test_each_chunk_of_a_dropped_days_cleanup_is_one_statement(
    days_back, settings, monkeypatch
):
    """The paced cleanup's cost to the serving inserts grew with its round
    trips (docs/benchmark.md): a chunk's count and feedback deletion are one
    statement, whatever the chunk holds."""
    from inference.services import partitions
    from inference.services.partitions import Partition, partition_name

    settings.INFERENCE = {**settings.INFERENCE, "LOG_DROP_CHUNK_ROWS": 2}
    monkeypatch.setattr(partitions.clock, "sleep", lambda _seconds: None)
    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    day = (noon - timedelta(days=4)).date()
    rows = [_log(noon - timedelta(days=4)) for _ in range(5)]
    for row in rows[:3]:
        fb = Feedback.objects.create(prediction=row, label="b")
        FeedbackHistory.objects.create(feedback=fb, previous_label="a", new_label="b")
    part = Partition(partition_name(day), day)
    partitions._detach(part)

    with CaptureQueriesContext(connection) as captured:
        assert partitions._drop_detached(part) == (5, 3)

    chunks = [q["sql"] for q in captured.captured_queries if "WITH chunk" in q["sql"]]
    # 5 rows in chunks of 2: the third chunk holds one row and ends the loop;
    # besides them, only the planner settings, their reset and the drop
    assert len(chunks) == 3
    assert len(captured.captured_queries) == 3 + 3
    assert not Feedback.objects.exists() and not FeedbackHistory.objects.exists()
    assert part.name not in {p.name for p in partitions.log_detached_days()}


@pytest.mark.django_db
def test_a_failed_chunk_inside_a_transaction_raises_its_own_error(
    days_back, monkeypatch
):
    """The planner settings' reset must not hide why a chunk failed: in a
    transaction the failure aborted, the error raised is the chunk's."""
    from django.db import DataError, transaction

    from inference.services import partitions
    from inference.services.partitions import Partition, partition_name

    day = days_back - timedelta(days=4)
    part = Partition(partition_name(day), day)
    monkeypatch.setattr(partitions, "_chunk_statement", lambda _part: "SELECT 1/0")

    with pytest.raises(DataError, match="division by zero"), transaction.atomic():
        partitions._drop_detached(part)


@pytest.mark.django_db
def test_a_drop_stopped_between_chunks_is_finished_by_the_next_retention(
    days_back, settings, monkeypatch
):
    from inference.services import partitions
    from inference.services.partitions import log_detached_days
    from inference.services.retention import prediction_log_prune

    settings.INFERENCE = {**settings.INFERENCE, "LOG_DROP_CHUNK_ROWS": 2}
    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    day = (noon - timedelta(days=4)).date()
    old = [_log(noon - timedelta(days=4)) for _ in range(5)]
    for row in old:
        Feedback.objects.create(prediction=row, label="a")

    def stop(_seconds):
        raise KeyboardInterrupt  # the worker stopped after the first chunk

    monkeypatch.setattr(partitions.clock, "sleep", stop)
    with pytest.raises(KeyboardInterrupt):
        prediction_log_prune(older_than_days=2)
    assert [p.day for p in log_detached_days()] == [day]
    assert Feedback.objects.count() == 3  # the first chunk's two went

    monkeypatch.setattr(partitions.clock, "sleep", lambda _seconds: None)
    prediction_log_prune(older_than_days=2)
    assert log_detached_days() == []
    assert not Feedback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_retention_gives_up_on_a_busy_log_without_a_long_wait(days_back, settings):
    from inference.services.partitions import DetachTimeout
    from inference.services.retention import prediction_log_prune

    settings.INFERENCE = {
        **settings.INFERENCE,
        "LOG_DETACH_LOCK_TIMEOUT_MS": 50,
        "LOG_DETACH_ATTEMPTS": 2,
    }
    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    old = _log(noon - timedelta(days=4))
    Feedback.objects.create(prediction=old, label="a")

    with _log_held_by_a_long_read():
        started = time.monotonic()
        with pytest.raises(DetachTimeout, match="stayed locked through 2 attempts"):
            prediction_log_prune(older_than_days=2)
        waited = time.monotonic() - started

    # two bounded waits and a pause, not the read's whole length
    assert waited < 5
    day = (noon - timedelta(days=4)).date()
    assert day in {p.day for p in log_partitions()}
    assert PredictionLog.objects.filter(id=old.id).exists()
    assert Feedback.objects.filter(prediction_id=old.id).exists()


@pytest.mark.django_db(transaction=True)
def test_retention_detaches_once_the_busy_log_is_free(days_back, settings, caplog):
    from inference.services.retention import prediction_log_prune

    settings.INFERENCE = {
        **settings.INFERENCE,
        "LOG_DETACH_LOCK_TIMEOUT_MS": 50,
        "LOG_DETACH_ATTEMPTS": 20,
    }
    noon = datetime.combine(days_back, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )
    old = _log(noon - timedelta(days=4))
    Feedback.objects.create(prediction=old, label="a")

    with _log_held_by_a_long_read() as other:
        timer = threading.Timer(0.4, other.rollback)
        timer.start()
        try:
            with caplog.at_level("INFO", logger="inference.services.partitions"):
                assert prediction_log_prune(older_than_days=2) == 1
        finally:
            timer.join()

    assert "waits (attempt 1 of 20)" in caplog.text
    assert not PredictionLog.objects.filter(id=old.id).exists()
    assert not Feedback.objects.exists()
    assert (noon - timedelta(days=4)).date() not in {p.day for p in log_partitions()}


# --- pruning in reads (EXPLAIN) -----------------------------------------------


@pytest.mark.django_db
def test_feedback_lookup_by_id_reads_only_the_partition_of_the_id(days_back):
    from inference.services.feedback import feedback_record

    client = get_user_model().objects.create_user("c", password="x")
    at = datetime.combine(
        days_back - timedelta(days=3), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=12)
    row = _log(at, client=client)
    assert uuid7_time(row.prediction_id).date() == at.date()

    with CaptureQueriesContext(connection) as captured:
        feedback_record(prediction_id=str(row.prediction_id), label=1.0, client=client)

    assert Feedback.objects.get(prediction=row).label == 1.0
    queries = _log_queries(captured)
    assert queries
    for sql in queries:
        assert _partitions_read(_explain(sql)) == {partition_name(at.date())}


@pytest.mark.django_db
def test_detail_lookup_by_id_reads_only_the_partition_of_the_id(days_back):
    from inference.selectors import prediction_get, prediction_get_for_client

    client = get_user_model().objects.create_user("c", password="x")
    at = datetime.combine(
        days_back - timedelta(days=2), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=3)
    row = _log(at, client=client)
    with CaptureQueriesContext(connection) as captured:
        assert prediction_get_for_client(client=client, prediction_id=row.prediction_id)
        assert prediction_get(prediction_id=str(row.prediction_id))
    queries = _log_queries(captured)
    assert len(queries) == 2
    for sql in queries:
        # 03:00 +- the margin: the day of the id and the day before
        read = _partitions_read(_explain(sql))
        assert partition_name(at.date()) in read
        assert read <= {
            partition_name(at.date()),
            partition_name(at.date() - timedelta(days=1)),
        }


@pytest.mark.django_db
def test_an_old_random_id_is_still_found(days_back):
    from inference.selectors import prediction_get

    at = timezone.now() - timedelta(days=2)
    row = _log(at, pid=uuid.uuid4())
    assert prediction_get(prediction_id=str(row.prediction_id))["request_id"] == ""


@pytest.mark.django_db
def test_window_reads_touch_only_the_partitions_of_their_window(days_back):
    from inference.selectors import labelled_predictions, prediction_sample_frame

    day = days_back - timedelta(days=2)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for i in range(20):
        _log(start + timedelta(minutes=3 * i))
    with CaptureQueriesContext(connection) as captured:
        frame, total = prediction_sample_frame(
            model_name="m", start=start, end=start + timedelta(hours=1), max_rows=5
        )
        labelled_predictions(
            model_name="m", model_version=1, start=start, end=start + timedelta(hours=1)
        )
    assert total == 20
    assert len(frame) == 5
    queries = _log_queries(captured)
    assert len(queries) >= 3
    for sql in queries:
        assert _partitions_read(_explain(sql)) == {partition_name(day)}, sql

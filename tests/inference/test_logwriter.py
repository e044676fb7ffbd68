"""The prediction-log writer stores exactly what it is given, on every path
(one statement, several statements, PostgreSQL's COPY)."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.ids import uuid7
from inference import logwriter
from inference.logwriter import LogRow, prediction_logs_insert
from inference.models import PredictionLog


def make_rows(count: int, batch_id=None) -> list[LogRow]:
    now = timezone.now()
    return [
        LogRow(
            prediction_id=uuid7(),
            model_name="sms-spam",
            model_version=3,
            alias="production" if i % 2 else "",
            source="api",
            served_as=("promoted", "elevated", "override")[i % 3],
            inputs={"message": f'row {i}: Ünïcode 🙂 \\ " tab\t\nnew line', "n": i},
            prediction="spam" if i % 3 == 0 else "ham",
            probabilities=None if i == 1 else {"ham": 0.25, "spam": 0.75},
            outlier_score=None if i == 2 else i / 7,
            is_outlier=i % 5 == 0,
            latency_ms=1.5 + i,
            client_id=None,
            request_id=f"req-{i}",
            row_index=i,
            batch_id=batch_id,
            created_at=now,
        )
        for i in range(count)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, logwriter.COPY_FROM_ROWS - 1, 40])
def test_rows_read_back_exactly(count, monkeypatch):
    monkeypatch.setattr(logwriter, "MAX_ROWS_PER_STATEMENT", 16)  # several chunks
    batch = uuid.uuid4() if count > 1 else None
    rows = make_rows(count, batch)
    prediction_logs_insert(rows)
    stored = {log.prediction_id: log for log in PredictionLog.objects.all()}
    assert len(stored) == count
    for row in rows:
        log = stored[row.prediction_id]
        for name, value in row._asdict().items():
            if name == "client_id":
                assert log.client_id is None
                continue
            assert getattr(log, name) == value, name


@pytest.mark.django_db
def test_unsaved_model_instances_are_accepted():
    log = PredictionLog(
        model_name="m",
        model_version=1,
        inputs={"x": 1.0},
        prediction=1,
        latency_ms=0.1,
        request_id="r",
        row_index=0,
    )
    prediction_logs_insert([log])
    assert PredictionLog.objects.get().prediction_id == log.prediction_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [1, logwriter.COPY_FROM_ROWS])
def test_a_failed_insert_raises_djangos_error_and_writes_nothing(count):
    """The group committer tells failures apart by Django's exception classes,
    on the INSERT path and on COPY alike."""
    rows = make_rows(count)
    prediction_logs_insert(rows[:1])
    with pytest.raises(IntegrityError), transaction.atomic():
        prediction_logs_insert(rows)  # the first row's prediction_id again
    assert PredictionLog.objects.count() == 1
    prediction_logs_insert(make_rows(2))  # the connection is usable afterwards
    assert PredictionLog.objects.count() == 3


@pytest.mark.django_db
def test_postgresql_inserts_bind_values_on_the_server(monkeypatch):
    """No value is rendered into the SQL text (Django's ClientCursor does that
    in Python, at more than half the cost of a serving-path insert)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: other databases bind parameters natively")
    import psycopg

    seen = []
    original = psycopg.Cursor.execute

    def spy(self, query, params=None, **kwargs):
        seen.append((type(self), query))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    prediction_logs_insert(make_rows(2))
    inserts = [(kind, q) for kind, q in seen if "INSERT" in str(q)]
    assert inserts, seen
    for kind, query in inserts:
        assert not issubclass(kind, psycopg.ClientCursor)
        assert "%s" in query and "row 0" not in query
    assert PredictionLog.objects.count() == 2


@pytest.mark.django_db
def test_postgresql_copies_many_rows_in_binary_format(monkeypatch):
    """The binary COPY stores what the text paths store, numpy values and
    NaN (JSON null) included."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: other databases take multi-row INSERTs")
    import numpy as np
    import psycopg

    statements = []
    original = psycopg.Cursor.copy

    def spy(self, statement, *args, **kwargs):
        statements.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    rows = [
        row._replace(
            prediction=np.int64(i),
            probabilities={"a": np.float64(0.5), "b": float("nan")},
            inputs={"values": [1, 2.5, None], "flag": True},
            outlier_score=np.float32(0.25) if i % 2 else np.float64(-1.5),
        )
        for i, row in enumerate(make_rows(logwriter.COPY_FROM_ROWS))
    ]
    prediction_logs_insert(rows)
    assert len(statements) == 1 and "FORMAT BINARY" in statements[0]
    stored = {log.prediction_id: log for log in PredictionLog.objects.all()}
    for i, row in enumerate(rows):
        log = stored[row.prediction_id]
        assert log.prediction == i
        assert log.probabilities == {"a": 0.5, "b": None}
        assert log.inputs == {"values": [1, 2.5, None], "flag": True}
        assert log.outlier_score == (0.25 if i % 2 else -1.5)
        assert (log.created_at, log.request_id) == (row.created_at, row.request_id)


def test_log_row_fields_follow_the_table_columns():
    columns = [
        f.attname for f in PredictionLog._meta.concrete_fields if not f.primary_key
    ]
    assert list(LogRow._fields) == columns


@pytest.mark.django_db
def test_deleting_a_client_keeps_its_predictions_without_a_client(django_user_model):
    client = django_user_model.objects.create_user("gone-client")
    rows = [row._replace(client_id=client.pk) for row in make_rows(3)]
    prediction_logs_insert(rows)
    assert PredictionLog.objects.filter(client=client).count() == 3
    client.delete()  # SET_NULL is Django's: the column has no database constraint
    assert PredictionLog.objects.count() == 3
    assert not PredictionLog.objects.filter(client__isnull=False).exists()

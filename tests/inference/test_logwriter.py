"""The prediction-log writer stores exactly what it is given, on every path
(one statement, several statements, PostgreSQL's COPY)."""

from __future__ import annotations

import uuid

import pytest
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


def test_log_row_fields_follow_the_table_columns():
    columns = [
        f.attname for f in PredictionLog._meta.concrete_fields if not f.primary_key
    ]
    assert list(LogRow._fields) == columns

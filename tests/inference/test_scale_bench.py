"""bench/scale.py's rows: the history it generates in SQL is the same rows
as those its Python builder writes through the serving path's COPY, so the
two halves of a loaded log look alike to every read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core.ids import uuid7_time
from inference.logrows import LOG_COLUMNS
from inference.logwriter import prediction_logs_insert
from inference.models import PredictionLog
from tests.bench import bench_module

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _rows(request_prefix: str) -> list[dict]:
    fields = [c for c in LOG_COLUMNS if c != "prediction_id"]
    return list(
        PredictionLog.objects.filter(request_id__startswith=request_prefix)
        .order_by("request_id")
        .values("prediction_id", *fields)
    )


def test_the_generated_history_is_the_rows_the_builder_makes():
    bench = bench_module("scale")
    texts = bench._messages()
    start = datetime(2026, 11, 3, tzinfo=UTC)
    step = timedelta(days=1) / 1_250_000
    n = 200  # every model, class, category and modulus of the builder
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_texts (k int PRIMARY KEY, message text)"
        )
        with cursor.cursor.copy("COPY bench_texts (k, message) FROM STDIN") as copy:
            for k, text in enumerate(texts):
                copy.write_row((k, text))
        cursor.execute(
            bench.GENERATE,
            {
                "lo": 0,
                "hi": n,
                "start": start,
                "step_us": step / timedelta(microseconds=1),
                "ntexts": len(texts),
            },
        )
    generated = _rows("req-")
    PredictionLog.objects.all().delete()
    prediction_logs_insert([bench._row(i, start + step * i, texts) for i in range(n)])
    built = _rows("req-")

    assert len(generated) == len(built) == n
    for sql, py in zip(generated, built, strict=True):
        sql_id, py_id = sql.pop("prediction_id"), py.pop("prediction_id")
        assert sql_id.version == py_id.version == 7
        # the id's time is the row's time, to the millisecond
        assert abs(uuid7_time(sql_id) - sql["created_at"]) < timedelta(milliseconds=1)
        assert abs(sql.pop("created_at") - py.pop("created_at")) < timedelta(
            microseconds=2
        )
        assert sql["outlier_score"] == pytest.approx(py.pop("outlier_score"))
        assert sql.pop("latency_ms") == pytest.approx(py.pop("latency_ms"))
        sql.pop("outlier_score")
        assert sql == py

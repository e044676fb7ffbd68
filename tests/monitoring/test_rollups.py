"""Rollups: incremental, exact counts and latency buckets, errors guarded,
and dashboards that never read the raw log."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inference.models import PredictionLog, RequestError
from monitoring.calculations import latency
from monitoring.models import RollupWatermark, TrafficRollup
from monitoring.selectors import chart_buckets, traffic_series, traffic_totals
from monitoring.services import rollups

pytestmark = pytest.mark.django_db


def _rows(n: int, *, start, minutes: int, model="m", version=1, labels=("a", "b")):
    objs = [
        PredictionLog(
            model_name=model,
            model_version=version,
            inputs={"x": i},
            prediction=labels[i % len(labels)],
            latency_ms=float(1 + (i % 50)),
            is_outlier=i % 10 == 0,
            created_at=start + timedelta(seconds=60 * minutes * i / n),
        )
        for i in range(n)
    ]
    return PredictionLog.objects.bulk_create(objs)


def test_rollups_count_every_row_once_across_runs():
    start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    _rows(600, start=start, minutes=120)
    assert rollups.rollups_update_predictions() == 600
    # a second run finds nothing new; new rows are added incrementally
    assert rollups.rollups_update_predictions() == 0
    _rows(100, start=start + timedelta(minutes=30), minutes=10, version=2)
    assert rollups.rollups_update_predictions() == 100

    minute = TrafficRollup.objects.filter(granularity="minute")
    hour = TrafficRollup.objects.filter(granularity="hour")
    assert sum(r.requests for r in minute) == 700
    assert sum(r.requests for r in hour) == 700
    assert sum(r.outliers for r in hour) == 60 + 10
    assert sum(sum(r.predictions.values()) for r in hour) == 700
    assert {r.model_version for r in hour} == {1, 2}
    for r in minute:
        assert sum(r.latency_buckets) == r.requests
    mark = RollupWatermark.objects.get(name=rollups.LOG_MARK)
    assert mark.last_id == PredictionLog.objects.order_by("-id").first().id


def test_rows_younger_than_the_lag_wait_for_the_next_run(settings):
    settings.MONITORING = {**settings.MONITORING, "ROLLUP_LAG_SECONDS": 60}
    _rows(10, start=timezone.now() - timedelta(seconds=5), minutes=0)
    assert rollups.rollups_update_predictions() == 0
    later = timezone.now() + timedelta(minutes=5)
    assert rollups.rollups_update_predictions(now=later) == 10


def test_chunks_resume_where_they_stopped(settings):
    settings.MONITORING = {**settings.MONITORING, "ROLLUP_CHUNK_ROWS": 7}
    _rows(50, start=timezone.now() - timedelta(hours=1), minutes=30)
    assert rollups.rollups_update_predictions() == 50
    assert (
        sum(
            TrafficRollup.objects.filter(granularity="hour").values_list(
                "requests", flat=True
            )
        )
        == 50
    )


def test_a_gap_in_the_ids_is_skipped_in_one_step(settings, caplog):
    # given rows after a watermark of 0 (the ids start far above it) and one
    # row a million ids further (ids lost to rollbacks or removed by retention)
    settings.MONITORING = {**settings.MONITORING, "ROLLUP_CHUNK_ROWS": 10}
    start = timezone.now() - timedelta(hours=1)
    rows = _rows(20, start=start, minutes=30)
    far = PredictionLog.objects.create(
        id=rows[-1].id + 1_000_000,
        model_name="m",
        model_version=1,
        inputs={"x": 0},
        prediction="a",
        latency_ms=1.0,
        created_at=start + timedelta(minutes=31),
    )
    # when the rollups run
    with caplog.at_level(logging.INFO, logger="monitoring.services.rollups"):
        assert rollups.rollups_update_predictions() == 21
    # then each chunk starts at a row: two chunks of 10, one for the far row
    chunks = [r for r in caplog.records if r.getMessage().startswith("rollups:")]
    assert len(chunks) == 3, [r.getMessage() for r in chunks]
    assert RollupWatermark.objects.get(name=rollups.LOG_MARK).last_id == far.id


def test_series_percentiles_and_totals():
    start = (timezone.now() - timedelta(minutes=40)).replace(second=0, microsecond=0)
    _rows(200, start=start, minutes=20)
    rollups.rollups_update_predictions()
    series = traffic_series(model_name="m", buckets=chart_buckets(span="6h"))
    assert len(series["time"]) == 360  # every minute of the span, with or without rows
    assert sum(series["requests"]) == 200
    rates = [rate for rate in series["outlier_rate"] if rate is not None]
    assert len(rates) == 20  # the 20 minutes with traffic; empty minutes have no rate
    assert all(rate == pytest.approx(0.1, abs=0.11) for rate in rates)
    p95 = latency.percentile(
        latency.merge(
            TrafficRollup.objects.filter(granularity="minute").values_list(
                "latency_buckets", flat=True
            )
        ),
        0.95,
    )
    assert 25 <= p95 <= 50  # latencies are uniform over 1..50 ms
    totals = traffic_totals(model_name="m", start=start, end=timezone.now())
    assert totals["requests"] == 200 and totals["errors"] == 0


def test_refused_requests_are_folded_into_the_rollups_once():
    # given refused requests of two versions (and one before a version was known)
    now = timezone.now()
    minute = (now - timedelta(minutes=10)).replace(second=0, microsecond=0)
    for version, status, n in ((1, 400, 1), (1, 503, 1), (2, 400, 1), (None, 404, 1)):
        for _ in range(n):
            RequestError.objects.create(
                model_name="m",
                model_version=version,
                status_code=status,
                code="invalid_input" if status < 500 else "unavailable",
                created_at=minute + timedelta(seconds=5),
            )
    # when the rollup task runs (twice)
    total = rollups.rollups_update_errors(now=now)
    again = rollups.rollups_update_errors(now=now)
    # then every error counts once, on its version (0: unknown) and minute
    assert (total, again) == (4, 0)
    minute_rows = dict(
        TrafficRollup.objects.filter(model_name="m", granularity="minute").values_list(
            "model_version", "errors"
        )
    )
    assert minute_rows == {1: 2, 2: 1, 0: 1}
    # and the server failures (5xx) are counted apart, on minutes and hours
    for gran in ("minute", "hour"):
        server_rows = dict(
            TrafficRollup.objects.filter(model_name="m", granularity=gran).values_list(
                "model_version", "server_errors"
            )
        )
        assert server_rows == {1: 1, 2: 0, 0: 0}
    totals = traffic_totals(model_name="m", start=now - timedelta(hours=2), end=now)
    assert (totals["errors"], totals["server_errors"]) == (4, 1)


def test_dashboard_reads_rollups_not_the_log(client, make_user):
    start = (timezone.now() - timedelta(hours=2)).replace(second=0, microsecond=0)
    _rows(300, start=start, minutes=100, model="breast-cancer")
    rollups.rollups_update_predictions()
    client.force_login(make_user("viewer", roles=["viewers"]))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            reverse("monitoring:model-dashboard", kwargs={"name": "breast-cancer"})
        )
    assert response.status_code == 200
    assert not [q for q in queries if "inference_predictionlog" in q["sql"]]
    assert b"chart-latency" in response.content
    assert len(queries) < 30


def test_prune_drops_old_minute_rollups_only(settings):
    old = timezone.now() - timedelta(days=10)
    _rows(20, start=old, minutes=5)
    rollups.rollups_update_predictions()
    assert rollups.rollups_prune() > 0
    assert not TrafficRollup.objects.filter(granularity="minute").exists()
    assert TrafficRollup.objects.filter(granularity="hour").exists()

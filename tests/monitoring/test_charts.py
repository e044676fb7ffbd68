"""The dashboards' time grid and drift scale (pure functions, no database),
and the series a fresh install gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pandas as pd
import pytest
from django.utils import timezone

from monitoring.calculations.charts import drift_ratio, span_buckets, span_hours
from monitoring.selectors import chart_buckets, drift_history, traffic_series
from monitoring.services.rollups import rollups_update_predictions
from tests.monitoring.factories import log_rows, make_monitor

NOW = datetime(2026, 12, 4, 14, 37, 12, tzinfo=UTC)


def test_a_day_is_24_aligned_hours_ending_with_the_current_one():
    buckets = span_buckets(now=NOW, hours=24, settled_until=NOW)
    assert buckets.granularity == "hour"
    assert len(buckets.starts) == 24
    assert buckets.starts[-1] == datetime(2026, 12, 4, 14, tzinfo=UTC)
    assert buckets.start == datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert buckets.end == datetime(2026, 12, 4, 15, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(buckets.starts))


def test_six_hours_are_drawn_per_minute_and_longer_spans_per_hour():
    assert len(span_buckets(now=NOW, hours=6, settled_until=NOW).starts) == 360
    assert span_buckets(now=NOW, hours=6, settled_until=NOW).granularity == "minute"
    assert len(span_buckets(now=NOW, hours=24 * 30, settled_until=NOW).starts) == 720
    assert span_hours("7d") == ("7d", 168)
    assert span_hours("forever") == ("24h", 24)  # unknown span: the default


def test_the_current_bucket_is_marked_filling():
    buckets = span_buckets(now=NOW, hours=24, settled_until=NOW - timedelta(seconds=60))
    assert buckets.partial_from == 23  # only the current hour
    # a minute after the hour, the rollups may not have folded the last hour
    # in yet: that one is still filling too
    just_after = datetime(2026, 12, 4, 15, 0, 20, tzinfo=UTC)
    buckets = span_buckets(
        now=just_after, hours=24, settled_until=just_after - timedelta(seconds=60)
    )
    assert buckets.partial_from == 22
    assert buckets.starts[22] == datetime(2026, 12, 4, 14, tzinfo=UTC)


def test_fresh_install_one_prediction_is_one_bucket_of_a_full_axis():
    # given one prediction three minutes ago (the rollups 30 s behind)
    buckets = span_buckets(now=NOW, hours=24, settled_until=NOW - timedelta(seconds=60))
    moment = NOW - timedelta(minutes=3)
    # then it falls in the current bucket, and the axis still spans the day
    assert buckets.index(moment) == 23
    assert buckets.index(NOW - timedelta(hours=25)) is None
    assert (buckets.end - buckets.start) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("method", "score", "threshold", "ratio"),
    [
        ("wasserstein", 0.05, 0.1, 0.5),
        ("wasserstein", 0.3, 0.1, 3.0),
        ("jensenshannon", 0.1, 0.1, 1.0),
        # a classifier's AUC counts from chance (0.5): 0.5 is no drift at all,
        # not 91 % of the way to a 0.55 threshold
        ("abs_text_content_drift", 0.5, 0.55, 0.0),
        ("abs_text_content_drift", 0.6, 0.55, 2.0),
        ("abs_text_content_drift", 0.45, 0.55, 0.0),
        # p-values: the threshold is 1, smaller p-values are above it
        ("ks", 0.05, 0.05, 1.0),
        ("ks", 0.0025, 0.05, 2.0),
        ("chisquare", 1.0, 0.05, 0.0),
    ],
)
def test_drift_ratio_puts_every_method_on_one_scale(method, score, threshold, ratio):
    assert drift_ratio(method, score, threshold) == pytest.approx(ratio)


def test_drift_ratio_of_a_missing_score_is_missing():
    assert drift_ratio("wasserstein", None, 0.1) is None
    assert drift_ratio("no-such-method", 0.2, 0.1) is None


@pytest.mark.django_db
def test_fresh_install_series_has_the_whole_grid_and_one_filling_bucket():
    # given a handful of predictions in the current hour
    now = timezone.now()
    frame = pd.DataFrame({"message": ["hello", "hi", "hey"], "prediction": "ham"})
    log_rows(
        frame,
        model_name="sms-spam",
        version=1,
        # within the current hour, whatever the clock says
        start=now.replace(minute=0, second=0, microsecond=0),
        end=now + timedelta(seconds=1),
        latency_ms=5.0,
    )
    rollups_update_predictions(now=now + timedelta(minutes=1))
    # when the day's series is read
    series = traffic_series(model_name="sms-spam", buckets=chart_buckets(span="24h"))
    # then every hour of the day is on the axis, the traffic in the current one,
    # which is marked as still filling
    assert len(series["time"]) == 24
    assert series["requests"][-1] == 3 and sum(series["requests"]) == 3
    assert series["partial_from"] == 23 or series["partial_from"] == 22
    assert series["p50"][:-2] == [None] * 22  # no latency where there was no traffic
    assert series["range"][0] == series["time"][0]


@pytest.mark.django_db
def test_drift_history_scales_columns_and_keeps_the_raw_score():
    monitor = make_monitor("sms-spam")
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    monitor.reports.create(
        model_name="sms-spam",
        window_start=end - timedelta(hours=1),
        window_end=end,
        status="succeeded",
        summary={
            "feature_drift": {"limit": 0.5},
            "columns": [
                {"column": "message", "group": "feature", "method":
                 "abs_text_content_drift", "threshold": 0.55, "score": 0.5},
                {"column": "message.length", "group": "descriptor", "method":
                 "wasserstein", "threshold": 0.1, "score": 0.25},
                {"column": "label", "group": "label", "method": "jensenshannon",
                 "threshold": 0.1, "score": 0.9},
            ],
        },
    )  # fmt: skip
    history = drift_history(model_name="sms-spam", start=end - timedelta(hours=24))
    assert history["columns"] == {"message.length": [2.5], "message": [0.0]}
    assert history["scores"]["message"] == [
        "0.5 (abs_text_content_drift, drift from 0.55)"
    ]
    assert history["limit"] == 0.5
    # reports before the span are left out
    assert drift_history(model_name="sms-spam", start=end)["time"] == []

"""Incremental per-minute and per-hour rollups of the prediction log and of
refused requests, so dashboards read a few hundred rows whatever the log size.

Predictions are consumed by id, in chunks of ``ROLLUP_CHUNK_ROWS`` ids that
start at the next existing id (a gap in the ids is skipped at once), up to the
newest row older than ``ROLLUP_LAG_SECONDS`` (ids are assigned at insert,
commits may land out of order; the lag covers transactions shorter than it).
Errors are consumed by time, whole minutes at a time. The watermark row is
locked for the run, so two runs never count a row twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.calculations import latency
from monitoring.choices import Granularity
from monitoring.models import RollupWatermark, TrafficRollup

logger = logging.getLogger(__name__)

LOG_MARK = "prediction_log"
ERROR_MARK = "request_errors"


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _merge(rows: dict[tuple, dict]) -> int:
    """Add ``rows`` (keyed by model, version, granularity, bucket) to the table."""
    if not rows:
        return 0
    keys = list(rows)
    existing = {}
    for model_name in {k[0] for k in keys}:
        buckets = [k[3] for k in keys if k[0] == model_name]
        for r in TrafficRollup.objects.filter(
            model_name=model_name,
            bucket_start__gte=min(buckets),
            bucket_start__lte=max(buckets),
        ):
            existing[(r.model_name, r.model_version, r.granularity, r.bucket_start)] = r
    create, update = [], []
    for key, delta in rows.items():
        row = existing.get(key)
        if row is None:
            row = TrafficRollup(
                model_name=key[0],
                model_version=key[1],
                granularity=key[2],
                bucket_start=key[3],
                latency_buckets=latency.empty_histogram(),
                predictions={},
            )
            create.append(row)
        else:
            update.append(row)
        row.requests += delta.get("requests", 0)
        row.latency_sum_ms += delta.get("latency_sum", 0.0)
        row.outliers += delta.get("outliers", 0)
        row.errors += delta.get("errors", 0)
        row.server_errors += delta.get("server_errors", 0)
        row.prediction_sum += delta.get("prediction_sum", 0.0)
        if "latency_buckets" in delta:
            row.latency_buckets = latency.merge(
                [
                    row.latency_buckets or latency.empty_histogram(),
                    delta["latency_buckets"],
                ]
            )
        for label, n in delta.get("predictions", {}).items():
            row.predictions[label] = row.predictions.get(label, 0) + n
    TrafficRollup.objects.bulk_create(create, batch_size=1000)
    TrafficRollup.objects.bulk_update(
        update,
        [
            "requests",
            "latency_sum_ms",
            "latency_buckets",
            "outliers",
            "errors",
            "server_errors",
            "predictions",
            "prediction_sum",
        ],
        batch_size=1000,
    )
    return len(rows)


def _label(value) -> tuple[str | None, float]:
    """A prediction as a label (classification) or a number (regression)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value, 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value), 0.0
    return None, float(value)


def _prediction_deltas(traffic: list[dict], labels: list[dict]) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = {}
    n_bounds = len(latency.BUCKETS_MS)

    def slot(model, version, gran, bucket):
        return rows.setdefault(
            (model, version, gran, bucket),
            {
                "requests": 0,
                "latency_sum": 0.0,
                "outliers": 0,
                "latency_buckets": latency.empty_histogram(),
                "predictions": {},
                "prediction_sum": 0.0,
            },
        )

    for t in traffic:
        cumulative = [t[f"le_{i}"] for i in range(n_bounds)]
        histogram = [cumulative[0]] + [
            cumulative[i] - cumulative[i - 1] for i in range(1, n_bounds)
        ]
        histogram.append(t["rows"] - cumulative[-1])
        for gran, bucket in (
            (Granularity.MINUTE, t["minute"]),
            (Granularity.HOUR, _hour(t["minute"])),
        ):
            s = slot(t["model_name"], t["model_version"], gran, bucket)
            s["requests"] += t["rows"]
            s["latency_sum"] += t["latency_sum"] or 0.0
            s["outliers"] += t["outliers"]
            s["latency_buckets"] = latency.merge([s["latency_buckets"], histogram])
    for row in labels:
        label, number = _label(row["prediction"])
        for gran, bucket in (
            (Granularity.MINUTE, row["minute"]),
            (Granularity.HOUR, _hour(row["minute"])),
        ):
            s = slot(row["model_name"], row["model_version"], gran, bucket)
            if label is None:
                s["prediction_sum"] += number * row["n"]
            else:
                s["predictions"][label] = s["predictions"].get(label, 0) + row["n"]
    return rows


def commit_horizon(*, now: datetime) -> datetime:
    """The time before which rows are taken as committed: ``now`` less the
    rollup lag (also the allowance for clock differences between hosts)."""
    return now - timedelta(seconds=settings.MONITORING["ROLLUP_LAG_SECONDS"])


def rollups_update_predictions(*, now: datetime | None = None) -> int:
    """Consume new log rows into the rollups; returns the rows consumed."""
    from inference import selectors as inference_selectors

    now = now or timezone.now()
    conf = settings.MONITORING
    horizon = commit_horizon(now=now)
    consumed = 0
    while True:
        with transaction.atomic():
            mark, _ = RollupWatermark.objects.get_or_create(name=LOG_MARK)
            mark = RollupWatermark.objects.select_for_update().get(pk=mark.pk)
            newest = inference_selectors.prediction_log_max_id(before=horizon)
            if newest <= mark.last_id:
                return consumed
            # a chunk starts at the next existing id: a gap in the ids costs
            # one query, not one transaction per chunk of empty ids
            first = inference_selectors.prediction_log_next_id(after=mark.last_id)
            up_to = min(newest, first - 1 + conf["ROLLUP_CHUNK_ROWS"])
            traffic, labels = inference_selectors.prediction_minute_aggregates(
                after_id=mark.last_id,
                up_to_id=up_to,
                latency_bounds_ms=latency.BUCKETS_MS,
            )
            _merge(_prediction_deltas(traffic, labels))
            rows = sum(t["rows"] for t in traffic)
            RollupWatermark.objects.filter(pk=mark.pk).update(last_id=up_to)
        consumed += rows
        logger.info("rollups: consumed log ids up to %s (%d rows)", up_to, rows)


def rollups_update_errors(*, now: datetime | None = None) -> int:
    """Consume refused/failed request counts, whole minutes, per model."""
    from inference.selectors import request_error_minute_counts

    now = now or timezone.now()
    end = commit_horizon(now=now).replace(second=0, microsecond=0)
    with transaction.atomic():
        mark, _ = RollupWatermark.objects.get_or_create(name=ERROR_MARK)
        mark = RollupWatermark.objects.select_for_update().get(pk=mark.pk)
        start = mark.last_time or end - timedelta(hours=1)
        start = max(start, end - timedelta(days=1))
        total = 0
        rows: dict[tuple, dict] = {}
        for name, version, minute, n, server in request_error_minute_counts(
            start=start, end=end
        ):
            total += n
            for gran, bucket in (
                (Granularity.MINUTE, minute),
                (Granularity.HOUR, _hour(minute)),
            ):
                slot = rows.setdefault((name, version, gran, bucket), {})
                slot["errors"] = slot.get("errors", 0) + n
                slot["server_errors"] = slot.get("server_errors", 0) + server
        _merge(rows)
        RollupWatermark.objects.filter(pk=mark.pk).update(last_time=end)
    return total


def rollups_prune(*, now: datetime | None = None) -> int:
    """Drop minute rollups older than the retention (hour rollups stay)."""
    now = now or timezone.now()
    hours = settings.MONITORING["MINUTE_ROLLUP_RETENTION_HOURS"]
    deleted, _ = TrafficRollup.objects.filter(
        granularity=Granularity.MINUTE, bucket_start__lt=now - timedelta(hours=hours)
    ).delete()
    return deleted

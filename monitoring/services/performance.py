"""Concept drift over time: performance per prediction window, recomputed
when labels arrive late."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.db import oldest_open_transaction_start
from inference import selectors as inference_selectors
from monitoring.calculations.performance import performance_summary
from monitoring.calculations.windows import window_floor
from monitoring.models import Monitor, PerformanceWindow, RollupWatermark
from monitoring.services.monitors import monitor_target
from monitoring.services.rollups import commit_horizon

logger = logging.getLogger(__name__)


def performance_window_refresh(
    *, monitor: Monitor, version: int, start: datetime, end: datetime
) -> PerformanceWindow:
    """Recompute one window's performance from its labelled predictions."""
    target = monitor_target(monitor=monitor, version=version)
    predictions, pairs = inference_selectors.labelled_predictions(
        model_name=monitor.model_name, model_version=version, start=start, end=end
    )
    summary = performance_summary(
        task=target.task,
        labelled_true=[label for _pred, label in pairs],
        labelled_pred=[pred for pred, _label in pairs],
        predictions=predictions,
        reference_metrics=target.metrics,
        classes=target.classes,
        positive=target.positive_class,
        min_coverage=monitor.min_label_coverage,
        min_labels=monitor.min_labels,
        margin=monitor.performance_margin,
    )
    window, _ = PerformanceWindow.objects.update_or_create(
        monitor=monitor,
        model_version=version,
        window_start=start,
        defaults={
            "window_end": end,
            "predictions": predictions,
            "labelled": summary["labelled"],
            "coverage": summary["coverage"],
            "provisional": summary["provisional"],
            "degraded": summary["degraded"],
            "metrics": summary["metrics"],
            "computed_at": timezone.now(),
        },
    )
    return window


def performance_late_labels_refresh(*, now: datetime | None = None) -> int:
    """Recompute the windows (within the look-back) whose labels changed since
    the last run, per monitor. Returns the number of windows recomputed.

    Labels are found by the time they were written, which is not the order in
    which they commit: a bulk feedback call stamps its rows at its start and
    commits later. So every run reads changes up to ``now`` (labels show at
    once) but moves the watermark only to the commit horizon, held before the
    start of any transaction still open; what lies after it is read again by
    the next run, and a label committed late is never passed over.
    """
    now = now or timezone.now()
    lookback = now - timedelta(days=settings.MONITORING["PERFORMANCE_LOOKBACK_DAYS"])
    open_since = oldest_open_transaction_start()
    horizon = commit_horizon(now=min(now, open_since) if open_since else now)
    done = 0
    for monitor in Monitor.objects.filter(enabled=True):
        mark, _ = RollupWatermark.objects.get_or_create(name=f"labels:{monitor.pk}")
        changed = inference_selectors.feedback_changed_since(
            model_name=monitor.model_name, since=mark.last_time, until=now
        )
        windows = {
            (version, window_floor(created, monitor.window_minutes))
            for version, created in changed
            if created >= lookback
        }
        for version, start in sorted(windows):
            end = start + timedelta(minutes=monitor.window_minutes)
            try:
                performance_window_refresh(
                    monitor=monitor, version=version, start=start, end=end
                )
            except Exception:
                logger.exception(
                    "performance of %s v%s at %s could not be recomputed",
                    monitor,
                    version,
                    start,
                )
                raise
            done += 1
        if mark.last_time is None or horizon > mark.last_time:
            RollupWatermark.objects.filter(pk=mark.pk).update(last_time=horizon)
    if done:
        logger.info("late labels: recomputed %d performance windows", done)
    return done

"""Loading a report's data and running the computation (Evidently's HTML of
the result: ``monitoring.services.html_report``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from inference import selectors as inference_selectors
from monitoring.calculations.methods import TEXT
from monitoring.calculations.report import ReportConfig, report_compute
from monitoring.calculations.status import model_status
from monitoring.models import Monitor, Report
from monitoring.services.monitors import (
    Target,
    feature_kinds,
    monitor_target,
    reference_sample_load,
    reference_vocabulary,
)
from monitoring.services.reference import reference_statistics_get

logger = logging.getLogger(__name__)

Progress = Callable[[int, str], None]


def report_config(
    *, monitor: Monitor, target: Target, reference: pd.DataFrame
) -> ReportConfig:
    kinds = feature_kinds(target=target, reference=reference)
    return ReportConfig(
        feature_kinds=kinds,
        methods=monitor.methods(),
        overrides=monitor.column_overrides or {},
        drift_share_limit=monitor.drift_share,
        min_rows=monitor.min_rows,
        text_sample_rows=monitor.text_sample_rows,
        task=target.task,
        classes=target.classes,
        positive_class=target.positive_class,
        reference_metrics=target.metrics,
        min_label_coverage=monitor.min_label_coverage,
        min_labels=monitor.min_labels,
        performance_margin=monitor.performance_margin,
        max_text_length=monitor.max_text_length,
        vocabulary=(
            reference_vocabulary(target=target)
            if any(k == TEXT for k in kinds.values())
            else None
        ),
    )


def _window_frame(
    *, monitor: Monitor, version: int, start: datetime, end: datetime
) -> tuple[pd.DataFrame, int]:
    return inference_selectors.prediction_sample_frame(
        model_name=monitor.model_name,
        start=start,
        end=end,
        model_version=version,
        max_rows=monitor.max_rows,
    )


def _comparison_reference(
    report: Report, monitor: Monitor, target: Target
) -> tuple[pd.DataFrame, str]:
    """A comparison's reference: another window's (or version's) predictions,
    with labels as ``target`` so label drift compares like with like."""
    version = report.reference_version or target.version
    start = report.reference_start or report.window_start
    end = report.reference_end or report.window_end
    frame, _ = _window_frame(monitor=monitor, version=version, start=start, end=end)
    if "label" in frame.columns:
        frame = frame.rename(columns={"label": "target"})
    return frame, f"v{version} predictions {start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"


def report_data_compute(*, report: Report, progress: Progress) -> dict:
    """Load the window and the reference, compute the summary (no writes)."""
    monitor = report.monitor
    target = monitor_target(monitor=monitor, version=report.model_version)
    progress(5, f"loading the reference of {target.model_name} v{target.version}")
    sample = reference_sample_load(target=target)
    if report.reference_start or report.reference_version:
        reference, source = _comparison_reference(report, monitor, target)
    else:
        reference, source = sample, f"reference sample of v{target.version}"
    progress(15, "loading the window")
    current, total = _window_frame(
        monitor=monitor,
        version=target.version,
        start=report.window_start,
        end=report.window_end,
    )
    config = report_config(monitor=monitor, target=target, reference=sample)
    comparison = reference is not sample
    summary = report_compute(
        reference,
        current,
        config,
        rows_in_window=total,
        progress=progress,
        reference_stats=None
        if comparison
        else reference_statistics_get(
            model_name=target.model_name,
            model_version=target.version,
            config=config,
            reference=sample,
        ),
    )
    summary.update(
        {
            "model": {"name": target.model_name, "version": target.version},
            "watched": target.how,
            "reference": {"source": source, "rows": len(reference)},
            "window": {
                "start": report.window_start.isoformat(),
                "end": report.window_end.isoformat(),
            },
            "methods": {k: list(v) for k, v in config.methods.items()},
            "feature_kinds": config.feature_kinds,
        }
    )
    summary["health"] = model_status(summary, drift_share_limit=monitor.drift_share)
    summary["_frames"] = (reference, current, config)
    return summary

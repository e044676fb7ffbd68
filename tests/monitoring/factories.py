"""Prediction-log rows for monitoring tests (tests may write inference's
models directly; the app itself reads them only through selectors)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.ids import uuid7
from inference.models import Feedback, PredictionLog
from monitoring.models import AlertRule, Monitor

META = {"target", "prediction", "outlier_score"}


def feature_columns(reference: pd.DataFrame) -> list[str]:
    return [
        c for c in reference.columns if c not in META and not c.startswith("proba_")
    ]


def window_frame(
    reference: pd.DataFrame,
    rows: int,
    *,
    shift: dict[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows resampled from the reference sample (same distribution); columns in
    ``shift`` are moved by that many reference standard deviations."""
    frame = reference.sample(n=rows, replace=True, random_state=seed).reset_index(
        drop=True
    )
    rng = np.random.default_rng(seed)
    for column, sds in (shift or {}).items():
        std = float(reference[column].std()) or 1.0
        frame[column] = frame[column] + sds * std + rng.normal(0, 0.05 * std, rows)
    return frame


def log_rows(
    frame: pd.DataFrame,
    *,
    model_name: str,
    version: int,
    start: datetime,
    end: datetime,
    labels: list | None = None,
    latency_ms: float | None = None,
    outlier_share: float = 0.0,
    seed: int = 0,
    client=None,
) -> list[PredictionLog]:
    """Write one PredictionLog row per frame row, spread evenly over
    ``[start, end)``, served to ``client``; optional feedback labels (None: no
    label)."""
    rnd = random.Random(seed)
    features = feature_columns(frame)
    probas = [c for c in frame.columns if c.startswith("proba_")]
    span = (end - start).total_seconds()
    objs = []
    for i, row in enumerate(frame.itertuples(index=False)):
        values = dict(zip(frame.columns, row, strict=True))
        inputs = {
            c: (values[c].item() if hasattr(values[c], "item") else values[c])
            for c in features
        }
        created_at = start + timedelta(seconds=span * (i + 0.5) / len(frame))
        objs.append(
            PredictionLog(
                prediction_id=uuid7(at=created_at),
                model_name=model_name,
                model_version=version,
                inputs=inputs,
                prediction=str(values["prediction"]),
                probabilities={
                    c.removeprefix("proba_"): float(values[c]) for c in probas
                }
                or None,
                outlier_score=float(values.get("outlier_score", 0.0) or 0.0),
                is_outlier=rnd.random() < outlier_share,
                latency_ms=latency_ms if latency_ms is not None else rnd.uniform(2, 40),
                created_at=created_at,
                client=client,
            )
        )
    created = PredictionLog.objects.bulk_create(objs, batch_size=1000)
    if labels is not None:
        Feedback.objects.bulk_create(
            [
                Feedback(prediction=p, label=label)
                for p, label in zip(created, labels, strict=True)
                if label is not None
            ],
            batch_size=1000,
        )
    return created


def make_monitor(model_name: str, **fields) -> Monitor:
    defaults = {
        "name": f"{model_name} monitor {uuid.uuid4().hex[:6]}",
        "model_name": model_name,
        "window_minutes": 60,
        "min_rows": 50,
        "html_report": False,
        "recipients": "ops@example.com",
    }
    defaults.update(fields)
    return Monitor.objects.create(**defaults)


def add_rule(monitor: Monitor, kind: str, **fields) -> AlertRule:
    return AlertRule.objects.create(monitor=monitor, kind=kind, **fields)

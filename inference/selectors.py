"""Reads of the prediction log and feedback, for inference's own pages and for
monitoring (which must not query inference's models directly)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from inference.models import PredictionLog

if TYPE_CHECKING:
    import pandas as pd


def prediction_log_window(
    *,
    model_name: str,
    start: datetime,
    end: datetime,
    model_version: int | None = None,
) -> QuerySet[PredictionLog]:
    """Predictions of a model served in ``[start, end)``, optionally one version."""
    qs = PredictionLog.objects.filter(
        model_name=model_name, created_at__gte=start, created_at__lt=end
    )
    if model_version is not None:
        qs = qs.filter(model_version=model_version)
    return qs


def prediction_frame(
    *,
    model_name: str,
    start: datetime,
    end: datetime,
    model_version: int | None = None,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """The window as a DataFrame, one row per prediction.

    Columns: ``prediction_id``, ``created_at``, ``model_version``, one column
    per input field, ``prediction``, ``proba_<class>`` per class, ``outlier_score``,
    ``is_outlier``, ``latency_ms`` and ``label`` (None where no feedback came).
    With ``max_rows`` the newest rows are kept, so the cost stays bounded however
    large the window is.
    """
    import pandas as pd

    qs = prediction_log_window(
        model_name=model_name, start=start, end=end, model_version=model_version
    ).order_by("-created_at", "-id")
    if max_rows is not None:
        qs = qs[:max_rows]
    rows = list(
        qs.values_list(
            "prediction_id",
            "created_at",
            "model_version",
            "inputs",
            "prediction",
            "probabilities",
            "outlier_score",
            "is_outlier",
            "latency_ms",
            "feedback__label",
        )
    )
    records = []
    for (
        pid,
        created,
        version,
        inputs,
        pred,
        probas,
        score,
        flag,
        latency,
        label,
    ) in rows:
        record = {
            "prediction_id": str(pid),
            "created_at": created,
            "model_version": version,
            **(inputs or {}),
            "prediction": pred,
            "outlier_score": score,
            "is_outlier": flag,
            "latency_ms": latency,
            "label": label,
        }
        for cls, p in (probas or {}).items():
            record[f"proba_{cls}"] = p
        records.append(record)
    return pd.DataFrame.from_records(records)

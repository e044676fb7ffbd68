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


# --- reads for monitoring
# Aggregates and samples of the log for the monitoring app (rollups, report
# samples, late labels). Monitoring reads the log only through these.

_FRAME_FIELDS = (
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


def _frame_from_rows(rows) -> pd.DataFrame:
    import pandas as pd

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


def prediction_sample_frame(
    *,
    model_name: str,
    start: datetime,
    end: datetime,
    model_version: int | None = None,
    max_rows: int,
) -> tuple[pd.DataFrame, int]:
    """An evenly spread sample of at most ``max_rows`` of the window (every
    k-th row by id, so the same window always gives the same sample) with the
    columns of ``prediction_frame``, and the window's total row count."""
    qs = prediction_log_window(
        model_name=model_name, start=start, end=end, model_version=model_version
    )
    total = qs.count()
    if total > max_rows:
        from django.db.models import F

        stride = -(-total // max_rows)  # ceil
        qs = qs.annotate(_k=F("id") % stride).filter(_k=0)
    rows = qs.order_by("id").values_list(*_FRAME_FIELDS)[:max_rows]
    return _frame_from_rows(rows), total


def prediction_log_max_id(*, before: datetime) -> int:
    """Largest log id among rows served before ``before`` (0 if none)."""
    from django.db.models import Max

    found = PredictionLog.objects.filter(created_at__lt=before).aggregate(m=Max("id"))
    return found["m"] or 0


def prediction_minute_aggregates(
    *, after_id: int, up_to_id: int, latency_bounds_ms: tuple[float, ...]
) -> tuple[list[dict], list[dict]]:
    """Per (model, version, minute) over log ids in ``(after_id, up_to_id]``:
    rows, latency sum, cumulative latency bucket counts (``le_<i>``), outliers;
    and the count per (model, version, minute, prediction)."""
    from django.db.models import Count, Q, Sum
    from django.db.models.functions import TruncMinute

    qs = PredictionLog.objects.filter(id__gt=after_id, id__lte=up_to_id).annotate(
        minute=TruncMinute("created_at")
    )
    buckets = {
        f"le_{i}": Count("id", filter=Q(latency_ms__lte=bound))
        for i, bound in enumerate(latency_bounds_ms)
    }
    traffic = list(
        qs.values("model_name", "model_version", "minute")
        .annotate(
            rows=Count("id"),
            latency_sum=Sum("latency_ms"),
            outliers=Count("id", filter=Q(is_outlier=True)),
            **buckets,
        )
        .order_by()
    )
    labels = list(
        qs.values("model_name", "model_version", "minute", "prediction")
        .annotate(n=Count("id"))
        .order_by()
    )
    return traffic, labels


def prediction_get(*, prediction_id: str) -> dict | None:
    """One logged prediction with its feedback label, as a dict (or None)."""
    row = (
        PredictionLog.objects.filter(prediction_id=prediction_id)
        .values(
            "prediction_id",
            "model_name",
            "model_version",
            "alias",
            "source",
            "inputs",
            "prediction",
            "probabilities",
            "outlier_score",
            "is_outlier",
            "latency_ms",
            "request_id",
            "created_at",
            "feedback__label",
        )
        .first()
    )
    return row


def labelled_predictions(
    *, model_name: str, model_version: int, start: datetime, end: datetime
) -> tuple[int, list[tuple]]:
    """Predictions of a version served in ``[start, end)``: their count, and
    ``(prediction, label)`` of those with feedback."""
    qs = prediction_log_window(
        model_name=model_name, start=start, end=end, model_version=model_version
    )
    pairs = list(
        qs.filter(feedback__isnull=False).values_list("prediction", "feedback__label")
    )
    return qs.count(), pairs


def feedback_changed_since(
    *, model_name: str, since: datetime | None, until: datetime
) -> list[tuple[int, datetime]]:
    """``(model_version, prediction time)`` of predictions of ``model_name``
    whose label was given or changed in ``(since, until]``."""
    from inference.models import Feedback

    qs = Feedback.objects.filter(
        prediction__model_name=model_name, updated_at__lte=until
    )
    if since is not None:
        qs = qs.filter(updated_at__gt=since)
    return list(
        qs.values_list("prediction__model_version", "prediction__created_at").distinct()
    )

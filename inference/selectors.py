"""Reads of the prediction log and feedback, for inference's own pages and for
monitoring (which must not query inference's models directly)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet

from inference.models import BatchJob, PredictionLog, RequestError

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


def request_error_counts(*, model_name: str, start: datetime, end: datetime) -> dict:
    """Refused or failed prediction requests of a model in ``[start, end)``.

    Returns ``{"total": int, "by_status": {status_code: int},
    "by_code": {code: int}}`` (monitoring's error rate is ``total`` over
    ``total`` plus the served requests).
    """
    rows = (
        RequestError.objects.filter(
            model_name=model_name, created_at__gte=start, created_at__lt=end
        )
        .values_list("status_code", "code")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status: dict[int, int] = {}
    by_code: dict[str, int] = {}
    for status_code, code, n in rows:
        by_status[status_code] = by_status.get(status_code, 0) + n
        by_code[code] = by_code.get(code, 0) + n
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_code": by_code,
    }


def prediction_list_for_client(*, client, model_name: str | None = None) -> QuerySet:
    """The client's own predictions, newest first (never another client's)."""
    qs = PredictionLog.objects.filter(client_id=client.pk).select_related("feedback")
    if model_name:
        qs = qs.filter(model_name=model_name)
    return qs.order_by("-created_at", "-id")


def prediction_get_for_client(*, client, prediction_id) -> PredictionLog | None:
    return (
        PredictionLog.objects.filter(client_id=client.pk, prediction_id=prediction_id)
        .select_related("feedback")
        .first()
    )


def batch_job_list_for_client(*, client) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(client_id=client.pk).order_by("-created_at")


def batch_job_get_for_client(*, client, job_id) -> BatchJob | None:
    return BatchJob.objects.filter(client_id=client.pk, pk=job_id).first()

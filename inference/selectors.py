"""Reads of the prediction log and feedback, for inference's own pages and for
monitoring (which must not query inference's models directly)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet

from core.ids import uuid7_time
from core.labelled import LabelledExample
from inference.logrows import CLIENT_COLUMNS
from inference.models import BatchJob, PredictionLog, RequestError

if TYPE_CHECKING:
    import pandas as pd


#: How far a log row's ``created_at`` may be from the time in its prediction
#: id: both are taken while one request (or one batch chunk) is answered.
ID_TIME_MARGIN = timedelta(hours=1)


def log_time_bounds(prediction_ids: Iterable) -> Q:
    """A condition on ``created_at`` that the rows of ``prediction_ids`` meet,
    derived from the time in the ids, so a lookup by id reads only the
    partitions of those times. Empty (no bound) if an id is not a v7 UUID
    (rows logged before ids were time-ordered) or cannot be parsed."""
    times = []
    for value in prediction_ids:
        try:
            parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except (TypeError, ValueError, AttributeError):
            return Q()
        at = uuid7_time(parsed)
        if at is None:
            return Q()
        times.append(at)
    if not times:
        return Q()
    return Q(
        created_at__gte=min(times) - ID_TIME_MARGIN,
        created_at__lt=max(times) + ID_TIME_MARGIN,
    )


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
    qs = prediction_log_window(
        model_name=model_name, start=start, end=end, model_version=model_version
    ).order_by("-created_at", "-id")
    if max_rows is not None:
        qs = qs[:max_rows]
    return _frame_from_rows(qs.values_list(*_FRAME_FIELDS))


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


#: Rows read per time slice when a window is sampled: a window of more rows
#: than the sample is read as ``max_rows / SAMPLE_SLICE_ROWS`` slices of equal
#: duration, the first rows of each by the (model, time) index.
SAMPLE_SLICE_ROWS = 100
MAX_SAMPLE_SLICES = 500


def prediction_sample_frame(
    *,
    model_name: str,
    start: datetime,
    end: datetime,
    model_version: int | None = None,
    max_rows: int,
) -> tuple[pd.DataFrame, int]:
    """A sample of at most ``max_rows`` of the window spread over its whole
    duration, with the columns of ``prediction_frame``, and the window's
    total row count.

    The window is cut into slices of equal duration and the first rows of
    each are read through the (model, time) index, so the read is bounded by
    the sample size whatever the window holds, and the same window always
    gives the same sample. Only the count walks the window's index entries.
    """
    qs = prediction_log_window(
        model_name=model_name, start=start, end=end, model_version=model_version
    )
    total = qs.count()
    if total <= max_rows:
        rows = list(qs.order_by("created_at", "id").values_list(*_FRAME_FIELDS))
        return _frame_from_rows(rows), total
    slices = max(1, min(MAX_SAMPLE_SLICES, -(-max_rows // SAMPLE_SLICE_ROWS)))
    per_slice = -(-max_rows // slices)
    step = (end - start) / slices
    rows = []
    for i in range(slices):
        lo = start + step * i
        hi = end if i == slices - 1 else start + step * (i + 1)
        part = prediction_log_window(
            model_name=model_name, start=lo, end=hi, model_version=model_version
        )
        rows += part.order_by("created_at", "id").values_list(*_FRAME_FIELDS)[
            :per_slice
        ]
    return _frame_from_rows(rows[:max_rows]), total


def prediction_log_max_id(*, before: datetime) -> int:
    """Largest log id among rows served before ``before`` (0 if none)."""
    # newest first by primary key: stops at the first row older than ``before``
    # (only the last few seconds of rows are newer), no index on time needed
    found = (
        PredictionLog.objects.filter(created_at__lt=before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return found or 0


def prediction_log_next_id(*, after: int) -> int | None:
    """Smallest log id above ``after`` (None if none): where a consumer of the
    log by id resumes, whatever gap lies between (ids lost to rolled-back
    inserts, removed by retention, or below a watermark that starts at 0)."""
    return (
        PredictionLog.objects.filter(id__gt=after)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )


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
        PredictionLog.objects.filter(
            log_time_bounds([prediction_id]), prediction_id=prediction_id
        )
        .values(*CLIENT_COLUMNS, "feedback__label")
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


def request_error_counts(*, model_name: str, start: datetime, end: datetime) -> dict:
    """Refused or failed prediction requests of a model in ``[start, end)``.

    Returns ``{"total": int, "by_status": {status_code: int},
    "by_code": {code: int}, "by_version": {version: int}}``; version 0 holds
    errors that happened before a version was resolved (unknown model, bad
    alias). Monitoring's error rate is ``total`` over ``total`` plus the served
    requests.
    """
    rows = (
        RequestError.objects.filter(
            model_name=model_name, created_at__gte=start, created_at__lt=end
        )
        .values_list("status_code", "code", "model_version")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status: dict[int, int] = {}
    by_code: dict[str, int] = {}
    by_version: dict[int, int] = {}
    for status_code, code, version, n in rows:
        by_status[status_code] = by_status.get(status_code, 0) + n
        by_code[code] = by_code.get(code, 0) + n
        by_version[version or 0] = by_version.get(version or 0, 0) + n
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_code": by_code,
        "by_version": by_version,
    }


def request_error_minute_counts(
    *, start: datetime, end: datetime
) -> list[tuple[str, int, datetime, int, int]]:
    """Refused or failed requests in ``[start, end)`` counted per model, version
    (0: not resolved) and minute, in one grouped query (for monitoring's
    rollups): ``(name, version, minute, all errors, server errors (5xx))``."""
    from django.db.models.functions import TruncMinute

    rows = (
        RequestError.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(minute=TruncMinute("created_at"))
        .values_list("model_name", "model_version", "minute")
        .annotate(n=Count("id"), server=Count("id", filter=Q(status_code__gte=500)))
        .order_by()
    )
    return [
        (name, version or 0, minute, n, server)
        for name, version, minute, n, server in rows
    ]


def prediction_list_for_client(*, client, model_name: str | None = None) -> QuerySet:
    """The client's own predictions, newest first (never another client's)."""
    qs = PredictionLog.objects.filter(client_id=client.pk).select_related("feedback")
    if model_name:
        qs = qs.filter(model_name=model_name)
    return qs.order_by("-created_at", "-id")


def prediction_get_for_client(*, client, prediction_id) -> PredictionLog | None:
    return (
        PredictionLog.objects.filter(
            log_time_bounds([prediction_id]),
            client_id=client.pk,
            prediction_id=prediction_id,
        )
        .select_related("feedback")
        .first()
    )


def batch_job_list_for_client(*, client) -> QuerySet[BatchJob]:
    return BatchJob.objects.filter(client_id=client.pk).order_by("-created_at")


def batch_job_get_for_client(*, client, job_id) -> BatchJob | None:
    return BatchJob.objects.filter(client_id=client.pk, pk=job_id).first()


class LabelledLogReader:
    """The prediction log joined with its feedback, as the trainer reads it
    (installed in ``core.labelled`` by ``InferenceConfig.ready``)."""

    def examples(
        self, *, model_name: str, start: datetime, end: datetime
    ) -> list[LabelledExample]:
        from inference.models import Feedback

        rows = (
            Feedback.objects.filter(
                prediction__model_name=model_name,
                prediction__created_at__gte=start,
                prediction__created_at__lt=end,
            )
            .order_by("prediction__created_at", "prediction__prediction_id")
            .values_list(
                "prediction__prediction_id",
                "prediction__created_at",
                "prediction__model_version",
                "prediction__inputs",
                "label",
            )
        )
        return [
            LabelledExample(
                prediction_id=str(pid),
                created_at=created,
                model_version=version,
                inputs=inputs,
                label=label,
            )
            for pid, created, version, inputs, label in rows.iterator(chunk_size=2000)
        ]

    def count_since(self, *, model_name: str, since: datetime | None) -> int:
        from inference.models import Feedback

        qs = Feedback.objects.filter(prediction__model_name=model_name)
        if since is not None:
            qs = qs.filter(updated_at__gt=since)
        return qs.count()

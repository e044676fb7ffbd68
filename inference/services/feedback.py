"""Ground-truth labels for logged predictions (single and bulk)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.exceptions import ApplicationError, NotFoundError
from governance.selectors import model_version_get
from inference.choices import PredictionSource
from inference.models import BatchJob, Feedback, FeedbackHistory, PredictionLog
from inference.permissions import can_label
from inference.selectors import log_time_bounds

logger = logging.getLogger(__name__)


class LabelError(ApplicationError):
    code = "invalid_label"


@dataclass
class FeedbackOutcome:
    prediction_id: str
    label: Any
    status: str  # created | replaced | unchanged


def _classes(model_name: str, version: int, memo: dict) -> list[str]:
    key = (model_name, version)
    if key not in memo:
        mirrored = model_version_get(name=model_name, version=version)
        classes = mirrored.classes if mirrored is not None else []
        if not classes:
            from inference.serving import model_cache

            try:  # not mirrored yet: ask the loaded model
                classes = list(
                    model_cache().get(name=model_name, version=version).classes
                )
            except ApplicationError:
                classes = []
        memo[key] = classes
    return memo[key]


def label_check(*, label: Any, classes: list[str]) -> str | None:
    """Why ``label`` cannot be a label of a model with ``classes``, or None."""
    if classes:
        if not isinstance(label, str) or label not in classes:
            return f"label must be one of {classes}"
        return None
    # a model without classes (regression): a finite number
    if isinstance(label, bool) or not isinstance(label, int | float):
        return "label must be a number for this model"
    if label != label or label in (float("inf"), float("-inf")):
        return "label must be a finite number"
    return None


def _parse_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def feedback_record(*, prediction_id: Any, label: Any, client) -> FeedbackOutcome:
    """Attach (or replace) the true label of a prediction the client may label
    (``labellable_by``)."""
    outcomes = feedback_bulk_record(
        items=[{"prediction_id": prediction_id, "label": label}], client=client
    )
    outcome = outcomes[0]
    if outcome["status"] == "error":
        error = outcome["error"]
        if error["code"] == "not_found":
            raise NotFoundError(error["message"])
        raise LabelError(error["message"], {"fields": {"label": [error["message"]]}})
    return FeedbackOutcome(outcome["prediction_id"], label, outcome["status"])


def feedback_bulk_record(*, items: list[dict], client) -> list[dict]:
    """Record many labels; each item gets its own result, one bad item does not
    stop the others.

    Result per item: ``{"index", "prediction_id", "status"}`` where status is
    ``created``, ``replaced``, ``unchanged`` or ``error`` (then ``error`` holds
    ``code`` and ``message``). Predictions the client may not label
    (``labellable_by``) are not found.
    """
    limit = settings.INFERENCE["MAX_FEEDBACK_ITEMS"]
    if len(items) > limit:
        raise ApplicationError(
            f"at most {limit} labels per call ({len(items)} sent)",
            {"fields": {"items": [f"too many items (limit {limit})"]}},
            code="too_many_items",
        )
    results: list[dict] = []
    wanted: dict[uuid.UUID, list[int]] = {}
    for index, item in enumerate(items):
        pid = _parse_id(item.get("prediction_id"))
        results.append(
            {
                "index": index,
                "prediction_id": str(item.get("prediction_id")),
                "status": "pending",
            }
        )
        if pid is None:
            results[index].update(
                status="error",
                error={"code": "not_found", "message": "unknown prediction id"},
            )
            continue
        results[index]["prediction_id"] = str(pid)
        wanted.setdefault(pid, []).append(index)

    for attempt in range(2):
        try:
            with transaction.atomic():
                _apply(items, results, wanted, client)
            break
        except IntegrityError:
            # a concurrent call created feedback for one of these predictions
            if attempt:
                raise
            for r in results:
                if r["status"] != "error":
                    r["status"] = "pending"
    return results


def labellable_by(client) -> Q:
    """The predictions ``client`` may label: its own, and for the label roles
    also those of the channels without a caller (the stream consumer and
    scheduled batch jobs), whoever owns them. Another client's own predictions
    never."""
    mine = Q(client_id=client.pk if client is not None else None)
    if client is None or not can_label(client):
        return mine
    scheduled = BatchJob.objects.exclude(schedule_name="").values("pk")
    return (
        mine
        | Q(source=PredictionSource.STREAM)
        | Q(source=PredictionSource.BATCH, batch_id__in=scheduled)
    )


def _apply(items, results, wanted, client) -> None:
    allowed = labellable_by(client)
    predictions: dict[uuid.UUID, tuple[int, str, int]] = {}
    ids = list(wanted)
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        for pk, pid, name, version in PredictionLog.objects.filter(
            allowed, log_time_bounds(part), prediction_id__in=part
        ).values_list("pk", "prediction_id", "model_name", "model_version"):
            predictions[pid] = (pk, name, version)
    existing: dict[int, Feedback] = {}
    pks = [v[0] for v in predictions.values()]
    for start in range(0, len(pks), 1000):
        for fb in Feedback.objects.select_for_update().filter(
            prediction_id__in=pks[start : start + 1000]
        ):
            existing[fb.prediction_id] = fb

    memo: dict = {}
    now = timezone.now()
    to_create: dict[int, Feedback] = {}
    to_update: dict[int, Feedback] = {}
    history: list[FeedbackHistory] = []
    for pid, indexes in wanted.items():
        found = predictions.get(pid)
        for index in indexes:
            result = results[index]
            if found is None:
                result.update(
                    status="error",
                    error={"code": "not_found", "message": "unknown prediction id"},
                )
                continue
            pk, name, version = found
            label = items[index].get("label")
            problem = label_check(label=label, classes=_classes(name, version, memo))
            if problem:
                result.update(
                    status="error", error={"code": "invalid_label", "message": problem}
                )
                continue
            current = to_create.get(pk) or existing.get(pk)
            if current is None:
                to_create[pk] = Feedback(
                    prediction_id=pk,
                    label=label,
                    client=client,
                    created_at=now,
                    updated_at=now,
                )
                result["status"] = "created"
            elif current.label == label:
                result["status"] = "unchanged"
            else:
                history.append(
                    FeedbackHistory(
                        feedback=current,
                        previous_label=current.label,
                        new_label=label,
                        changed_by=client,
                        changed_at=now,
                    )
                )
                current.label = label
                current.client = client
                current.updated_at = now
                if current.pk:
                    to_update[current.pk] = current
                result["status"] = "replaced" if current.pk else "created"
    if to_create:
        Feedback.objects.bulk_create(list(to_create.values()))
    # history of labels replaced within this same call points at new rows
    history = [h for h in history if h.feedback.pk]
    if to_update:
        Feedback.objects.bulk_update(
            list(to_update.values()), ["label", "client", "updated_at"]
        )
    if history:
        FeedbackHistory.objects.bulk_create(history)

"""Reads of retraining policies and runs."""

from __future__ import annotations

from django.db.models import QuerySet

from trainer.models import RetrainingPolicy, RetrainingRun


def retraining_policy_get(*, model_name: str) -> RetrainingPolicy | None:
    return RetrainingPolicy.objects.filter(model_name=model_name).first()


def retraining_run_list(*, model_name: str | None = None) -> QuerySet[RetrainingRun]:
    """Runs, newest first, with what their rows link to."""
    qs = RetrainingRun.objects.select_related(
        "promotion_request", "requested_by", "policy"
    ).order_by("-created_at", "-id")
    if model_name is not None:
        qs = qs.filter(model_name=model_name)
    return qs

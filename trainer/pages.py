"""The retraining section of governance's model page (registered through
``core.pages`` in ``TrainerConfig.ready``)."""

from __future__ import annotations

from typing import Any

from core.metric_names import metric_keys, metric_label
from core.pages import PageSection
from governance import permissions
from trainer.selectors import retraining_policy_get, retraining_run_list

#: runs shown on the page (the API lists them all)
SHOWN_RUNS = 20
SHOWN_METRICS = 3


def shown_metrics(metrics: dict) -> list[tuple[str, float]]:
    """The first few metrics in the one display order, labelled."""
    keys = metric_keys([metrics or {}])[:SHOWN_METRICS]
    return [(metric_label(key), metrics[key]) for key in keys]


def retraining_section(*, request: Any, model_name: str) -> PageSection | None:
    """The model's retraining policy and latest runs; nothing when it has
    neither, or for someone without a governance role."""
    if not permissions.can_view(request.user):
        return None
    policy = retraining_policy_get(model_name=model_name)
    runs = list(retraining_run_list(model_name=model_name)[:SHOWN_RUNS])
    if policy is None and not runs:
        return None
    for run in runs:
        run.shown_metrics = shown_metrics(run.metrics)
    return PageSection(
        key="retraining",
        title="Retraining runs",
        template="trainer/_runs.html",
        context={
            "policy": policy,
            "runs": runs,
            "link_admin": request.user.is_staff,
        },
    )

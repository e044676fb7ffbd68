"""One naming and one order of model metrics on every page and in every card.

The trainer logs metrics under snake_case keys; people read them under these
labels, in this order. Keys outside the list (a custom pipeline's own metrics)
follow in alphabetical order under a label made from the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "mcc": "MCC",
    "roc_auc": "ROC AUC",
    "false_positive_rate": "FPR",
}

#: Counts and confusion-matrix cells logged beside the metrics: not metrics.
_NOT_METRICS = ("cm_", "rows_")


def metric_label(key: str) -> str:
    """``"roc_auc"`` → ``"ROC AUC"``; an unknown key reads as words."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def metric_keys(metrics: Iterable[Mapping[str, object]]) -> list[str]:
    """The metric keys present in any of ``metrics`` dicts, in display order:
    the known ones in :data:`METRIC_LABELS` order, then the others sorted;
    counts and confusion-matrix cells left out."""
    present = {
        key
        for one in metrics
        for key, value in one.items()
        if not key.startswith(_NOT_METRICS) and isinstance(value, int | float)
    }
    known = [key for key in METRIC_LABELS if key in present]
    return known + sorted(present - set(known))

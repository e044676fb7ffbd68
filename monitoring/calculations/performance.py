"""Model performance on labelled predictions (concept drift), compared with
the version's held-out metrics."""

from __future__ import annotations

import math

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "mcc")
REGRESSION_METRICS = ("mae", "rmse", "r2")
#: metrics where lower is better (a rise is a degradation)
LOWER_IS_BETTER = {"mae", "rmse"}


def classification_performance(
    y_true: list, y_pred: list, *, classes: list[str], positive: str | None
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and MCC; binary problems score the
    positive class, others use macro averages."""
    import warnings

    from sklearn import metrics as m

    y_true = [str(v) for v in y_true]
    y_pred = [str(v) for v in y_pred]
    binary = len(classes) == 2 and positive is not None
    kwargs = {"pos_label": positive, "average": "binary"} if binary else {}
    if not binary:
        kwargs = {"average": "macro", "labels": classes or None}
    with warnings.catch_warnings():
        # a window may hold a single class; the metrics are still defined
        warnings.simplefilter("ignore", UserWarning)
        mcc = float(m.matthews_corrcoef(y_true, y_pred))
    return {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "precision": float(
            m.precision_score(y_true, y_pred, zero_division=0, **kwargs)
        ),
        "recall": float(m.recall_score(y_true, y_pred, zero_division=0, **kwargs)),
        "f1": float(m.f1_score(y_true, y_pred, zero_division=0, **kwargs)),
        "mcc": mcc,
    }


def regression_performance(y_true: list, y_pred: list) -> dict[str, float]:
    true = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    err = pred - true
    ss_tot = float(((true - true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(math.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot else 0.0,
    }


def compare_metrics(
    current: dict[str, float], reference: dict[str, float], *, margin: float
) -> dict[str, dict]:
    """Per metric: current, reference, delta and whether it degraded by more
    than ``margin`` (absolute) in the bad direction."""
    out = {}
    for name, value in current.items():
        ref = reference.get(name)
        if ref is None or not isinstance(ref, int | float):
            out[name] = {"value": value, "reference": None, "delta": None}
            continue
        delta = value - float(ref)
        worse = delta > margin if name in LOWER_IS_BETTER else delta < -margin
        out[name] = {
            "value": value,
            "reference": float(ref),
            "delta": delta,
            "degraded": bool(worse),
        }
    return out


def performance_summary(
    *,
    task: str,
    labelled_true: list,
    labelled_pred: list,
    predictions: int,
    reference_metrics: dict[str, float],
    classes: list[str],
    positive: str | None,
    min_coverage: float,
    min_labels: int,
    margin: float,
) -> dict:
    """Concept-drift summary of a window: coverage, metrics vs reference,
    provisional flag (coverage below ``min_coverage`` or too few labels)."""
    labels = len(labelled_true)
    coverage = (labels / predictions) if predictions else 0.0
    out: dict = {
        "predictions": predictions,
        "labelled": labels,
        "coverage": coverage,
        "min_coverage": min_coverage,
        "provisional": coverage < min_coverage or labels < min_labels,
        "metrics": {},
        "degraded": False,
    }
    if labels == 0:
        return out
    if task == "regression":
        current = regression_performance(labelled_true, labelled_pred)
    else:
        current = classification_performance(
            labelled_true, labelled_pred, classes=classes, positive=positive
        )
    compared = compare_metrics(current, reference_metrics, margin=margin)
    out["metrics"] = compared
    out["degraded"] = (not out["provisional"]) and any(
        v.get("degraded") for v in compared.values()
    )
    return out

"""Metrics and model tests: pure functions over labels and probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def classification_metrics(
    y_true, y_pred, proba: np.ndarray | None, *, classes: list[str], positive: str
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, MCC, ROC AUC, false-positive rate and the
    confusion matrix. Binary problems score the positive class; multi-class ones
    use macro averages."""
    from sklearn import metrics as m

    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    kwargs = {"pos_label": positive} if binary else {}
    out: dict[str, Any] = {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "precision": float(
            m.precision_score(
                y_true, y_pred, average=average, zero_division=0, **kwargs
            )
        ),
        "recall": float(
            m.recall_score(y_true, y_pred, average=average, zero_division=0, **kwargs)
        ),
        "f1": float(
            m.f1_score(y_true, y_pred, average=average, zero_division=0, **kwargs)
        ),
        "mcc": float(m.matthews_corrcoef(y_true, y_pred)),
    }
    if proba is not None:
        try:
            if binary:
                out["roc_auc"] = float(
                    m.roc_auc_score(
                        np.asarray(y_true) == positive,
                        proba[:, classes.index(positive)],
                    )
                )
            else:
                out["roc_auc"] = float(
                    m.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
                )
        except ValueError:  # a class absent from y_true
            pass
    matrix = m.confusion_matrix(y_true, y_pred, labels=classes)
    out["confusion_matrix"] = {"labels": classes, "matrix": matrix.tolist()}
    if binary:
        negative = classes[1 - classes.index(positive)]
        neg_row = matrix[classes.index(negative)]
        fp = int(neg_row[classes.index(positive)])
        out["false_positive_rate"] = float(fp / neg_row.sum()) if neg_row.sum() else 0.0
    return out


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    name: str
    passed: bool
    detail: str


@dataclass
class TestReport:
    __test__ = False

    results: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def failures(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "results": [r.__dict__ for r in self.results],
        }


def threshold_tests(metrics: dict[str, Any], thresholds: dict) -> list[TestResult]:
    results = []
    for name, bound in thresholds.items():
        value = metrics.get(name)
        if value is None:
            results.append(TestResult(f"metric {name}", False, "metric not computed"))
            continue
        ok = (bound.min is None or value >= bound.min) and (
            bound.max is None or value <= bound.max
        )
        want = " and ".join(
            s
            for s in (
                f">= {bound.min}" if bound.min is not None else "",
                f"<= {bound.max}" if bound.max is not None else "",
            )
            if s
        )
        results.append(TestResult(f"metric {name}", ok, f"{value:.4f} (want {want})"))
    return results


def behaviour_tests(predictions: list[str], cases: list) -> list[TestResult]:
    return [
        TestResult(
            f"behaviour {case.name}",
            str(pred) == case.expect,
            f"predicted {pred!r}, expected {case.expect!r}",
        )
        for case, pred in zip(cases, predictions, strict=True)
    ]

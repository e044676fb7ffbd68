"""Scoring a classifier on a labelled set, shared by the trainer (held-out
metrics of a new version) and governance (the candidate and the champion
scored on one evaluation set): pure functions over labels, probabilities and
frames, and the names of the tags and artifact that record a version's
held-out set."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

# Where a trained version's held-out split is stored (a run artifact: the
# feature columns and the label column) and how it is identified.
HELDOUT_ARTIFACT = "evaluation/heldout.parquet"
TAG_HELDOUT_ARTIFACT = "modelgate.heldout_artifact"
TAG_HELDOUT_SHA256 = "modelgate.heldout_sha256"
TAG_HELDOUT_ROWS = "modelgate.heldout_rows"
TAG_TARGET_COLUMN = "modelgate.target_column"
TAG_CLASSES = "modelgate.classes"
TAG_POSITIVE_CLASS = "modelgate.positive_class"


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and values (row order included), the
    same whatever file format carried it."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


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

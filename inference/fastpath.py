"""A faster way through the common scikit-learn pipeline shape.

Most tabular and text models here are ``Pipeline([ColumnTransformer, classifier])``.
scikit-learn's ``ColumnTransformer.transform`` re-validates the frame, wraps
every transformer call in joblib and the output API, which costs about as
much as the TF-IDF vectorisers themselves for a one-row request. This module
calls the fitted transformers directly and stacks their outputs the way
``ColumnTransformer`` does.

It is used only when a self-check at load time gives the same probabilities
as the estimator's own ``predict_proba`` on sample rows; any other model (or a
mismatch) keeps the standard path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def compile_predict_proba(model: Any) -> Callable | None:
    """A function ``frame -> probabilities`` equivalent to
    ``model.predict_proba``, or None when the model has another shape."""
    from scipy import sparse
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    columns_step, estimator = model.steps[0][1], model.steps[1][1]
    if not isinstance(columns_step, ColumnTransformer) or not hasattr(
        estimator, "predict_proba"
    ):
        return None
    parts = []
    for name, transformer, columns in columns_step.transformers_:
        if transformer == "drop":
            continue
        if name == "remainder":
            return None  # a remainder that is kept: leave it to scikit-learn
        if isinstance(columns, str):
            parts.append((transformer, columns))
        elif isinstance(columns, list | tuple) and all(
            isinstance(c, str) for c in columns
        ):
            parts.append((transformer, list(columns)))
        else:
            return None
    to_sparse = bool(columns_step.sparse_output_)

    def predict_proba(frame) -> np.ndarray:
        outputs = []
        for transformer, columns in parts:
            data = frame[columns]
            if transformer == "passthrough":
                outputs.append(data.to_numpy(dtype=float))
            else:
                outputs.append(transformer.transform(data))
        if to_sparse:
            stacked = sparse.hstack(
                [o if sparse.issparse(o) else sparse.csr_matrix(o) for o in outputs]
            ).tocsr()
        else:
            stacked = np.hstack(
                [o.toarray() if sparse.issparse(o) else np.asarray(o) for o in outputs]
            )
        return estimator.predict_proba(stacked)

    return predict_proba


def verified(
    model: Any, fast: Callable | None, frames: Sequence[Any]
) -> Callable | None:
    """``fast`` if it reproduces ``model.predict_proba`` on every frame."""
    if fast is None:
        return None
    try:
        for frame in frames:
            expected = model.predict_proba(frame)
            got = fast(frame)
            if got.shape != expected.shape or not np.allclose(
                got, expected, rtol=1e-9, atol=1e-12
            ):
                logger.warning("fast path disagrees with the pipeline; not used")
                return None
    except Exception:
        logger.warning("fast path failed its self-check; not used", exc_info=True)
        return None
    return fast

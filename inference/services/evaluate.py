"""Predictions of a registered version on a set of rows, for governance's
champion comparison (its ``VERSION_PREDICTOR`` setting names this function:
governance imports no other app).

The version is loaded as serving loads it (the machine's local copy, then
``served_model_build``), so the candidate and the champion are judged by the
predict path clients get; it is built for the call and not kept in this
process's model cache, which holds what the process serves.
"""

from __future__ import annotations

import logging
import time

from inference.serving import model_cache
from inference.serving.served import served_model_build

logger = logging.getLogger(__name__)


def version_predict(*, model_name: str, version: int, rows: list[dict]) -> dict:
    """Labels (and class probabilities, when the model gives them) of ``rows``
    by ``model_name`` v``version``: ``{"labels": [...], "probabilities":
    [{class: p}, ...] or None}``. Raises ``ModelNotFound``, ``ModelUnavailable``
    or ``NoSignature`` (inference.serving) when the version cannot be loaded."""
    started = time.perf_counter()
    folder = model_cache().copies.ensure(model_name, version)
    served = served_model_build(folder)
    predictions = served.predict(rows)
    logger.info(
        "scored %d rows with %s v%s in %.2fs",
        len(rows),
        model_name,
        version,
        time.perf_counter() - started,
    )
    return {
        "labels": [str(label) for label in predictions.labels],
        "probabilities": predictions.probabilities,
    }

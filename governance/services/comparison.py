"""The champion comparison of the metrics check: the candidate and the champion
scored on one evaluation set, whatever data each was trained on.

The evaluation set is the one the policy names (a labelled file in
MODELGATE_EVALUATION_SETS_DIR, identified by the SHA-256 of its bytes), else
the candidate's held-out split (a run artifact the trainer logs, identified by
its SHA-256 in the version's tags). Both versions
predict it through the VERSION_PREDICTOR setting (inference's serving load
path; governance imports no other app), and the policy's metrics are computed
from the two sets of predictions by ``core.ml.evaluation``. Runs in the
governance worker (the checks task), never in a web request: it downloads and
loads two models.

Figures are remembered per (model, version, run, evaluation set, metrics) in
Django's cache (Redis), shared by the workers and kept across restarts: a
version's files do not change, so the periodic re-run of the checks does not
score the same rows again, and an MLflow outage does not turn figures already
computed into a failed check (which would make approvals stale).
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from core import registry
from core.ml import evaluation as ev
from governance.hashing import canonical_json
from governance.models import ModelVersion

logger = logging.getLogger(__name__)

# Compared figures are rounded so that the last bits of a float (a different
# BLAS thread count, another predict path) never change the evidence digest.
FIGURE_DIGITS = 6
FIGURES_CACHE_SECONDS = 30 * 24 * 3600


class ComparisonError(Exception):
    """The comparison could not be made; the message is the reviewer's reason
    (stable text: it is part of the evidence)."""

    def __init__(self, reason: str, cause: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause  # the underlying error in full (info, not digested)


@dataclass(frozen=True)
class EvaluationSet:
    """The rows both versions are scored on."""

    source: str
    sha256: str
    rows: list[dict]
    labels: list[str]

    def describe(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "rows": len(self.rows)}


EVALUATION_SET_SUFFIXES = (".csv", ".parquet")
NUMERIC_TYPES = frozenset({"double", "float", "long", "integer"})


def evaluation_set_name_problem(name: str) -> str:
    """Why ``name`` cannot name an evaluation set ("" when it can): a file
    name in the evaluation-sets folder (subfolders allowed, never outside)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        return "a file name inside MODELGATE_EVALUATION_SETS_DIR, not a path out of it"
    if path.suffix.lower() not in EVALUATION_SET_SUFFIXES:
        return "a .csv or .parquet file"
    return ""


def _as_rows(frame, target: str) -> tuple[list[dict], list[str]]:
    if target not in frame.columns:
        raise ComparisonError(f"the evaluation set has no label column {target!r}")
    labels = frame[target].astype(str).tolist()
    features = frame.drop(columns=[target])
    rows = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in features.to_dict(orient="records")
    ]
    return rows, labels


def evaluation_set_file_load(*, name: str, candidate: ModelVersion) -> EvaluationSet:
    """The policy's evaluation set: a CSV (columns typed by the candidate's
    signature) or Parquet file, identified by the SHA-256 of its bytes."""
    import pandas as pd

    problem = evaluation_set_name_problem(name)
    if problem:
        raise ComparisonError(f"the policy's evaluation set {name!r}: {problem}")
    root = Path(settings.GOVERNANCE["EVALUATION_SETS_DIR"])
    path = root / name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ComparisonError(
            f"the policy's evaluation set {name} cannot be read",
            f"{type(exc).__name__}: {exc}",
        ) from exc
    target = (candidate.tags or {}).get(ev.TAG_TARGET_COLUMN) or "label"
    inputs = (candidate.signature or {}).get("inputs") or []
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
            for spec in inputs:
                column = spec.get("name")
                if spec.get("type") in NUMERIC_TYPES and column in frame.columns:
                    frame[column] = pd.to_numeric(frame[column])
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise ComparisonError(
            f"the policy's evaluation set {name} cannot be parsed",
            f"{type(exc).__name__}: {exc}",
        ) from exc
    missing = [
        spec["name"]
        for spec in inputs
        if spec.get("name")
        and spec.get("required", True)
        and spec["name"] not in frame.columns
    ]
    if missing:
        raise ComparisonError(
            f"the policy's evaluation set {name} lacks input column(s) {missing}"
        )
    if frame.empty:
        raise ComparisonError(f"the policy's evaluation set {name} has no rows")
    names = [spec["name"] for spec in inputs if spec.get("name") in frame.columns]
    if names:
        frame = frame[[*names, target]] if target in frame.columns else frame[names]
    rows, labels = _as_rows(frame, target)
    return EvaluationSet(
        source=f"evaluation set {name} (policy)",
        sha256=hashlib.sha256(raw).hexdigest(),
        rows=rows,
        labels=labels,
    )


def evaluation_set_load(*, candidate: ModelVersion) -> EvaluationSet:
    """The candidate's held-out split, checked against its recorded hash."""
    import pandas as pd

    tags = candidate.tags or {}
    artifact = tags.get(ev.TAG_HELDOUT_ARTIFACT)
    recorded = tags.get(ev.TAG_HELDOUT_SHA256, "")
    if not artifact or not recorded or not candidate.run_id:
        raise ComparisonError(
            f"the candidate v{candidate.version} records no held-out set "
            f"({ev.TAG_HELDOUT_ARTIFACT}); retrain it with the built-in trainer"
        )
    target = tags.get(ev.TAG_TARGET_COLUMN) or "label"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = registry.run_artifact_download(candidate.run_id, artifact, Path(tmp))
            frame = pd.read_parquet(path)
        except (registry.RegistryError, OSError, ValueError) as exc:
            raise ComparisonError(
                f"the candidate's held-out set ({artifact}) cannot be read",
                f"{type(exc).__name__}: {exc}",
            ) from exc
    actual = ev.frame_sha256(frame)
    if actual != recorded:
        raise ComparisonError(
            f"the candidate's held-out set does not match its recorded hash "
            f"({actual[:12]} vs {recorded[:12]})"
        )
    rows, labels = _as_rows(frame, target)
    return EvaluationSet(
        source=f"held-out split of v{candidate.version}",
        sha256=actual,
        rows=rows,
        labels=labels,
    )


def version_figures(
    *,
    model_name: str,
    version: ModelVersion,
    evaluation: EvaluationSet,
    metrics: list[str],
    classes: list[str],
    positive: str,
) -> dict[str, float | None]:
    """The ``metrics`` of ``version`` on ``evaluation`` (None: not computable,
    e.g. ROC AUC of a model without probabilities). Raises ComparisonError."""
    key = (
        "governance:figures:"
        + hashlib.sha256(
            canonical_json(
                [
                    model_name,
                    version.version,
                    version.run_id,
                    evaluation.sha256,
                    metrics,
                    classes,
                    positive,
                ]
            ).encode()
        ).hexdigest()
    )
    remembered = cache.get(key)
    if remembered is not None:
        return remembered
    path = settings.MODELGATE.get("VERSION_PREDICTOR", "")
    try:
        predict = import_string(path)
    except ImportError as exc:
        raise ComparisonError(
            f"no model predictor ({path or 'VERSION_PREDICTOR unset'} cannot be "
            "imported)"
        ) from exc
    try:
        out = predict(
            model_name=model_name, version=version.version, rows=evaluation.rows
        )
    except Exception as exc:  # any failure to score is a reason, never a pass
        logger.warning(
            "%s v%s cannot be scored for the champion comparison: %s",
            model_name,
            version.version,
            exc,
        )
        raise ComparisonError(
            f"v{version.version} could not be scored ({type(exc).__name__})",
            f"{type(exc).__name__}: {exc}",
        ) from exc
    figures = _metrics_of(out, evaluation.labels, metrics, classes, positive)
    cache.set(key, figures, FIGURES_CACHE_SECONDS)
    return figures


def _metrics_of(
    out: dict, labels: list[str], metrics: list[str], classes: list[str], positive
) -> dict[str, float | None]:
    import numpy as np

    predicted = [str(label) for label in out["labels"]]
    if len(predicted) != len(labels):
        raise ComparisonError(
            f"the model answered {len(predicted)} rows for {len(labels)}"
        )
    proba = None
    if out.get("probabilities"):
        proba = np.array(
            [[float(row.get(c, 0.0)) for c in classes] for row in out["probabilities"]]
        )
    computed = ev.classification_metrics(
        labels, predicted, proba, classes=classes, positive=positive
    )
    figures: dict[str, float | None] = {}
    for name in metrics:
        value = computed.get(name)
        figures[name] = (
            round(float(value), FIGURE_DIGITS)
            if isinstance(value, int | float)
            else None
        )
    return figures


def champion_comparison(
    *,
    model_name: str,
    candidate: ModelVersion,
    champion: ModelVersion,
    metrics: list[str],
    evaluation_set: str = "",
) -> tuple[dict, dict]:
    """Score both versions on one evaluation set: the policy's
    (``evaluation_set``, a file name) or else the candidate's held-out split.

    Returns (comparison, info): ``comparison`` is what the metrics check
    judges (the champion's version, the evaluation set's source, hash and
    size, both figures per metric, or the reason no comparison was made);
    ``info`` holds what moves without the judgement moving (seconds spent,
    the full text of an error)."""
    started = time.perf_counter()
    comparison: dict[str, Any] = {
        "champion_version": champion.version,
        "evaluation_set": None,
        "candidate": {},
        "champion": {},
        "error": "",
    }
    info: dict[str, Any] = {}
    tags = candidate.tags or {}
    try:
        evaluation = (
            evaluation_set_file_load(name=evaluation_set, candidate=candidate)
            if evaluation_set
            else evaluation_set_load(candidate=candidate)
        )
        comparison["evaluation_set"] = evaluation.describe()
        classes = [c for c in tags.get(ev.TAG_CLASSES, "").split(",") if c] or sorted(
            set(evaluation.labels)
        )
        positive = tags.get(ev.TAG_POSITIVE_CLASS) or classes[-1]
        for who, version in (("candidate", candidate), ("champion", champion)):
            try:
                comparison[who] = version_figures(
                    model_name=model_name,
                    version=version,
                    evaluation=evaluation,
                    metrics=metrics,
                    classes=classes,
                    positive=positive,
                )
            except ComparisonError as exc:
                raise ComparisonError(f"the {who} {exc.reason}", exc.cause) from exc
    except ComparisonError as exc:
        comparison["error"] = exc.reason
        if exc.cause:
            info["error"] = exc.cause
    info["seconds"] = round(time.perf_counter() - started, 3)
    return comparison, info

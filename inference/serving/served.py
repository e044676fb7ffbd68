"""A loaded version and its predict paths.

Prediction uses the raw scikit-learn estimator (validation is done by
``inference.validation`` against the signature); models without one fall
back to MLflow's pyfunc ``predict``. Two faster paths, each in its own module
and each used only when it reproduced the estimator's probabilities at load
time, are chosen here: ``inference.linearpath`` (rows to probabilities for
TF-IDF and linear pipelines) and ``inference.fastpath`` (the fitted
transformers of a ``Pipeline(ColumnTransformer → classifier)`` called
directly).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import registry
from inference.serving.errors import NoSignature
from inference.serving.local import META_FILE
from inference.validation import Field

logger = logging.getLogger(__name__)

TAG_CLASSES = "modelgate.classes"
TAG_TASK = "modelgate.task"

# Text shapes the fast paths are checked on at load time, whatever the
# model's domain (its own rows come from the version's input example): a
# short sentence, no text, one long word, non-ASCII letters with runs of
# white space, digits mixed with symbols and punctuation.
SHAPE_TEXTS = (
    "Hello, see you at 7?",
    "",
    "a" * 300,
    "Ünïcode  text\twith   runs of\nwhite space, ÉCOLE and émoji 🙂 ok",
    "Order #4521: 3x items at €19.99 (ref A-7/b) due 2026-01-31; it's O'Neil's!!",
    "UPPER lower MiXeD 12ab 3.5 50% a&b c's (x) [y] {z} <w> ~@$^*-+=|/\\ 0800 123",
)


@dataclass
class Predictions:
    """What a model said about validated rows, one entry per row."""

    labels: list[Any]
    probabilities: list[dict[str, float]] | None
    outlier_scores: list[float] | None
    outlier_flags: list[bool] | None

    def slice(self, start: int, end: int) -> Predictions:
        """The predictions of rows ``start`` to ``end`` (exclusive)."""
        return Predictions(
            self.labels[start:end],
            self.probabilities[start:end] if self.probabilities else None,
            self.outlier_scores[start:end] if self.outlier_scores else None,
            self.outlier_flags[start:end] if self.outlier_flags else None,
        )


@dataclass
class ServedModel:
    """One loaded version, ready to predict; immutable once built."""

    name: str
    version: int
    run_id: str
    inputs: tuple[Field, ...]
    classes: tuple[str, ...]
    task: str
    tags: dict[str, str]
    predictor: Any
    raw: bool
    scorer: Any | None = None  # inference.scoring.FastOutlierScorer
    fast_proba: Any | None = None  # inference.fastpath, when verified at load
    fast_rows: Any | None = None  # inference.linearpath, when verified at load
    loaded_at: float = field(default_factory=time.time)
    #: the first row of the version's logged input example (the try page's
    #: prefill), or None when it logged none
    example: dict | None = None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    def frame(self, rows: list[dict]):
        import pandas as pd

        data = {}
        for f in self.inputs:
            values = [row.get(f.name) for row in rows]
            if f.type in ("double", "float"):
                data[f.name] = pd.array(
                    [float("nan") if v is None else v for v in values], dtype=float
                )
            else:
                data[f.name] = values
        return pd.DataFrame(data)

    def predict(self, rows: list[dict]) -> Predictions:
        """Labels, class probabilities and outlier scores of validated rows."""
        import numpy as np

        probabilities = None
        if self.raw and hasattr(self.predictor, "predict_proba"):
            proba = self._fast_rows(rows)
            if proba is None:
                proba = (self.fast_proba or self.predictor.predict_proba)(
                    self.frame(rows)
                )
            model_classes = [str(c) for c in self.predictor.classes_]
            labels = [model_classes[i] for i in np.argmax(proba, axis=1)]
            probabilities = [
                dict(zip(model_classes, map(float, row), strict=True))
                for row in proba.tolist()
            ]
        else:
            labels = _plain(self.predictor.predict(self.frame(rows)))
        scores = flags = None
        if self.scorer is not None:
            raw_scores = self.scorer.score(rows)
            scores = [float(s) for s in raw_scores]
            flags = [bool(s > self.scorer.threshold) for s in raw_scores]
        return Predictions(labels, probabilities, scores, flags)

    def _fast_rows(self, rows: list[dict]):
        """Probabilities from the verified linear fast path, None without one
        (or for an input it does not take, e.g. a missing optional number)."""
        if self.fast_rows is None:
            return None
        try:
            return self.fast_rows(rows)
        except (TypeError, ValueError, KeyError):
            return None


def _plain(output: Any) -> list:
    """Model output (ndarray, Series, DataFrame, list) as a list of JSON values."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        if output.shape[1] == 1:
            output = output.iloc[:, 0]
        else:
            return output.to_dict(orient="records")
    if isinstance(output, pd.Series | np.ndarray):
        output = output.tolist()
    return [v.item() if hasattr(v, "item") else v for v in list(output)]


def served_model_build(folder: Path) -> ServedModel:
    """Load the version downloaded into ``folder`` and choose its predict
    paths (the fast ones only where they agree with the estimator)."""
    from inference.scoring import FastOutlierScorer

    meta = json.loads((folder / META_FILE).read_text())
    local = registry.model_load_local(folder / meta["model_dir"])
    inputs = tuple(
        Field(
            name=str(spec.get("name")),
            type=str(spec.get("type", "string")),
            required=bool(spec.get("required", True)),
        )
        for spec in local.inputs
        if spec.get("name")
    )
    if not inputs:
        raise NoSignature(
            f"{meta['name']} v{meta['version']} has no input signature; Modelgate "
            "serves models logged with one (mlflow's infer_signature)"
        )
    tags = meta.get("tags") or {}
    classes = tuple(c for c in tags.get(TAG_CLASSES, "").split(",") if c)
    if not classes and local.raw is not None and hasattr(local.raw, "classes_"):
        classes = tuple(str(c) for c in local.raw.classes_)
    scorer = None
    if meta.get("outlier_dir"):
        from core.ml.outliers import OutlierDetector

        try:
            detector = OutlierDetector.load(folder / meta["outlier_dir"])
            scorer = FastOutlierScorer.from_detector(detector)
        except Exception:
            logger.exception("outlier detector of %s is unreadable", folder)
    served = ServedModel(
        name=meta["name"],
        version=int(meta["version"]),
        run_id=meta.get("run_id", ""),
        inputs=inputs,
        classes=classes,
        task=tags.get(TAG_TASK, "classification" if classes else "unknown"),
        tags=tags,
        predictor=local.raw if local.raw is not None else local.pyfunc,
        raw=local.raw is not None,
        scorer=scorer,
    )
    examples = input_example_rows(folder, served.field_names)
    served.example = examples[0] if examples else None
    if served.raw:
        from inference.fastpath import compile_predict_proba, verified
        from inference.linearpath import compile_linear_rows, verified_rows

        samples = [(rows, served.frame(rows)) for rows in sample_rows(served, folder)]
        served.fast_proba = verified(
            local.raw,
            compile_predict_proba(local.raw),
            [frame for _rows, frame in samples],
        )
        served.fast_rows = verified_rows(
            local.raw, compile_linear_rows(local.raw), samples
        )
    return served


def sample_rows(served: ServedModel, folder: Path) -> list[list[dict]]:
    """Rows to check the fast paths on: the version's logged input example
    (rows of its own domain), and rows made from the signature (text of the
    shapes in ``SHAPE_TEXTS``, numbers and booleans of several values)."""
    samples = []
    rows = input_example_rows(folder, served.field_names)
    if rows:
        samples.append(rows)
    synthetic = []
    for i, text in enumerate(SHAPE_TEXTS):
        row = {}
        for f in served.inputs:
            if f.type == "string":
                row[f.name] = text
            elif f.type == "boolean":
                row[f.name] = bool(i % 2)
            else:
                row[f.name] = float(i * 3 - 1) if f.type in ("double", "float") else i
        synthetic.append(row)
    samples.append(synthetic)
    samples.append(synthetic[:1])
    return samples


def input_example_rows(folder: Path, names: list[str]) -> list[dict]:
    """The rows of the version's logged input example (``input_example.json``
    in its local copy), keeping the signature's fields; [] without one."""
    for example in folder.rglob("input_example.json"):
        try:
            rows = _example_rows(json.loads(example.read_text()), names)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        wanted = set(names)
        rows = [{k: v for k, v in row.items() if k in wanted} for row in rows]
        if rows:
            return rows
    return []


def _example_rows(data: Any, names: list[str]) -> list[dict]:
    if isinstance(data, dict) and "columns" in data and "data" in data:
        return [
            dict(zip(data["columns"], values, strict=False)) for values in data["data"]
        ]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        n = len(next(iter(data.values()), []))
        return [{k: v[i] for k, v in data.items()} for i in range(n)]
    return []

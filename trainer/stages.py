"""The training pipeline as five stages: prepare → fit → evaluate → export →
register (``export``, the ONNX export for the edge, is in
``trainer.export_stage``).

`train` runs them in one process; `dvc.yaml` runs each as its own step through
``manage.py train --stage <name> --workdir <dir>``, which saves every stage's
output in the work folder for the next one.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.ml import evaluation as heldout
from core.ml.outliers import OutlierDetector
from trainer.config import TrainConfig
from trainer.data import DataReport, Split, load_dataset, split_dataset
from trainer.evaluation import (
    TestReport,
    behaviour_tests,
    classification_metrics,
    threshold_tests,
)
from trainer.export_stage import EDGE_ARTIFACT_DIR, Exported
from trainer.pipelines import build_pipeline

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

STAGES = ("prepare", "train", "evaluate", "export", "register")
REFERENCE_ARTIFACT = "reference/reference.parquet"
OUTLIER_ARTIFACT = "outlier"


def _quiet(_message: str) -> None:
    pass


# ----------------------------------------------------------------- prepare
@dataclass
class Prepared:
    report: DataReport
    split: Split
    feature_columns: list[str]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        s = self.split
        s.X_train.assign(__target=s.y_train).to_parquet(folder / "train.parquet")
        s.X_test.assign(__target=s.y_test).to_parquet(folder / "test.parquet")
        (folder / "report.json").write_text(
            json.dumps(
                {
                    "report": self.report.as_dict(),
                    "feature_columns": self.feature_columns,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, folder: Path) -> Prepared:
        meta = json.loads((folder / "report.json").read_text())
        train = pd.read_parquet(folder / "train.parquet")
        test = pd.read_parquet(folder / "test.parquet")
        split = Split(
            train.drop(columns="__target"),
            test.drop(columns="__target"),
            train["__target"],
            test["__target"],
        )
        return cls(DataReport(**meta["report"]), split, meta["feature_columns"])


def stage_prepare(config: TrainConfig, progress: Progress = _quiet) -> Prepared:
    """Load and validate the data, then split it."""
    dataset = load_dataset(config.data)
    r = dataset.report
    progress(
        f"data: {r.rows_read} rows read, {r.rows_used} used, labels {r.label_counts}, "
        f"sha256 {r.sha256[:12]}"
    )
    if "production" in r.sources:
        shares = ", ".join(
            f"{name} {part['rows_used']} ({part['share']:.1%})"
            for name, part in r.sources.items()
        )
        progress(f"data sources: {shares}")
    for warning in r.warnings:
        progress(f"data warning: {warning}")
    split = split_dataset(dataset, config.split)
    progress(f"split: {len(split.X_train)} train / {len(split.X_test)} test")
    return Prepared(r, split, dataset.feature_columns)


# --------------------------------------------------------------------- fit
@dataclass
class Fitted:
    model: Any
    detector: OutlierDetector
    reference: pd.DataFrame

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def save(self, folder: Path) -> None:
        import joblib

        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model, folder / "model.joblib")
        self.detector.save(folder / OUTLIER_ARTIFACT)
        self.reference.to_parquet(folder / "reference.parquet")

    @classmethod
    def load(cls, folder: Path) -> Fitted:
        import joblib

        return cls(
            joblib.load(folder / "model.joblib"),  # written by stage 'fit' of this run
            OutlierDetector.load(folder / OUTLIER_ARTIFACT),
            pd.read_parquet(folder / "reference.parquet"),
        )


def _reference_sample(
    config: TrainConfig, prepared: Prepared, progress: Progress
) -> pd.DataFrame:
    """Training inputs with out-of-fold predictions and probabilities.

    Out-of-fold, so the probabilities look like those of unseen traffic; the
    in-sample predictions of a fitted model are overconfident and would make
    prediction drift fire on day one.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    s = prepared.split
    ref = config.reference
    estimator = build_pipeline(
        config.model.active,
        feature_columns=prepared.feature_columns,
        text_columns=config.data.text_columns,
        random_state=config.split.random_state,
        pipeline_name=config.model.pipeline,
    )
    folds = StratifiedKFold(
        n_splits=ref.cv_folds, shuffle=True, random_state=ref.random_state
    )
    proba = cross_val_predict(
        estimator, s.X_train, s.y_train, cv=folds, method="predict_proba"
    )
    classes = sorted(s.y_train.unique())
    frame = s.X_train.copy()
    frame["target"] = s.y_train.to_numpy()
    frame["prediction"] = np.asarray(classes)[proba.argmax(axis=1)]
    for i, cls in enumerate(classes):
        frame[f"proba_{cls}"] = proba[:, i]
    if len(frame) > ref.sample_size:
        frame = frame.sample(n=ref.sample_size, random_state=ref.random_state)
    progress(f"reference sample: {len(frame)} rows with out-of-fold predictions")
    return frame.reset_index(drop=True)


def stage_fit(
    config: TrainConfig, prepared: Prepared, progress: Progress = _quiet
) -> Fitted:
    """Fit the pipeline, the outlier detector and build the reference sample."""
    s = prepared.split
    model = build_pipeline(
        config.model.active,
        feature_columns=prepared.feature_columns,
        text_columns=config.data.text_columns,
        random_state=config.split.random_state,
        pipeline_name=config.model.pipeline,
    )
    model.fit(s.X_train, s.y_train)
    progress(f"fitted pipeline {config.model.pipeline!r} on {len(s.X_train)} rows")
    detector = OutlierDetector(
        numeric_columns=[
            c for c in prepared.feature_columns if c not in config.data.text_columns
        ],
        text_columns=list(config.data.text_columns),
        contamination=config.outliers.contamination,
        n_estimators=config.outliers.n_estimators,
        random_state=config.outliers.random_state,
    ).fit(s.X_train)
    progress(f"fitted outlier detector (threshold {detector.threshold:.4f})")
    reference = _reference_sample(config, prepared, progress)
    reference["outlier_score"] = detector.score(reference[prepared.feature_columns])
    return Fitted(model, detector, reference)


# ---------------------------------------------------------------- evaluate
@dataclass
class Evaluated:
    metrics: dict[str, Any]
    tests: TestReport

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(self.metrics, indent=2))
        (folder / "tests.json").write_text(json.dumps(self.tests.as_dict(), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Evaluated:
        from trainer.evaluation import TestResult

        tests = json.loads((folder / "tests.json").read_text())
        return cls(
            json.loads((folder / "metrics.json").read_text()),
            TestReport([TestResult(**r) for r in tests["results"]]),
        )


def stage_evaluate(
    config: TrainConfig, prepared: Prepared, fitted: Fitted, progress: Progress = _quiet
) -> Evaluated:
    """Held-out metrics and the model tests (thresholds, behavioural cases)."""
    s = prepared.split
    predicted = fitted.model.predict(s.X_test)
    proba = fitted.model.predict_proba(s.X_test)
    metrics = classification_metrics(
        s.y_test,
        predicted,
        proba,
        classes=fitted.classes,
        positive=config.data.positive_label,
    )
    shown = ", ".join(
        f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)
    )
    progress(f"held-out metrics: {shown}")

    results = threshold_tests(metrics, config.tests.thresholds)
    cases = config.tests.behaviour
    if cases:
        frame = pd.DataFrame([c.input for c in cases])
        missing = [c for c in prepared.feature_columns if c not in frame.columns]
        for column in missing:
            frame[column] = np.nan
        results += behaviour_tests(
            [str(p) for p in fitted.model.predict(frame[prepared.feature_columns])],
            cases,
        )
    report = TestReport(results)
    for failure in report.failures():
        progress(f"model test FAILED: {failure.name}: {failure.detail}")
    progress(
        f"model tests: {sum(r.passed for r in results)}/{len(results)} passed"
        + ("" if report.passed else " (version will be registered as failed)")
    )
    return Evaluated(metrics, report)


# ---------------------------------------------------------------- register
@dataclass
class Registered:
    name: str
    version: int
    run_id: str
    tests_passed: bool
    data: dict = field(default_factory=dict)  # data/fingerprint.json
    metrics: dict = field(default_factory=dict)  # scalar held-out metrics
    failures: list[str] = field(default_factory=list)  # failed model tests


def _flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(tree, list) and prefix.startswith("tests.behaviour"):
        out[prefix] = f"{len(tree)} cases"
    else:
        out[prefix] = str(tree)[:500]
    return out


def _requirements() -> list[str]:
    import cloudpickle
    import sklearn
    import skops

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"skops=={skops.__version__}",
    ]


def stage_register(
    config: TrainConfig,
    prepared: Prepared,
    fitted: Fitted,
    evaluated: Evaluated,
    exported: Exported,
    progress: Progress = _quiet,
) -> Registered:
    """Log everything to MLflow and register a version (tagged failed if a test
    failed; its edge export status tagged apart)."""
    import yaml

    from core import registry
    from core.ml.field_ranges import TAG_FIELD_RANGES, field_ranges_tag
    from governance.services import model_version_register
    from trainer.card import model_card

    s = prepared.split
    passed = evaluated.tests.passed
    split_counts = {"train": len(s.X_train), "test": len(s.X_test)}
    fingerprint = {
        "sha256": prepared.report.sha256,
        "rows_read": prepared.report.rows_read,
        "rows_used": prepared.report.rows_used,
        "label_counts": prepared.report.label_counts,
        "duplicates": prepared.report.duplicates,
        "sources": prepared.report.sources,
        "split": split_counts,
    }
    tests = evaluated.tests.as_dict()
    # the held-out split itself, so governance can score this version and the
    # champion on the same rows (and the champion on a later version's rows)
    heldout_frame = s.X_test.assign(
        **{config.data.target_column: s.y_test.astype(str).to_numpy()}
    )
    card = model_card(
        config=config,
        data_report=prepared.report.as_dict(),
        split_counts=split_counts,
        metrics=evaluated.metrics,
        tests=tests,
    )
    scalar_metrics = {
        k: v for k, v in evaluated.metrics.items() if isinstance(v, float)
    }
    matrix = evaluated.metrics["confusion_matrix"]
    for i, true in enumerate(matrix["labels"]):
        for j, pred in enumerate(matrix["labels"]):
            scalar_metrics[f"cm_{true}_as_{pred}"] = float(matrix["matrix"][i][j])
    scalar_metrics.update(
        {
            "rows_train": float(split_counts["train"]),
            "rows_test": float(split_counts["test"]),
        }
    )
    tags = {
        "modelgate.tests": "passed" if passed else "failed",
        "modelgate.task": "classification",
        "modelgate.classes": ",".join(fitted.classes),
        "modelgate.positive_class": config.data.positive_label,
        "modelgate.text_columns": ",".join(config.data.text_columns),
        "modelgate.pipeline": config.model.pipeline,
        "modelgate.config_hash": config.fingerprint(),
        "modelgate.data_sha256": prepared.report.sha256,
        "modelgate.data_sources": ",".join(
            f"{name}={part.get('rows_used', 0)}"
            for name, part in prepared.report.sources.items()
        ),
        heldout.TAG_TARGET_COLUMN: config.data.target_column,
        heldout.TAG_HELDOUT_ARTIFACT: heldout.HELDOUT_ARTIFACT,
        heldout.TAG_HELDOUT_SHA256: heldout.frame_sha256(heldout_frame),
        heldout.TAG_HELDOUT_ROWS: str(len(heldout_frame)),
        "modelgate.reference_artifact": REFERENCE_ARTIFACT,
        "modelgate.outlier_artifact": OUTLIER_ARTIFACT,
        TAG_FIELD_RANGES: field_ranges_tag(s.X_train),
        **exported.tags(),
    }

    with registry.tracking_run(
        experiment=config.mlflow.experiment, run_name=config.mlflow.run_name
    ) as run:
        run.log_params(_flatten(config.model_dump(mode="json")))
        run.log_metrics(scalar_metrics)
        run.log_dict(
            evaluated.metrics["confusion_matrix"], "evaluation/confusion_matrix.json"
        )
        run.log_dict(tests, "evaluation/model_tests.json")
        run.log_dict(fingerprint, "data/fingerprint.json")
        run.log_dict(prepared.report.as_dict(), "data/validation_report.json")
        run.log_text(card, "model_card.md")
        run.log_text(
            yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
            "config/params.yaml",
        )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            fitted.reference.to_parquet(folder / "reference.parquet")
            run.log_artifacts(folder, "reference")
            held = folder / "heldout"
            held.mkdir()
            heldout_frame.to_parquet(held / Path(heldout.HELDOUT_ARTIFACT).name)
            run.log_artifacts(held, str(Path(heldout.HELDOUT_ARTIFACT).parent))
            fitted.detector.save(folder / "outlier")
            run.log_artifacts(folder / "outlier", OUTLIER_ARTIFACT)
            exported.save(folder / "edge")
            run.log_artifacts(folder / "edge", EDGE_ARTIFACT_DIR)
        progress(
            "logged params, metrics, card, fingerprint, reference sample, detector, "
            f"edge export ({exported.status})"
        )
        model_uri = run.log_sklearn_model(
            fitted.model,
            input_sample=s.X_train.head(50),
            output_sample=fitted.model.predict(s.X_train.head(50)),
            input_example=s.X_test.head(2),
            serialization_format=config.mlflow.serialization_format,
            pip_requirements=_requirements(),
        )
        run.set_tags({**tags, "python": platform.python_version()})
        version = model_version_register(
            name=config.mlflow.registered_model,
            model_uri=model_uri,
            run_id=run.run_id,
            tags=tags,
            description=config.model.active.description,
        )
    progress(
        f"registered {config.mlflow.registered_model} version {version.version} "
        f"(run {run.run_id}, tests {'passed' if passed else 'FAILED'})"
    )
    logger.info(
        "trained %s v%s tests=%s",
        config.mlflow.registered_model,
        version.version,
        passed,
    )
    return Registered(
        config.mlflow.registered_model,
        version.version,
        run.run_id,
        passed,
        data=fingerprint,
        metrics={k: v for k, v in evaluated.metrics.items() if isinstance(v, float)},
        failures=[f"{f.name}: {f.detail}" for f in evaluated.tests.failures()],
    )

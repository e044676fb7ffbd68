"""The training configuration (params.yaml), validated strictly.

Every setting of a training run lives in one YAML file. Unknown or mistyped
keys, values of the wrong type and thresholds out of range are errors, reported
as one line naming the key (``ConfigError``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "false_positive_rate": (0.0, 1.0),
    "mcc": (-1.0, 1.0),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductionDataConfig(_Strict):
    """Labelled predictions from the log, added to the original data: the
    inputs of predictions served in a time range with the label their
    feedback gave (a prediction without a label adds no row)."""

    model: str | None = Field(
        None,
        description="Registered model whose predictions are read; default: "
        "mlflow.registered_model.",
    )
    days: int | None = Field(
        None, ge=1, le=3660, description="The last N days, up to the run's start."
    )
    since: datetime | None = Field(
        None, description="Start of the range (inclusive), instead of 'days'."
    )
    until: datetime | None = Field(
        None, description="End of the range (exclusive); default: the run's start."
    )

    @model_validator(mode="after")
    def _check(self) -> ProductionDataConfig:
        if (self.days is None) == (self.since is None):
            raise ValueError("data.production needs exactly one of 'days' or 'since'")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("data.production.until must be after 'since'")
        return self


class DataConfig(_Strict):
    source: Literal["file", "sklearn"] = "file"
    path: str | None = Field(
        None, description="Data file (source=file), relative to the config."
    )
    dataset: str | None = Field(
        None, description="scikit-learn loader name (source=sklearn)."
    )
    format: Literal["tsv", "csv"] = "tsv"
    header: bool = False
    columns: list[str] | None = Field(
        None, description="Column names of a header-less file."
    )
    target_column: str = "label"
    text_columns: list[str] = Field(default_factory=list)
    feature_columns: list[str] | None = Field(
        None, description="Input columns; default: every column but the target."
    )
    labels: dict[str, int] = Field(
        ..., description="Label encoding: every allowed label and its code."
    )
    positive_label: str
    drop_duplicates: bool = True
    min_rows: int = Field(50, ge=2)
    max_text_length: int = Field(10_000, ge=1)
    production: ProductionDataConfig | None = Field(
        None, description="Add labelled predictions from the log (off when absent)."
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("data.path is required when data.source is 'file'")
        if self.source == "sklearn" and not self.dataset:
            raise ValueError("data.dataset is required when data.source is 'sklearn'")
        if self.positive_label not in self.labels:
            raise ValueError(
                f"data.positive_label {self.positive_label!r} is not one of "
                f"data.labels {sorted(self.labels)}"
            )
        if len(set(self.labels.values())) != len(self.labels):
            raise ValueError("data.labels must give each label a distinct code")
        if len(self.labels) < 2:
            raise ValueError("data.labels needs at least two classes")
        return self


class SplitConfig(_Strict):
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    random_state: int = 42
    stratify: bool = True


class TransformerConfig(_Strict):
    name: str
    kind: Literal["tfidf", "count", "standard_scaler", "one_hot", "passthrough"]
    column: str | None = Field(None, description="Text column (tfidf, count).")
    columns: list[str] | Literal["*"] | None = Field(
        None,
        description="Columns (scalers, encoders); '*' means every non-text feature.",
    )
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> TransformerConfig:
        text = self.kind in ("tfidf", "count")
        if text and not self.column:
            raise ValueError(
                f"transformer {self.name!r}: kind {self.kind} needs 'column'"
            )
        if not text and self.columns is None:
            raise ValueError(
                f"transformer {self.name!r}: kind {self.kind} needs 'columns'"
            )
        return self


class EstimatorConfig(_Strict):
    kind: Literal[
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
        "linear_svc",
        "sgd",
    ]
    params: dict[str, Any] = Field(default_factory=dict)


class PipelineConfig(_Strict):
    description: str = ""
    transformers: list[TransformerConfig] = Field(..., min_length=1)
    estimator: EstimatorConfig


class ModelConfig(_Strict):
    pipeline: str = Field(
        ..., description="Name of the pipeline of 'pipelines' to train."
    )
    pipelines: dict[str, PipelineConfig] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.pipeline not in self.pipelines:
            raise ValueError(
                f"model.pipeline {self.pipeline!r} is not one of "
                f"{sorted(self.pipelines)}"
            )
        return self

    @property
    def active(self) -> PipelineConfig:
        return self.pipelines[self.pipeline]


class Threshold(_Strict):
    min: float | None = None
    max: float | None = None


class BehaviourCase(_Strict):
    name: str
    input: dict[str, Any]
    expect: str


class TestsConfig(_Strict):
    __test__ = False  # not a pytest class

    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    behaviour: list[BehaviourCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TestsConfig:
        for metric, bound in self.thresholds.items():
            if metric not in METRIC_RANGES:
                raise ValueError(
                    f"tests.thresholds.{metric}: unknown metric "
                    f"(known: {', '.join(sorted(METRIC_RANGES))})"
                )
            low, high = METRIC_RANGES[metric]
            if bound.min is None and bound.max is None:
                raise ValueError(f"tests.thresholds.{metric}: give 'min' or 'max'")
            for side, value in (("min", bound.min), ("max", bound.max)):
                if value is not None and not low <= value <= high:
                    raise ValueError(
                        f"tests.thresholds.{metric}.{side}={value} is out of range "
                        f"[{low}, {high}]"
                    )
        return self


class OutlierConfig(_Strict):
    contamination: float = Field(0.01, gt=0.0, lt=0.5)
    n_estimators: int = Field(100, ge=10, le=1000)
    random_state: int = 0


class ReferenceConfig(_Strict):
    sample_size: int = Field(2000, ge=50)
    cv_folds: int = Field(5, ge=2, le=20)
    random_state: int = 0


class ParityConfig(_Strict):
    """How close the ONNX export must be to scikit-learn on the held-out split."""

    min_label_agreement: float = Field(0.999, gt=0.0, le=1.0)
    max_probability_diff: float = Field(1e-4, gt=0.0, lt=1.0)


class EdgeConfig(_Strict):
    """The ONNX export for edge serving (the browser)."""

    export: bool = Field(True, description="Export each version to ONNX.")
    parity: ParityConfig = ParityConfig()


class MlflowConfig(_Strict):
    experiment: str
    run_name: str
    registered_model: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    serialization_format: Literal["cloudpickle", "skops"] = "cloudpickle"


class CardConfig(_Strict):
    title: str
    intended_use: str
    limitations: str
    data_source: str = ""


class TrainConfig(_Strict):
    """Root of params.yaml."""

    data: DataConfig
    split: SplitConfig = SplitConfig()
    model: ModelConfig
    tests: TestsConfig = TestsConfig()
    outliers: OutlierConfig = OutlierConfig()
    reference: ReferenceConfig = ReferenceConfig()
    edge: EdgeConfig = EdgeConfig()
    mlflow: MlflowConfig
    card: CardConfig

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        for case in self.tests.behaviour:
            if case.expect not in self.data.labels:
                raise ValueError(
                    f"tests.behaviour {case.name!r}: expect {case.expect!r} is not one "
                    f"of data.labels {sorted(self.data.labels)}"
                )
        return self

    def fingerprint(self) -> str:
        """Hash of the effective configuration (after overrides)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            if key in node:
                raise ConfigError(f"--set {dotted}: {key!r} is not a section")
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'split.test_size=0.3'`` → ``('split.test_size', 0.3)``, the value as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        return key, yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML ({exc})") from exc


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {where!r}"
    elif kind == "missing":
        message = f"missing key {where!r}"
    elif where:
        message = f"{where}: {err['msg']}"
    else:
        message = err["msg"]
    message = message.replace("Value error, ", "")
    more = len(exc.errors()) - 1
    return message + (f" (and {more} more problems)" if more else "")


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read, override and validate a params file. Raises ``ConfigError``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for text in overrides or []:
        _set_path(tree, *parse_override(text))
    try:
        config = TrainConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_format_error(exc)}") from exc
    data = config.data
    if data.path and not Path(data.path).is_absolute():
        resolved = (path.parent / data.path).resolve()
        data = data.model_copy(update={"path": str(resolved)})
    if data.production and not data.production.model:
        production = data.production.model_copy(
            update={"model": config.mlflow.registered_model}
        )
        data = data.model_copy(update={"production": production})
    return config.model_copy(update={"data": data})

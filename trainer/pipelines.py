"""Build a scikit-learn pipeline from the configuration.

Hyper-parameter names are checked against the estimator's own ``get_params()``
so a mistyped key fails before any fitting (``ConfigError``).
"""

from __future__ import annotations

from typing import Any

from trainer.config import (
    ConfigError,
    EstimatorConfig,
    PipelineConfig,
    TransformerConfig,
)


def _transformer_classes() -> dict[str, type]:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return {
        "tfidf": TfidfVectorizer,
        "count": CountVectorizer,
        "standard_scaler": StandardScaler,
        "one_hot": OneHotEncoder,
    }


def _estimator_classes() -> dict[str, type]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.svm import LinearSVC

    return {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "gradient_boosting": GradientBoostingClassifier,
        "linear_svc": LinearSVC,
        "sgd": SGDClassifier,
    }


def _yaml_to_python(params: dict[str, Any]) -> dict[str, Any]:
    # YAML has no tuples; scikit-learn wants ngram_range=(1, 2).
    return {
        k: tuple(v) if isinstance(v, list) and k.endswith("_range") else v
        for k, v in params.items()
    }


def _instantiate(cls: type, params: dict[str, Any], where: str) -> Any:
    allowed = set(cls().get_params())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown} for {cls.__name__}")
    try:
        return cls(**_yaml_to_python(params))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _transformer(config: TransformerConfig, numeric: list[str], where: str):
    if config.kind == "passthrough":
        return (
            config.name,
            "passthrough",
            numeric if config.columns == "*" else config.columns,
        )
    cls = _transformer_classes()[config.kind]
    instance = _instantiate(cls, config.params, where)
    if config.kind in ("tfidf", "count"):
        # A single column name (not a list) hands the vectoriser a 1-D array.
        return (config.name, instance, config.column)
    columns = numeric if config.columns == "*" else list(config.columns or [])
    return (config.name, instance, columns)


def _estimator(config: EstimatorConfig, random_state: int, where: str):
    cls = _estimator_classes()[config.kind]
    params = dict(config.params)
    if "random_state" in cls().get_params() and "random_state" not in params:
        params["random_state"] = random_state
    estimator = _instantiate(cls, params, where)
    if config.kind == "linear_svc" or (
        config.kind == "sgd" and params.get("loss", "hinge") == "hinge"
    ):
        # Margin classifiers have no predict_proba: calibrate them.
        from sklearn.calibration import CalibratedClassifierCV

        estimator = CalibratedClassifierCV(estimator, cv=5)
    return estimator


def build_pipeline(
    config: PipelineConfig,
    *,
    feature_columns: list[str],
    text_columns: list[str],
    random_state: int,
    pipeline_name: str = "pipeline",
):
    """A ``Pipeline(ColumnTransformer → estimator)`` over a DataFrame of features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    numeric = [c for c in feature_columns if c not in text_columns]
    parts = []
    for index, transformer in enumerate(config.transformers):
        where = f"model.pipelines.{pipeline_name}.transformers[{index}]"
        for column in [transformer.column] if transformer.column else []:
            if column not in feature_columns:
                raise ConfigError(f"{where}: column {column!r} is not a feature column")
        if isinstance(transformer.columns, list):
            missing = [c for c in transformer.columns if c not in feature_columns]
            if missing:
                raise ConfigError(f"{where}: columns {missing} are not feature columns")
        parts.append(_transformer(transformer, numeric, where))
    estimator = _estimator(
        config.estimator, random_state, f"model.pipelines.{pipeline_name}.estimator"
    )
    return Pipeline(
        [
            ("features", ColumnTransformer(parts, remainder="drop", n_jobs=None)),
            ("classifier", estimator),
        ]
    )

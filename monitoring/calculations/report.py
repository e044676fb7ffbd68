"""The computation of one monitoring report: a window of logged predictions
against the version's reference sample. Pure: DataFrames in, a JSON-able
summary out (the Celery job loads the data, this module does the maths).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.ml import textstats
from monitoring.calculations import performance
from monitoring.calculations.drift import (
    DESCRIPTOR,
    FEATURE,
    LABEL,
    PREDICTION,
    ColumnSpec,
    drift_share,
    drift_table,
)
from monitoring.calculations.methods import CAT, NUM, TEXT, finite
from monitoring.calculations.quality import data_quality

SUMMARY_VERSION = 1
TOP_OUTLIERS = 10


@dataclass
class ReportConfig:
    """Everything a report needs besides the data; the monitor supplies it."""

    feature_kinds: dict[str, str]
    #: {"num": (method, threshold), "cat": (...), "text": (...)}
    methods: dict[str, tuple[str, float]]
    #: {column: {"method": ..., "threshold": ..., "kind": ...}}
    overrides: dict[str, dict] = field(default_factory=dict)
    drift_share_limit: float = 0.5
    min_rows: int = 100
    text_sample_rows: int = 5000
    task: str = "classification"
    classes: list[str] = field(default_factory=list)
    positive_class: str | None = None
    reference_metrics: dict[str, float] = field(default_factory=dict)
    min_label_coverage: float = 0.5
    min_labels: int = 30
    performance_margin: float = 0.05
    max_text_length: int = 5000
    vocabulary: set[str] | None = None
    seed: int = 0


def _spec(column: str, kind: str, group: str, config: ReportConfig, **kw) -> ColumnSpec:
    override = config.overrides.get(column, {})
    kind = override.get("kind", kind)
    method, threshold = config.methods[kind]
    return ColumnSpec(
        name=column,
        kind=kind,
        method=override.get("method", method),
        threshold=float(override.get("threshold", threshold)),
        group=group,
        **kw,
    )


def text_sample(frame: pd.DataFrame, config: ReportConfig) -> pd.DataFrame:
    """The rows text drift is tested on (it fits a classifier): at most
    ``text_sample_rows``, drawn with the report's seed, in the drawn order."""
    n = config.text_sample_rows
    return frame.sample(n=n, random_state=config.seed) if len(frame) > n else frame


def _descriptors(
    frame: pd.DataFrame, column: str, vocab: set[str] | None
) -> pd.DataFrame:
    described = textstats.describe(frame[column], vocab)
    described.columns = [f"{column}.{name}" for name in described.columns]
    described.index = frame.index
    return described


def _vocabulary(reference: pd.DataFrame, config: ReportConfig) -> set[str] | None:
    """The word list of the text descriptors: the model's, or the
    reference's words seen at least twice."""
    texts = _text_columns(config)
    if not texts or config.vocabulary is not None:
        return config.vocabulary
    return textstats.vocabulary(
        pd.concat([reference[c] for c in texts if c in reference]).astype(str),
        min_count=2,
    )


def _with_descriptors(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: ReportConfig,
    vocab: set[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    texts = _text_columns(config)
    if not texts:
        return reference, current, []
    if vocab is None:
        vocab = _vocabulary(reference, config)
    ref_parts, cur_parts, names = [reference], [current], []
    for column in texts:
        if column not in reference.columns or column not in current.columns:
            continue
        ref_d = _descriptors(reference, column, vocab)
        cur_d = _descriptors(current, column, vocab)
        names.extend(ref_d.columns)
        ref_parts.append(ref_d)
        cur_parts.append(cur_d)
    return pd.concat(ref_parts, axis=1), pd.concat(cur_parts, axis=1), names


def _text_columns(config: ReportConfig) -> list[str]:
    return [c for c, k in config.feature_kinds.items() if k == TEXT]


def reference_statistics(reference: pd.DataFrame, config: ReportConfig) -> dict:
    """What the drift tests need of the reference side, computed once per
    (version, method configuration) and reused by every report: each tested
    column's values as its method reads them (missing values dropped;
    numeric columns sorted, categorical ones as value counts, text columns
    as the sample the domain classifier is fitted on), the text descriptors
    included. JSON-able, so it can be stored; ``reference_columns`` turns it
    back into series."""
    vocab = _vocabulary(reference, config)
    described, _unused, descriptor_columns = _with_descriptors(
        reference, reference.iloc[:0], config, vocab
    )
    proba = f"proba_{config.positive_class}" if config.positive_class else None
    specs = column_specs(
        config, descriptor_columns, proba if proba in reference.columns else None
    )
    texts = text_sample(described, config)
    columns: dict[str, dict] = {}
    for spec in specs:
        name = spec.reference_name or spec.name
        if name not in described.columns:
            continue
        if spec.kind == TEXT:
            values = finite(texts[name], TEXT).astype(str)
            columns[name] = {"kind": TEXT, "values": values.tolist()}
        elif spec.kind == NUM:
            values = np.sort(finite(described[name], NUM).to_numpy(dtype=float))
            columns[name] = {"kind": NUM, "values": values.tolist()}
        else:
            counts = finite(described[name], spec.kind).value_counts()
            columns[name] = {
                "kind": spec.kind,
                "counts": [[_plain(v), int(n)] for v, n in counts.items()],
            }
    return {
        "columns": columns,
        "descriptor_columns": descriptor_columns,
        "vocabulary": sorted(vocab) if vocab is not None else None,
    }


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def reference_columns(statistics: dict) -> dict[str, pd.Series]:
    """The reference series of ``reference_statistics`` (each method's
    input: the same values, the same counts)."""
    out = {}
    for name, column in statistics["columns"].items():
        if "counts" in column:
            values = [v for v, n in column["counts"] for _ in range(n)]
            out[name] = pd.Series(values, dtype=object, name=name)
        elif column["kind"] == NUM:
            out[name] = pd.Series(column["values"], dtype=float, name=name)
        else:
            out[name] = pd.Series(column["values"], dtype=object, name=name)
    return out


def drift_inputs(
    reference: pd.DataFrame, current: pd.DataFrame, config: ReportConfig
) -> tuple[pd.DataFrame, pd.DataFrame, list[ColumnSpec]]:
    """Both sides with the text descriptors added, and every column to test
    with its pinned method: what a report's drift verdicts are computed on
    (and what Evidently's HTML of the report is given)."""
    reference, current, descriptor_columns = _with_descriptors(
        reference, current, config
    )
    proba_column = (
        f"proba_{config.positive_class}"
        if config.positive_class and f"proba_{config.positive_class}" in current.columns
        else None
    )
    return reference, current, column_specs(config, descriptor_columns, proba_column)


def column_specs(
    config: ReportConfig, descriptor_columns: list[str], proba_column: str | None
) -> list[ColumnSpec]:
    """Feature, descriptor, prediction and label columns with pinned methods."""
    specs = [
        _spec(column, kind, FEATURE, config)
        for column, kind in config.feature_kinds.items()
    ]
    specs += [_spec(c, NUM, DESCRIPTOR, config) for c in descriptor_columns]
    target_kind = NUM if config.task == "regression" else CAT
    specs.append(_spec("prediction", target_kind, PREDICTION, config))
    if proba_column:
        specs.append(_spec(proba_column, NUM, PREDICTION, config))
    specs.append(_spec("label", target_kind, LABEL, config, reference_name="target"))
    return specs


def _outliers(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    if "is_outlier" not in current.columns or current.empty:
        return {"rows": len(current), "flagged": 0, "rate": None, "top": []}
    flags = current["is_outlier"].fillna(False).astype(bool)
    out: dict = {
        "rows": int(len(current)),
        "flagged": int(flags.sum()),
        "rate": float(flags.mean()),
        "top": [],
    }
    if "outlier_score" in current.columns:
        scores = pd.to_numeric(current["outlier_score"], errors="coerce")
        top = current.assign(_score=scores).dropna(subset=["_score"])
        top = top.nlargest(TOP_OUTLIERS, "_score")
        out["top"] = [
            {
                "prediction_id": str(row.get("prediction_id", "")),
                "score": float(row["_score"]),
                "flagged": bool(row.get("is_outlier", False)),
                "created_at": str(row.get("created_at", "")),
            }
            for _, row in top.iterrows()
        ]
    if "outlier_score" in reference.columns and "outlier_score" in current.columns:
        out["reference_mean_score"] = float(reference["outlier_score"].mean())
        out["mean_score"] = float(
            pd.to_numeric(current["outlier_score"], errors="coerce").mean()
        )
    return out


def report_compute(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: ReportConfig,
    *,
    rows_in_window: int | None = None,
    progress=None,
    reference_stats: dict | None = None,
) -> dict:
    """The summary of one window (see docs/monitoring.md, "Reading a report").

    ``reference_stats`` (``reference_statistics`` of this reference and
    configuration, usually stored) saves describing and preparing the
    reference side again; the verdicts are the same with or without it."""
    step = progress or (lambda _pct, _msg: None)
    rows = len(current)
    summary: dict = {
        "version": SUMMARY_VERSION,
        "rows": rows,
        "rows_in_window": rows_in_window if rows_in_window is not None else rows,
        "reference_rows": len(reference),
        "min_rows": config.min_rows,
        "status": "ok",
    }
    if rows < config.min_rows:
        summary["status"] = "no_data"
        summary["message"] = (
            f"{rows} predictions in the window, fewer than the minimum "
            f"{config.min_rows}: no drift verdict"
        )
        return summary

    step(30, "text descriptors")
    if reference_stats is None:
        reference_stats = reference_statistics(reference, config)
    ref_columns = reference_columns(reference_stats)
    vocab = reference_stats.get("vocabulary")
    _unused, current, _names = _with_descriptors(
        reference.iloc[:0], current, config, set(vocab) if vocab is not None else None
    )
    proba_column = (
        f"proba_{config.positive_class}"
        if config.positive_class and f"proba_{config.positive_class}" in current.columns
        else None
    )
    specs = column_specs(config, reference_stats["descriptor_columns"], proba_column)
    labelled = (
        current[current["label"].notna()] if "label" in current.columns else current[:0]
    )

    step(40, "feature and prediction drift")
    plain = [s for s in specs if s.kind != TEXT and s.group != LABEL]
    results = drift_table(ref_columns, current, plain, min_rows=config.min_rows)

    text_specs = [s for s in specs if s.kind == TEXT]
    if text_specs:
        step(60, "text drift (domain classifier)")
        cur_t = text_sample(current, config)
        results += drift_table(ref_columns, cur_t, text_specs, min_rows=config.min_rows)

    label_specs = [s for s in specs if s.group == LABEL]
    if len(labelled) >= config.min_labels:
        results += drift_table(ref_columns, labelled, label_specs, min_rows=1)

    step(75, "performance, outliers, data quality")
    share = drift_share(results, (FEATURE, DESCRIPTOR))
    share["limit"] = config.drift_share_limit
    share["dataset_drift"] = bool(
        share["columns"] and share["share"] >= config.drift_share_limit
    )
    prediction = [r for r in results if r.group == PREDICTION]
    label = [r for r in results if r.group == LABEL]
    summary["columns"] = [r.as_dict() for r in results]
    summary["feature_drift"] = share
    summary["prediction_drift"] = {
        "drifted": any(r.drifted for r in prediction),
        "columns": [r.column for r in prediction if r.drifted],
    }
    summary["label_drift"] = (
        {"drifted": label[0].drifted, "score": label[0].score, "labels": len(labelled)}
        if label and label[0].score is not None
        else None
    )
    summary["performance"] = performance.performance_summary(
        task=config.task,
        labelled_true=labelled["label"].tolist() if len(labelled) else [],
        labelled_pred=labelled["prediction"].tolist() if len(labelled) else [],
        predictions=rows,
        reference_metrics=config.reference_metrics,
        classes=config.classes,
        positive=config.positive_class,
        min_coverage=config.min_label_coverage,
        min_labels=config.min_labels,
        margin=config.performance_margin,
    )
    summary["outliers"] = _outliers(reference, current)
    summary["quality"] = data_quality(
        reference,
        current,
        config.feature_kinds,
        max_text_length=config.max_text_length,
    )
    return summary


def synthetic_frames(
    rows: int, *, drifted: tuple[str, ...] = (), seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Reference and current frames of 20 numeric and 5 categorical features
    plus a prediction, with ``drifted`` columns shifted in the current one
    (used by the benchmark and the tests)."""
    rng = np.random.default_rng(seed)

    def frame(shift: bool) -> pd.DataFrame:
        data = {}
        for i in range(20):
            name = f"num_{i}"
            values = rng.normal(loc=i, scale=1 + i / 10, size=rows)
            if shift and name in drifted:
                values = values + (1 + i / 10) * 0.8
            data[name] = values
        for i in range(5):
            name = f"cat_{i}"
            levels = np.array([f"c{j}" for j in range(4 + i)], dtype=object)
            p = np.linspace(1, 2, len(levels))
            if shift and name in drifted:
                p = p[::-1] ** 3
            # an object column sharing one str per level, like values parsed once
            data[name] = levels[rng.choice(len(levels), size=rows, p=p / p.sum())]
        score = data["num_0"] + rng.normal(size=rows)
        data["prediction"] = np.where(score > 0.5, "yes", "no").astype(object)
        return pd.DataFrame(data)

    kinds = {f"num_{i}": NUM for i in range(20)} | {f"cat_{i}": CAT for i in range(5)}
    return frame(False), frame(True), kinds

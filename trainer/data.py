"""Loading, validating, fingerprinting and splitting the training data."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from trainer.config import DataConfig, ProductionDataConfig, SplitConfig

#: Column naming the part a row came from while the data is validated.
SOURCE = "__source"


class DataError(Exception):
    """The data cannot be used for training; the message says why."""


@dataclass
class DataReport:
    """What validation found: counts per label, dropped rows, warnings."""

    rows_read: int
    rows_used: int
    label_counts: dict[str, int]
    duplicates: int
    duplicates_dropped: int
    empty_texts: int
    conflicting_duplicates: int
    sha256: str
    warnings: list[str] = field(default_factory=list)
    # per part (the original data, labelled production predictions): rows
    # read and used, share of the rows used, own fingerprint, time range
    sources: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Dataset:
    frame: pd.DataFrame  # features + target
    feature_columns: list[str]
    target_column: str
    report: DataReport


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _read_file(config: DataConfig) -> tuple[pd.DataFrame, str]:
    path = Path(config.path or "")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        frame = pd.read_csv(
            path,
            sep="\t" if config.format == "tsv" else ",",
            header=0 if config.header else None,
            names=None if config.header else config.columns,
            quoting=csv.QUOTE_NONE if config.format == "tsv" else csv.QUOTE_MINIMAL,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
        )
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"data file {path} cannot be parsed: {exc}") from exc
    return frame, digest


def _read_sklearn(config: DataConfig) -> tuple[pd.DataFrame, str]:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{config.dataset}", None)
    if loader is None:
        raise DataError(f"scikit-learn has no bundled data set {config.dataset!r}")
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [_snake(c) for c in frame.columns]
    names = list(getattr(bunch, "target_names", []))
    if names:
        frame["target"] = [str(names[int(i)]) for i in frame["target"]]
    frame = frame.rename(columns={"target": config.target_column})
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).values.tobytes()
    ).hexdigest()
    return frame, digest


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def production_window(
    config: ProductionDataConfig, *, now: datetime
) -> tuple[datetime, datetime]:
    """``[start, end)`` of the predictions to read."""
    end = _aware(config.until) if config.until else now
    start = _aware(config.since) if config.since else end - timedelta(days=config.days)
    return start, end


def _read_production(
    config: DataConfig, *, now: datetime
) -> tuple[pd.DataFrame, str, dict]:
    """Labelled predictions of the configured range, as rows of the data's
    columns, with their fingerprint (ids, inputs and labels, in order)."""
    from core.labelled import labelled_examples

    production = config.production
    start, end = production_window(production, now=now)
    examples = labelled_examples(model_name=production.model, start=start, end=end)
    hasher = hashlib.sha256()
    rows = []
    for example in examples:
        hasher.update(
            json.dumps(
                [example.prediction_id, example.inputs, example.label],
                sort_keys=True,
                default=str,
            ).encode()
            + b"\n"
        )
        rows.append({**example.inputs, config.target_column: str(example.label)})
    frame = pd.DataFrame(rows, dtype=object)
    info = {
        "model": production.model,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "labelled_predictions": len(examples),
        "versions": sorted({e.model_version for e in examples}),
    }
    return frame, hasher.hexdigest(), info


def _read_parts(config: DataConfig, *, now: datetime) -> tuple[pd.DataFrame, str, dict]:
    """The original data and, when configured, the labelled predictions, in
    one frame whose ``SOURCE`` column names each row's part."""
    base, digest = (
        _read_file(config) if config.source == "file" else _read_sklearn(config)
    )
    base[SOURCE] = config.source
    sources = {config.source: {"rows_read": len(base), "sha256": digest}}
    if config.production is None:
        return base, digest, sources
    production, production_digest, info = _read_production(config, now=now)
    production[SOURCE] = "production"
    sources["production"] = {
        "rows_read": len(production),
        "sha256": production_digest,
        **info,
    }
    combined = hashlib.sha256(
        f"{config.source}:{digest}\nproduction:{production_digest}".encode()
    ).hexdigest()
    return pd.concat([base, production], ignore_index=True), combined, sources


def load_dataset(config: DataConfig, *, now: datetime | None = None) -> Dataset:
    """Read and validate the data; raise ``DataError`` naming the first problem.

    With ``data.production`` the labelled predictions of the range (ending at
    ``now`` unless configured) are added to the original data: validated,
    de-duplicated and fingerprinted with it, each part's share recorded.
    """
    frame, digest, sources = _read_parts(config, now=now or datetime.now(UTC))
    rows_read = len(frame)
    target = config.target_column
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in the data ({list(frame.columns)})"
        )
    features = config.feature_columns or [
        c for c in frame.columns if c not in (target, SOURCE)
    ]
    missing = [c for c in features + config.text_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"columns {missing} are not in the data ({list(frame.columns)})"
        )
    unknown_text = [c for c in config.text_columns if c not in features]
    if unknown_text:
        raise DataError(f"text columns {unknown_text} are not feature columns")

    frame = frame[features + [target, SOURCE]].copy()
    frame[target] = frame[target].astype(str).str.strip()
    unknown = sorted(set(frame[target]) - set(config.labels))
    if unknown:
        raise DataError(
            f"unknown label(s) {unknown[:5]} in column {target!r}; "
            f"data.labels allows {sorted(config.labels)}"
        )

    warnings: list[str] = []
    empty = 0
    for column in config.text_columns:
        frame[column] = frame[column].fillna("").astype(str)
        is_empty = frame[column].str.strip() == ""
        empty += int(is_empty.sum())
        frame = frame[~is_empty]
        too_long = frame[column].str.len() > config.max_text_length
        if too_long.any():
            warnings.append(
                f"{int(too_long.sum())} texts in {column!r} longer than "
                f"{config.max_text_length} characters were cut"
            )
            frame[column] = frame[column].str.slice(0, config.max_text_length)
    if empty:
        warnings.append(f"{empty} rows with an empty text were dropped")

    numeric = [c for c in features if c not in config.text_columns]
    for column in numeric:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            raise DataError(
                f"column {column!r} has {int(bad.sum())} non-numeric values "
                f"(first: {frame.loc[bad, column].iloc[0]!r})"
            )
        frame[column] = converted.astype(float)

    # the original data comes first, so a labelled prediction repeating one
    # of its rows is the one dropped
    columns = features + [target]
    duplicated = frame.duplicated(subset=columns, keep="first")
    duplicates = int(duplicated.sum())
    conflicting = int(
        frame.drop_duplicates(subset=columns)
        .duplicated(subset=features, keep=False)
        .sum()
    )
    if conflicting:
        warnings.append(f"{conflicting} rows share inputs but have different labels")
    dropped = 0
    if config.drop_duplicates and duplicates:
        frame = frame[~duplicated]
        dropped = duplicates
    if duplicates:
        warnings.append(
            f"{duplicates} duplicate rows" + (" dropped" if dropped else " kept")
        )

    counts = frame[target].value_counts().to_dict()
    absent = [label for label in config.labels if counts.get(label, 0) == 0]
    if absent:
        raise DataError(f"label(s) {absent} have no rows after validation")
    if len(frame) < config.min_rows:
        raise DataError(
            f"only {len(frame)} usable rows; data.min_rows is {config.min_rows}"
        )

    used = frame[SOURCE].value_counts().to_dict()
    for name, part in sources.items():
        part["rows_used"] = int(used.get(name, 0))
        part["share"] = round(part["rows_used"] / len(frame), 6)
    frame = frame.drop(columns=SOURCE)

    report = DataReport(
        rows_read=rows_read,
        rows_used=len(frame),
        label_counts={str(k): int(v) for k, v in sorted(counts.items())},
        duplicates=duplicates,
        duplicates_dropped=dropped,
        empty_texts=empty,
        conflicting_duplicates=conflicting,
        sha256=digest,
        warnings=warnings,
        sources=sources,
    )
    return Dataset(frame.reset_index(drop=True), features, target, report)


@dataclass
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split_dataset(dataset: Dataset, config: SplitConfig) -> Split:
    """Stratified (by default) train/test split with a fixed seed."""
    from sklearn.model_selection import train_test_split

    X = dataset.frame[dataset.feature_columns]
    y = dataset.frame[dataset.target_column]
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=config.test_size,
        random_state=config.random_state,
        stratify=y if config.stratify else None,
    )
    return Split(
        X_train.reset_index(drop=True),
        X_test.reset_index(drop=True),
        y_train.reset_index(drop=True),
        y_test.reset_index(drop=True),
    )

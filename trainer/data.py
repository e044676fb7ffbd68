"""Loading, validating, fingerprinting and splitting the training data."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trainer.config import DataConfig, SplitConfig


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


def load_dataset(config: DataConfig) -> Dataset:
    """Read and validate the data; raise ``DataError`` naming the first problem."""
    frame, digest = (
        _read_file(config) if config.source == "file" else _read_sklearn(config)
    )
    rows_read = len(frame)
    target = config.target_column
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in the data ({list(frame.columns)})"
        )
    features = config.feature_columns or [c for c in frame.columns if c != target]
    missing = [c for c in features + config.text_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"columns {missing} are not in the data ({list(frame.columns)})"
        )
    unknown_text = [c for c in config.text_columns if c not in features]
    if unknown_text:
        raise DataError(f"text columns {unknown_text} are not feature columns")

    frame = frame[features + [target]].copy()
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

    duplicated = frame.duplicated(keep="first")
    duplicates = int(duplicated.sum())
    conflicting = int(
        frame.drop_duplicates().duplicated(subset=features, keep=False).sum()
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

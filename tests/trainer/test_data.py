from pathlib import Path

import pytest

from trainer.config import load_config
from trainer.data import DataError, load_dataset, split_dataset

ROOT = Path(__file__).resolve().parents[2]


def sms_config(tmp_path: Path, lines: list[str], **data):
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n")
    overrides = [f"data.path={path}", "data.min_rows=2"] + [
        f"data.{k}={v}" for k, v in data.items()
    ]
    return load_config(ROOT / "params.yaml", overrides).data


def test_bundled_collection_is_read_and_reported():
    config = load_config(ROOT / "params.yaml")
    dataset = load_dataset(config.data)
    report = dataset.report
    assert report.rows_read == 5017
    assert report.duplicates == 338
    assert report.duplicates_dropped == 338
    assert report.rows_used == 5017 - 338
    assert report.label_counts == {"ham": 4094, "spam": 585}
    assert len(report.sha256) == 64
    assert any("duplicate" in w for w in report.warnings)


def test_unknown_label_is_an_error(tmp_path):
    config = sms_config(tmp_path, ["ham\thello", "spam\tWIN", "eggs\tsomething"])
    with pytest.raises(DataError, match=r"unknown label\(s\) \['eggs'\]"):
        load_dataset(config)


def test_empty_texts_are_dropped_and_reported(tmp_path):
    config = sms_config(
        tmp_path, ["ham\thello", "ham\t   ", "spam\tWIN now", "ham\thi"]
    )
    dataset = load_dataset(config)
    assert dataset.report.empty_texts == 1
    assert dataset.report.rows_used == 3


def test_duplicates_can_be_kept(tmp_path):
    lines = ["ham\thello", "ham\thello", "spam\tWIN", "ham\tbye"]
    kept = load_dataset(sms_config(tmp_path, lines, drop_duplicates="false"))
    dropped = load_dataset(sms_config(tmp_path, lines))
    assert kept.report.rows_used == 4 and kept.report.duplicates == 1
    assert dropped.report.rows_used == 3


def test_missing_data_file(tmp_path):
    config = load_config(
        ROOT / "params.yaml", [f"data.path={tmp_path / 'gone.tsv'}"]
    ).data
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(config)


def test_missing_column(tmp_path):
    config = sms_config(tmp_path, ["ham\thello"], target_column="category")
    with pytest.raises(DataError, match="target column 'category'"):
        load_dataset(config)


def test_a_label_without_rows_is_an_error(tmp_path):
    config = sms_config(tmp_path, ["ham\thello", "ham\tbye"])
    with pytest.raises(DataError, match=r"\['spam'\] have no rows"):
        load_dataset(config)


def test_split_is_stratified_and_deterministic():
    config = load_config(ROOT / "params.yaml")
    dataset = load_dataset(config.data)
    a = split_dataset(dataset, config.split)
    b = split_dataset(dataset, config.split)
    assert a.X_test.equals(b.X_test)
    spam_share = (dataset.frame["label"] == "spam").mean()
    assert abs((a.y_test == "spam").mean() - spam_share) < 0.005
    assert len(a.X_test) == round(0.2 * len(dataset.frame))


def test_sklearn_source_snake_cases_columns():
    config = load_config(ROOT / "params-tabular.yaml")
    dataset = load_dataset(config.data)
    assert "mean_radius" in dataset.feature_columns
    assert len(dataset.feature_columns) == 30
    assert set(dataset.frame["diagnosis"]) == {"benign", "malignant"}

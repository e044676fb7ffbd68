"""The production data source: the original data plus labelled predictions of
the log (feedback joined by prediction id), on real PostgreSQL."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.ids import uuid7
from inference.models import Feedback, PredictionLog
from trainer.config import ConfigError, load_config
from trainer.data import DataError, load_dataset

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
MODEL = "sms-production-data"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _config(tmp_path: Path, lines: list[str], *overrides: str):
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n")
    return load_config(
        ROOT / "params.yaml",
        [
            f"data.path={path}",
            "data.min_rows=2",
            f"mlflow.registered_model={MODEL}",
            *overrides,
        ],
    ).data


def _logged(message: str, *, label=None, hours_ago: float = 1.0, model=MODEL):
    at = NOW - timedelta(hours=hours_ago)
    row = PredictionLog.objects.create(
        prediction_id=uuid7(at=at),
        model_name=model,
        model_version=1,
        inputs={"message": message},
        prediction="ham",
        latency_ms=1.0,
        created_at=at,
    )
    if label is not None:
        Feedback.objects.create(prediction=row, label=label)
    return row


BASE = ["ham\thello there", "spam\tWIN a prize now", "ham\tsee you at 7"]


def test_labelled_predictions_join_the_original_data(tmp_path):
    # given three labelled predictions, one unlabelled, one of another model
    _logged("free entry to win cash", label="spam")
    _logged("running late, sorry", label="ham")
    _logged("claim your reward today", label="spam", hours_ago=30)
    _logged("no label on this one")
    _logged("another model's row", label="spam", model="someone-else")
    config = _config(tmp_path, BASE, "data.production.days=7")

    # when
    dataset = load_dataset(config, now=NOW)

    # then: no label, no row; each part's share is recorded
    report = dataset.report
    messages = set(dataset.frame["message"])
    assert "no label on this one" not in messages
    assert "another model's row" not in messages
    assert {"free entry to win cash", "claim your reward today"} <= messages
    assert report.rows_read == 6 and report.rows_used == 6
    assert report.sources["file"]["rows_used"] == 3
    assert report.sources["production"]["rows_used"] == 3
    assert report.sources["production"]["share"] == pytest.approx(0.5)
    assert report.sources["production"]["labelled_predictions"] == 3
    assert report.sources["production"]["model"] == MODEL
    assert list(dataset.frame.columns) == ["message", "label"]


def test_the_time_range_limits_the_predictions(tmp_path):
    _logged("free entry to win cash", label="spam", hours_ago=2)
    _logged("old claim of a reward", label="spam", hours_ago=24 * 10)
    since = (NOW - timedelta(days=20)).isoformat()
    until = (NOW - timedelta(days=5)).isoformat()

    last_week = load_dataset(_config(tmp_path, BASE, "data.production.days=7"), now=NOW)
    earlier = load_dataset(
        _config(
            tmp_path,
            BASE,
            f"data.production.since='{since}'",
            f"data.production.until='{until}'",
        ),
        now=NOW,
    )

    assert "old claim of a reward" not in set(last_week.frame["message"])
    assert set(earlier.frame["message"]) - {line.split("\t")[1] for line in BASE} == {
        "old claim of a reward"
    }


def test_duplicates_across_parts_are_dropped_keeping_the_original(tmp_path):
    _logged("hello there", label="ham")  # repeats a row of the file
    _logged("free entry to win cash", label="spam")
    _logged("free entry to win cash", label="spam", hours_ago=2)

    report = load_dataset(
        _config(tmp_path, BASE, "data.production.days=1"), now=NOW
    ).report

    assert report.duplicates == 2
    assert report.rows_used == 4
    assert report.sources["file"]["rows_used"] == 3
    assert report.sources["production"]["rows_used"] == 1
    assert report.sources["production"]["share"] == pytest.approx(0.25)


def test_fingerprint_covers_the_labelled_rows(tmp_path):
    config = _config(tmp_path, BASE, "data.production.days=7")
    file_only = load_dataset(_config(tmp_path, BASE), now=NOW).report
    row = _logged("free entry to win cash", label="spam")
    first = load_dataset(config, now=NOW).report

    # a relabelled prediction changes the fingerprint, the file's stays
    Feedback.objects.filter(prediction_id=row.pk).update(label="ham")
    relabelled = load_dataset(config, now=NOW).report

    assert first.sha256 != file_only.sha256
    assert relabelled.sha256 != first.sha256
    assert relabelled.sources["file"]["sha256"] == file_only.sha256
    assert file_only.sources == {
        "file": {
            "rows_read": 3,
            "sha256": file_only.sha256,
            "rows_used": 3,
            "share": 1.0,
        }
    }


def test_a_label_the_model_does_not_know_is_an_error(tmp_path):
    _logged("free entry to win cash", label="maybe")

    with pytest.raises(DataError, match=r"unknown label\(s\) \['maybe'\]"):
        load_dataset(_config(tmp_path, BASE, "data.production.days=7"), now=NOW)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.production.model=x"], "exactly one of 'days' or 'since'"),
        (
            ["data.production.days=3", "data.production.since='2026-01-01T00:00Z'"],
            "exactly one of 'days' or 'since'",
        ),
        (["data.production.days=0"], "data.production.days"),
        (
            [
                "data.production.since='2026-02-01T00:00Z'",
                "data.production.until='2026-01-01T00:00Z'",
            ],
            "until must be after 'since'",
        ),
    ],
)
def test_bad_production_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "params.yaml", overrides)


def test_the_model_defaults_to_the_registered_one():
    config = load_config(ROOT / "params.yaml", ["data.production.days=30"])

    assert config.data.production.model == "sms-spam"

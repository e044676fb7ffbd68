from pathlib import Path

import pytest
import yaml

from trainer.config import ConfigError, load_config, parse_override

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, tree: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture
def tree() -> dict:
    tree = yaml.safe_load((ROOT / "params.yaml").read_text())
    tree["data"]["path"] = str(ROOT / "data/sms_spam/SMSSpamCollection")
    return tree


def test_shipped_configs_are_valid():
    sms = load_config(ROOT / "params.yaml")
    tabular = load_config(ROOT / "params-tabular.yaml")
    assert sms.model.pipeline == "tfidf_logreg"
    assert {"tfidf_logreg", "count_rf"} <= set(sms.model.pipelines)
    rf = sms.model.pipelines["count_rf"]
    assert rf.estimator.params == {"max_depth": 35, "n_estimators": 42, "n_jobs": 1}
    assert rf.transformers[0].params == {"max_features": 5000}
    assert Path(sms.data.path).is_file()  # resolved relative to the config file
    assert tabular.data.source == "sklearn"


def test_unknown_top_level_key_is_named(tmp_path, tree):
    tree["trainig"] = {}
    with pytest.raises(ConfigError, match="unknown key 'trainig'"):
        load_config(write(tmp_path, tree))


def test_mistyped_nested_key_is_named(tmp_path, tree):
    tree["split"]["tests_size"] = 0.3
    with pytest.raises(ConfigError, match="unknown key 'split.tests_size'"):
        load_config(write(tmp_path, tree))


def test_wrong_type_is_named(tmp_path, tree):
    tree["split"]["test_size"] = "a lot"
    with pytest.raises(ConfigError, match="split.test_size"):
        load_config(write(tmp_path, tree))


@pytest.mark.parametrize(
    ("metric", "bound", "value"),
    [("mcc", "min", 1.5), ("recall", "min", -0.1), ("false_positive_rate", "max", 2)],
)
def test_threshold_out_of_range(tmp_path, tree, metric, bound, value):
    tree["tests"]["thresholds"][metric] = {bound: value}
    with pytest.raises(
        ConfigError, match=rf"tests.thresholds.{metric}.{bound}=.* out of range"
    ):
        load_config(write(tmp_path, tree))


def test_unknown_metric_in_thresholds(tmp_path, tree):
    tree["tests"]["thresholds"]["mccc"] = {"min": 0.5}
    with pytest.raises(ConfigError, match="unknown metric"):
        load_config(write(tmp_path, tree))


def test_behaviour_case_with_unknown_label(tmp_path, tree):
    tree["tests"]["behaviour"][0]["expect"] = "spamm"
    with pytest.raises(ConfigError, match="'spamm' is not one of data.labels"):
        load_config(write(tmp_path, tree))


def test_positive_label_must_be_a_label(tmp_path, tree):
    tree["data"]["positive_label"] = "junk"
    with pytest.raises(ConfigError, match="positive_label 'junk'"):
        load_config(write(tmp_path, tree))


def test_unknown_pipeline_selected(tmp_path, tree):
    tree["model"]["pipeline"] = "xgboost"
    with pytest.raises(ConfigError, match="model.pipeline 'xgboost' is not one of"):
        load_config(write(tmp_path, tree))


def test_overrides_are_applied_and_validated():
    config = load_config(
        ROOT / "params.yaml",
        ["split.test_size=0.3", "model.pipeline=count_rf", "mlflow.run_name=x"],
    )
    assert config.split.test_size == 0.3
    assert config.model.pipeline == "count_rf"
    with pytest.raises(ConfigError, match="unknown key 'split.seed'"):
        load_config(ROOT / "params.yaml", ["split.seed=1"])


def test_parse_override():
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("a=true") == ("a", True)
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("nonsense")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_fingerprint_changes_with_settings():
    a = load_config(ROOT / "params.yaml")
    b = load_config(ROOT / "params.yaml", ["split.random_state=7"])
    assert a.fingerprint() == load_config(ROOT / "params.yaml").fingerprint()
    assert a.fingerprint() != b.fingerprint()

"""The train command end to end, against this session's local MLflow store."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from core import registry
from core.ml.evaluation import (
    HELDOUT_ARTIFACT,
    TAG_HELDOUT_ROWS,
    TAG_HELDOUT_SHA256,
    frame_sha256,
)
from core.registry import mlflow_store
from governance.models import ModelVersion

ROOT = Path(__file__).resolve().parents[2]
FAST = ["reference.cv_folds=2", "reference.sample_size=300", "outliers.n_estimators=20"]


def sets(*extra: str) -> list[str]:
    out = []
    for item in [*FAST, *extra]:
        out += ["--set", item]
    return out


def test_sms_model_meets_the_acceptance_bar_and_carries_every_artifact(
    sms_model, tmp_path
):
    # given the default SMS model trained by the session fixture
    name, version = sms_model.name, sms_model.version
    mirrored = ModelVersion.objects.get(registered_model__name=name, version=version)
    metrics = mirrored.metrics

    # then the held-out figures beat the bar of the paper
    assert metrics["mcc"] >= 0.92
    assert metrics["recall"] >= 0.90
    assert metrics["false_positive_rate"] <= 0.005
    for key in ("accuracy", "precision", "f1", "roc_auc"):
        assert 0.9 < metrics[key] <= 1.0
    assert mirrored.test_status == "passed"
    assert mirrored.classes == ["ham", "spam"]
    assert mirrored.signature["inputs"] == [
        {"type": "string", "name": "message", "required": True}
    ]
    assert "## Intended use" in mirrored.model_card
    assert "Confusion matrix" in mirrored.model_card

    # and MLflow holds every artifact of the version
    client = mlflow_store.client()
    run_id = client.get_model_version(name, str(version)).run_id
    paths = {a.path for a in client.list_artifacts(run_id)}
    assert {
        "model_card.md",
        "reference",
        "outlier",
        "data",
        "evaluation",
        "config",
    } <= paths
    fingerprint = json.loads(
        registry.run_artifact_text(run_id, "data/fingerprint.json")
    )
    assert fingerprint["rows_read"] == 5017 and len(fingerprint["sha256"]) == 64
    ref_dir = registry.run_artifact_download(run_id, "reference", tmp_path)
    reference = pd.read_parquet(ref_dir / "reference.parquet")
    assert {"message", "target", "prediction", "proba_ham", "proba_spam"} <= set(
        reference
    )
    assert reference[["proba_ham", "proba_spam"]].sum(axis=1).round(6).eq(1).all()
    outlier_dir = registry.run_artifact_download(run_id, "outlier", tmp_path)
    assert (outlier_dir / "detector.json").is_file()
    # the held-out split itself, identified by hash (the champion comparison)
    heldout = pd.read_parquet(
        registry.run_artifact_download(run_id, HELDOUT_ARTIFACT, tmp_path)
    )
    assert list(heldout.columns) == ["message", "label"]
    assert len(heldout) == metrics["rows_test"] == int(mirrored.tags[TAG_HELDOUT_ROWS])
    assert mirrored.tags[TAG_HELDOUT_SHA256] == frame_sha256(heldout)
    model_dir = registry.version_download(name, version, tmp_path / "model")
    assert (model_dir / "input_example.json").is_file()
    model = registry.model_load(model_dir)
    got = model.predict(
        pd.DataFrame({"message": ["WINNER! Claim your £1000 prize, call now"]})
    )
    assert list(got) == ["spam"]


def test_tabular_model_is_registered(tabular_model):
    mirrored = ModelVersion.objects.get(
        registered_model__name="breast-cancer", version=1
    )
    assert mirrored.test_status == "passed"
    assert len(mirrored.signature["inputs"]) == 30
    assert mirrored.signature["inputs"][0]["type"] == "double"
    assert mirrored.registered_model.task == "classification"


@pytest.mark.django_db
def test_same_config_and_data_give_the_same_metrics(trained_models):
    call_command("train", "--config", str(ROOT / "params.yaml"), *sets())
    versions = registry.version_list("sms-spam")
    a, b = versions[0], versions[-1]
    metrics_a, _, _ = registry.run_data(a.run_id)
    metrics_b, _, _ = registry.run_data(b.run_id)
    assert a.version != b.version
    for key in ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc"):
        assert metrics_a[key] == metrics_b[key]


@pytest.mark.django_db
def test_failing_model_tests_register_a_failed_version_and_exit_non_zero(
    trained_models,
):
    before = len(registry.version_list("sms-spam"))
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "train",
            "--config",
            str(ROOT / "params.yaml"),
            *sets("tests.thresholds.mcc.min=0.999", "mlflow.run_name=too-strict"),
        )
    assert exit_info.value.code == 1
    versions = registry.version_list("sms-spam")
    assert len(versions) == before + 1
    assert versions[-1].tags["modelgate.tests"] == "failed"
    mirrored = ModelVersion.objects.get(
        registered_model__name="sms-spam", version=versions[-1].version
    )
    assert mirrored.test_status == "failed"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainig.epochs=3", "unknown key 'trainig'"),
        (
            "data.path=/nonexistent/sms.tsv",
            "data file /nonexistent/sms.tsv does not exist",
        ),
        ("data.labels={ham: 0, junk: 1}", "unknown label(s) ['spam']"),
        (
            "tests.thresholds.mcc.min=1.5",
            "tests.thresholds.mcc.min=1.5 is out of range",
        ),
        (
            "model.pipelines.tfidf_logreg.estimator.params.Cc=3",
            "unknown parameter(s) ['Cc'] for LogisticRegression",
        ),
    ],
)
@pytest.mark.django_db
def test_bad_configuration_fails_with_one_clear_error_and_registers_nothing(
    trained_models, override, message
):
    before = len(registry.version_list("sms-spam"))
    overrides = [override]
    if override.startswith("data.labels"):
        overrides += ["data.positive_label=junk", "tests.behaviour=[]"]
    with pytest.raises(CommandError) as error:
        call_command("train", "--config", str(ROOT / "params.yaml"), *sets(*overrides))
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert len(registry.version_list("sms-spam")) == before


@pytest.mark.django_db
def test_if_absent_skips_a_registered_model(trained_models, capsys):
    before = len(registry.version_list("sms-spam"))
    call_command("train", "--config", str(ROOT / "params.yaml"), "--if-absent")
    assert len(registry.version_list("sms-spam")) == before
    assert "already registered" in capsys.readouterr().out


@pytest.mark.django_db
def test_stages_run_one_by_one_like_dvc(trained_models, tmp_path):
    before = len(registry.version_list("breast-cancer"))
    config = str(ROOT / "params-tabular.yaml")
    for stage in ("prepare", "train", "evaluate", "export"):
        call_command(
            "train", "--config", config, "--stage", stage, "--workdir", str(tmp_path)
        )
    assert (tmp_path / "prepare/train.parquet").is_file()
    assert (tmp_path / "train/model.joblib").is_file()
    metrics = json.loads((tmp_path / "evaluate/metrics.json").read_text())
    assert metrics["mcc"] > 0.85
    export = json.loads((tmp_path / "export/export.json").read_text())
    assert export["status"] == "passed"
    assert (tmp_path / "export/model.onnx").is_file()
    call_command(
        "train", "--config", config, "--stage", "register", "--workdir", str(tmp_path)
    )
    assert len(registry.version_list("breast-cancer")) == before + 1


def test_the_command_line_prints_one_error_line_and_exits_non_zero(tmp_path):
    env_db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "manage.py", "train", "--set", "trainig=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": env_db,
            "MODELGATE_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
        },
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["CommandError: params.yaml: unknown key 'trainig'"]

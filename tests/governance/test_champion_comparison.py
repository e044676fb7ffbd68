"""The champion comparison of the metrics check: the candidate and the champion
scored on one evaluation set (the candidate's held-out split), whatever data
each was trained on. A worse model trained on other data fails, naming the
metric and both figures; a better or equal one passes; a champion that cannot
be scored fails the check with the reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.choices import ChecksStatus
from governance.models import PromotionPolicy, PromotionRequest
from tests.conftest import FAST, ROOT

TINY_ROWS = 1000


@pytest.fixture
def gates_without_threshold(db):
    """Every policy gates MCC with the default margin (0.02) but no threshold,
    so the champion comparison alone decides the metrics check."""
    PromotionPolicy.objects.filter(
        is_active=True, target__in=["staging", "production"]
    ).update(metric_gates=[{"metric": "mcc", "direction": "higher", "margin": 0.02}])


@pytest.fixture
def train_tiny(tmp_path):
    """``train_tiny(name)``: a deliberately worse SMS model registered as the
    next version of ``name``: trained on 50 messages of a different data file
    (the first 1,000 messages, 95 % of them held out), no model tests."""
    from trainer.config import load_config
    from trainer.services import training_run

    lines = (ROOT / "data/sms_spam/SMSSpamCollection").read_text().splitlines()
    data = tmp_path / "tiny.tsv"
    data.write_text("\n".join(lines[:TINY_ROWS]) + "\n")

    def train(name: str) -> int:
        config = load_config(
            ROOT / "params.yaml",
            [
                *FAST,
                f"data.path={data}",
                "split.test_size=0.95",
                "tests.thresholds={}",
                "tests.behaviour=[]",
                "edge.export=false",
                f"mlflow.registered_model={name}",
            ],
        )
        return training_run(config=config, progress=lambda _m: None).version

    return train


def _metrics_check(request) -> dict:
    return next(c for c in request.evidence["checks"] if c["name"] == "metrics")


def test_a_worse_model_trained_on_other_data_fails_naming_both_figures(
    model_factory, in_production, open_request, train_tiny, gates_without_threshold
):
    # given the full SMS model in production (v1)
    name = model_factory(versions=1)
    in_production(name, 1)
    # when a model trained on 50 other messages asks for staging
    version = train_tiny(name)
    request = open_request(name, version, "staging")
    # then both were scored on the candidate's held-out split and it fails
    check = _metrics_check(request)
    assert check["outcome"] == "failed"
    assert request.checks_status == ChecksStatus.FAILED
    comparison = check["data"]["comparison"]
    assert comparison["error"] == ""
    evaluation = comparison["evaluation_set"]
    assert evaluation["source"] == f"held-out split of v{version}"
    tags = request.model_version.tags
    # 95 % of the 1,000 messages less duplicates
    assert evaluation["rows"] == int(tags["modelgate.heldout_rows"]) > 900
    assert evaluation["sha256"] == tags["modelgate.heldout_sha256"]
    ours, best = comparison["candidate"]["mcc"], comparison["champion"]["mcc"]
    assert ours < best - 0.02, (ours, best)
    assert (
        f"mcc {ours:.4f} is {best - ours:.4f} worse than the champion v1's "
        f"{best:.4f} on held-out split of v{version}"
    ) in check["detail"]
    row = check["data"]["gates"][0]
    assert (row["candidate_on_set"], row["champion"]) == (ours, best)


def test_the_comparison_is_stable_evidence(
    model_factory, in_production, open_request, train_tiny, gates_without_threshold
):
    from governance.hashing import evidence_digest
    from governance.services.checks import evidence_compute, promotion_checks_refresh

    name = model_factory(versions=1)
    in_production(name, 1)
    request = open_request(name, train_tiny(name), "staging")
    # scored again (the remembered figures forgotten): the same digest
    from django.core.cache import cache

    cache.clear()
    evidence, _status = evidence_compute(request=request)
    assert evidence_digest(evidence) == request.evidence_digest
    assert evidence["info"]["comparison"]["seconds"] >= 0
    assert promotion_checks_refresh(request_id=request.pk) is False


def test_a_better_model_passes(
    model_factory,
    in_production,
    open_request,
    train_tiny,
    trained_models,
    gates_without_threshold,
):
    from core import registry
    from governance.services import registered_model_sync

    # given the tiny model in production (v2)
    name = model_factory(versions=1)
    assert train_tiny(name) == 2
    in_production(name, 2)
    # when the full SMS model (trained on all the data) is v3
    source = registry.version_get("sms-spam", trained_models["sms-spam"].version)
    registry.version_register(
        name=name, model_uri=source.source, run_id=source.run_id, tags=source.tags
    )
    registered_model_sync(name=name)
    request = open_request(name, 3, "staging")
    # then it passes, better than the champion on its own held-out split
    check = _metrics_check(request)
    assert check["outcome"] == "passed", check["detail"]
    comparison = check["data"]["comparison"]
    assert comparison["candidate"]["mcc"] > comparison["champion"]["mcc"] + 0.02
    assert comparison["evaluation_set"]["source"] == "held-out split of v3"
    assert "vs the champion v2" in check["detail"]


def test_an_equal_model_passes_with_both_figures(
    model_factory, in_production, open_request
):
    name = model_factory(versions=2)  # two versions of one run
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    check = _metrics_check(request)
    assert check["outcome"] == "passed", check["detail"]
    row = check["data"]["gates"][0]
    assert row["delta"] == 0.0
    assert row["candidate_on_set"] == row["champion"] is not None
    assert row["compared"] == "on held-out split of v2"


def test_a_champion_that_cannot_be_scored_fails_the_check_with_the_reason(
    model_factory, in_production, open_request, trained_models, tmp_path, settings
):
    import shutil

    from core import registry
    from governance.services import registered_model_sync

    # given a champion whose model files are gone after it was promoted
    source = registry.version_get("sms-spam", trained_models["sms-spam"].version)
    copy = registry.version_download("sms-spam", source.version, tmp_path / "copy")
    name = model_factory(versions=1)
    for uri in (str(copy), source.source):  # v2 from the copy, v3 as trained
        registry.version_register(
            name=name, model_uri=uri, run_id=source.run_id, tags=source.tags
        )
    registered_model_sync(name=name)
    in_production(name, 2)
    shutil.rmtree(copy)
    # when v3 asks for staging
    request = open_request(name, 3, "staging")
    # then the metrics check fails and says why
    check = _metrics_check(request)
    assert check["outcome"] == "failed"
    assert request.checks_status == ChecksStatus.FAILED
    assert "not compared with the champion v2" in check["detail"]
    assert "the champion v2 could not be scored" in check["detail"]
    assert request.evidence["info"]["comparison"]["error"]


def test_a_candidate_without_a_heldout_set_is_not_passed(
    model_factory, in_production, open_request
):
    name = model_factory(versions=2, tags={2: {"modelgate.heldout_artifact": ""}})
    in_production(name, 1)
    request = open_request(name, 2, "staging")
    check = _metrics_check(request)
    assert check["outcome"] == "failed"
    assert "records no held-out set" in check["detail"]


# ------------------------------------------------- the policy's evaluation set
@pytest.fixture
def evaluation_sets(settings, tmp_path):
    """The evaluation-sets folder, holding ``sms-recent.csv``: the last 400
    messages of the SMS file (never seen by the tiny model)."""
    import csv

    folder = tmp_path / "evaluation-sets"
    folder.mkdir()
    settings.GOVERNANCE = {**settings.GOVERNANCE, "EVALUATION_SETS_DIR": folder}
    lines = (ROOT / "data/sms_spam/SMSSpamCollection").read_text().splitlines()
    with (folder / "sms-recent.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["message", "label"])
        for line in lines[-400:]:
            label, message = line.split("\t", 1)
            writer.writerow([message, label])
    return folder


def _evaluate_staging_on(people, name: str) -> None:
    from governance.services.policies import policy_update

    policy_update(user=people.admin, target="staging", changes={"evaluation_set": name})


def test_the_policy_evaluation_set_is_used_and_recorded_by_hash(
    people,
    model_factory,
    in_production,
    open_request,
    train_tiny,
    gates_without_threshold,
    evaluation_sets,
):
    import hashlib

    name = model_factory(versions=1)
    in_production(name, 1)
    version = train_tiny(name)
    _evaluate_staging_on(people, "sms-recent.csv")

    request = open_request(name, version, "staging")

    check = _metrics_check(request)
    comparison = check["data"]["comparison"]
    raw = (evaluation_sets / "sms-recent.csv").read_bytes()
    assert comparison["evaluation_set"] == {
        "source": "evaluation set sms-recent.csv (policy)",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "rows": 400,
    }
    assert check["outcome"] == "failed"
    ours, best = comparison["candidate"]["mcc"], comparison["champion"]["mcc"]
    assert (
        f"mcc {ours:.4f} is {best - ours:.4f} worse than the champion v1's "
        f"{best:.4f} on evaluation set sms-recent.csv (policy)"
    ) in check["detail"]


def test_equal_versions_pass_on_the_policy_evaluation_set(
    people, model_factory, in_production, open_request, evaluation_sets
):
    name = model_factory(versions=2)
    in_production(name, 1)
    _evaluate_staging_on(people, "sms-recent.csv")
    request = open_request(name, 2, "staging")
    check = _metrics_check(request)
    assert check["outcome"] == "passed", check["detail"]
    assert check["data"]["comparison"]["evaluation_set"]["rows"] == 400
    assert check["data"]["gates"][0]["delta"] == 0.0


def test_a_missing_policy_evaluation_set_fails_the_check(
    people, model_factory, in_production, open_request, evaluation_sets
):
    name = model_factory(versions=2)
    in_production(name, 1)
    _evaluate_staging_on(people, "gone.csv")
    request = open_request(name, 2, "staging")
    check = _metrics_check(request)
    assert check["outcome"] == "failed"
    assert "the policy's evaluation set gone.csv cannot be read" in check["detail"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("../secrets.csv", "not a path out of it"),
        ("/etc/passwd.csv", "not a path out of it"),
        ("notes.txt", "a .csv or .parquet file"),
    ],
)
def test_a_policy_names_only_a_file_in_the_evaluation_sets_folder(
    people, value, problem
):
    from core.exceptions import ApplicationError
    from governance.services.policies import policy_update

    with pytest.raises(ApplicationError) as caught:
        policy_update(
            user=people.admin, target="staging", changes={"evaluation_set": value}
        )
    assert problem in caught.value.extra["fields"]["evaluation_set"][0]


def test_numeric_models_are_compared_too(
    trained_models, in_production, open_request, model_factory
):
    from core import registry
    from governance.services import registered_model_sync

    # two versions of the tabular demo model (30 numeric inputs) under a
    # fresh name (model_factory's name, its SMS v1 left unpromoted)
    source = registry.version_get(
        "breast-cancer", trained_models["breast-cancer"].version
    )
    name = model_factory(versions=1)
    for _ in range(2):
        registry.version_register(
            name=name, model_uri=source.source, run_id=source.run_id, tags=source.tags
        )
    registered_model_sync(name=name)
    in_production(name, 2)

    request = open_request(name, 3, "staging")

    check = _metrics_check(request)
    assert check["outcome"] == "passed", check["detail"]
    comparison = check["data"]["comparison"]
    assert comparison["evaluation_set"]["rows"] == int(
        source.tags["modelgate.heldout_rows"]
    )
    assert comparison["candidate"]["mcc"] == comparison["champion"]["mcc"] > 0.8


# ------------------------------------------------------ never in a web request
PREDICTED: list[tuple[str, int]] = []  # (model, version) of each scoring


def counting_predictor(*, model_name: str, version: int, rows: list[dict]) -> dict:
    """A VERSION_PREDICTOR that records each call and scores like serving."""
    from inference.services.evaluate import version_predict

    PREDICTED.append((model_name, version))
    return version_predict(model_name=model_name, version=version, rows=rows)


def test_an_emergency_rollback_request_scores_nothing_in_the_web_request(
    client, people, model_factory, in_production, commits, settings
):
    # the rollback policy gates MCC too: the comparison would apply
    PromotionPolicy.objects.filter(target="rollback", is_active=True).update(
        metric_gates=[{"metric": "mcc", "direction": "higher", "margin": 0.02}]
    )
    settings.MODELGATE = {
        **settings.MODELGATE,
        "VERSION_PREDICTOR": f"{__name__}.counting_predictor",
    }
    name = model_factory(versions=2)
    in_production(name, 1)
    in_production(name, 2)
    # v2's checks (the task) scored both versions through the predictor
    assert {(name, 1), (name, 2)} <= set(PREDICTED)
    PREDICTED.clear()

    client.force_login(people.erin)
    with commits():
        response = client.post(
            reverse("governance:api-emergency-rollback", args=[name]),
            {"justification": "v2 misfires"},
            content_type="application/json",
        )

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "applied"
    assert PREDICTED == []
    request = PromotionRequest.objects.get(pk=response.json()["id"])
    comparison = _metrics_check(request)["data"]["comparison"]
    assert comparison["error"].startswith("not scored")

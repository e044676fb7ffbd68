"""The automated checks and the hashes as pure functions (no database)."""

from datetime import UTC, datetime

import pytest

from governance import checks
from governance.hashing import (
    GENESIS_HASH,
    canonical_json,
    event_body,
    event_hash,
    evidence_digest,
)

SPLIT = {"split.test_size": "0.2", "split.random_state": "42", "split.stratify": "True"}
SIG = {
    "inputs": [{"type": "string", "name": "message", "required": True}],
    "outputs": [{"type": "string", "required": True}],
}


def _fp(sha="a" * 64, split=SPLIT):
    return checks.heldout_fingerprint(
        tags={"modelgate.data_sha256": sha} if sha else {}, params=dict(split)
    )


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize(
    ("status", "outcome"),
    [("passed", "passed"), ("failed", "failed"), ("unknown", "failed")],
)
def test_model_tests_must_have_passed(status, outcome):
    assert checks.check_tests_passed(test_status=status).outcome == outcome


# ---------------------------------------------------------------- held-out
def test_same_data_and_split_is_comparable():
    ok, reason = checks.heldout_comparable(_fp(), _fp())
    assert ok, reason


@pytest.mark.parametrize(
    ("other", "fragment"),
    [
        (_fp(sha="b" * 64), "different data"),
        (_fp(split={**SPLIT, "split.random_state": "7"}), "different train/test split"),
        (_fp(sha=""), "no data fingerprint"),
        (_fp(split={"split.test_size": "0.2"}), "does not record"),
    ],
)
def test_different_heldout_sets_are_not_compared(other, fragment):
    ok, reason = checks.heldout_comparable(_fp(), other)
    assert not ok
    assert fragment in reason


# ----------------------------------------------------------------- metrics
GATE = {"metric": "mcc", "direction": "higher", "threshold": 0.8, "margin": 0.02}


def _metrics(value, champion=None, comparable=True, gates=(GATE,)):
    return checks.check_metrics(
        gates=list(gates),
        candidate={"mcc": value},
        champion=None if champion is None else {"mcc": champion},
        comparable=comparable,
        comparable_reason="same" if comparable else "different data",
    )


def test_metric_below_threshold_fails():
    result = _metrics(0.79)
    assert result.outcome == "failed"
    assert "threshold" in result.detail


def test_metric_worse_than_champion_beyond_margin_fails():
    assert _metrics(0.90, champion=0.93).outcome == "failed"
    assert _metrics(0.92, champion=0.93).outcome == "passed"  # within 0.02


def test_champion_not_compared_on_a_different_heldout_set():
    result = _metrics(0.85, champion=0.99, comparable=False)
    assert result.outcome == "passed"
    assert result.data["gates"][0]["compared"] == "not compared: different data"


def test_lower_is_better_metric():
    gate = {"metric": "fpr", "direction": "lower", "threshold": 0.01, "margin": 0.001}
    result = checks.check_metrics(
        gates=[gate],
        candidate={"fpr": 0.004},
        champion={"fpr": 0.002},
        comparable=True,
        comparable_reason="",
    )
    assert result.outcome == "failed"  # 0.002 worse than the champion
    result = checks.check_metrics(
        gates=[gate],
        candidate={"fpr": 0.0025},
        champion={"fpr": 0.002},
        comparable=True,
        comparable_reason="",
    )
    assert result.outcome == "passed"


def test_missing_or_nan_metric_fails():
    assert _metrics(float("nan")).outcome == "failed"
    result = checks.check_metrics(
        gates=[GATE],
        candidate={},
        champion=None,
        comparable=False,
        comparable_reason="",
    )
    assert "not logged" in result.detail


# --------------------------------------------------------------- signature
def test_signature_identical_is_compatible():
    assert checks.check_signature(candidate=SIG, champion=SIG).outcome == "passed"


def test_no_signature_fails():
    assert checks.check_signature(candidate={}, champion=SIG).outcome == "failed"


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ([{"type": "long", "name": "message", "required": True}], "changed type"),
        ([{"type": "string", "name": "text", "required": True}], "was removed"),
        (
            SIG["inputs"] + [{"type": "double", "name": "score", "required": True}],
            "new required input",
        ),
    ],
)
def test_breaking_signature_changes_fail(inputs, problem):
    result = checks.check_signature(
        candidate={"inputs": inputs, "outputs": SIG["outputs"]}, champion=SIG
    )
    assert result.outcome == "failed"
    assert problem in result.detail


def test_new_optional_input_is_compatible():
    inputs = SIG["inputs"] + [{"type": "double", "name": "score", "required": False}]
    result = checks.check_signature(
        candidate={"inputs": inputs, "outputs": SIG["outputs"]}, champion=SIG
    )
    assert result.outcome == "passed"


def test_output_type_change_fails():
    candidate = {"inputs": SIG["inputs"], "outputs": [{"type": "long"}]}
    assert checks.check_signature(candidate=candidate, champion=SIG).outcome == "failed"


# ---------------------------------------------------------- time and alerts
def test_staging_time():
    short = checks.check_staging_time(
        minutes_in_staging=30, minimum_minutes=60, since="t"
    )
    assert short.outcome == "failed"
    long = checks.check_staging_time(
        minutes_in_staging=61, minimum_minutes=60, since="t"
    )
    assert long.outcome == "passed"
    # the elapsed time is not part of the digest, the verdict is
    assert "minutes_in_staging" in long.info
    assert long.data["enough"] is True


def test_drift_alerts():
    assert checks.check_no_drift_alert(alerts=[]).outcome == "passed"
    alert = {"id": 3, "severity": "critical", "rule": "drift_share", "title": "drift"}
    assert checks.check_no_drift_alert(alerts=[alert]).outcome == "failed"
    skipped = checks.check_no_drift_alert(
        alerts=None, unavailable="monitoring not installed"
    )
    assert skipped.outcome == "skipped"
    assert "monitoring not installed" in skipped.detail


def test_summary_blocks_only_on_required_failures():
    failed_optional = checks.CheckResult("metrics", "failed", "x", required=False)
    skipped_required = checks.CheckResult(
        "no_drift_alert", "skipped", "x", required=True
    )
    assert checks.checks_summary([failed_optional, skipped_required]) == "passed"
    failed_required = checks.CheckResult("metrics", "failed", "x", required=True)
    assert checks.checks_summary([failed_required]) == "failed"


# ------------------------------------------------------------------ hashes
def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json(
        {"a": [1, 2], "b": 1}
    )
    with pytest.raises(ValueError, match="Out of range"):
        canonical_json({"x": float("nan")})


def test_event_hash_changes_with_any_field_and_with_the_previous_hash():
    body = event_body(
        sequence=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        kind="applied",
        actor="alice",
        actor_id=1,
        model_name="m",
        alias="production",
        version=2,
        request_ref=5,
        payload={"a": 1},
    )
    base = event_hash(GENESIS_HASH, body)
    assert event_hash(GENESIS_HASH, {**body, "version": 3}) != base
    assert event_hash(GENESIS_HASH, {**body, "payload": {"a": 2}}) != base
    assert event_hash("1" * 64, body) != base


def test_evidence_digest_ignores_volatile_parts():
    evidence = {"checks": [{"name": "x", "info": {"minutes": 1}}], "computed_at": "t1"}
    later = {"checks": [{"name": "x", "info": {"minutes": 9}}], "computed_at": "t2"}
    assert evidence_digest(evidence) == evidence_digest(later)
    changed = {"checks": [{"name": "y", "info": {}}], "computed_at": "t1"}
    assert evidence_digest(changed) != evidence_digest(evidence)

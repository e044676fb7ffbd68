"""The automated checks and the hashes as pure functions (no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from governance import checks
from governance.hashing import (
    GENESIS_HASH,
    canonical_json,
    event_body,
    event_hash,
    evidence_digest,
)

SIG = {
    "inputs": [{"type": "string", "name": "message", "required": True}],
    "outputs": [{"type": "string", "required": True}],
}


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize(
    ("status", "outcome"),
    [("passed", "passed"), ("failed", "failed"), ("unknown", "failed")],
)
def test_model_tests_must_have_passed(status, outcome):
    assert checks.check_tests_passed(test_status=status).outcome == outcome


# ----------------------------------------------------------------- metrics
GATE = {"metric": "mcc", "direction": "higher", "threshold": 0.8, "margin": 0.02}
SET = {"source": "held-out split of v2", "sha256": "e" * 64, "rows": 1004}


def _compared(candidate, champion, *, metric="mcc", error=""):
    return {
        "champion_version": 1,
        "evaluation_set": None if error else SET,
        "candidate": {} if error else {metric: candidate},
        "champion": {} if error else {metric: champion},
        "error": error,
    }


def _metrics(value, on_set=None, champion=None, gates=(GATE,), error=""):
    comparison = None
    if champion is not None or error:
        comparison = _compared(
            value if on_set is None else on_set, champion, error=error
        )
    return checks.check_metrics(
        gates=list(gates), candidate={"mcc": value}, comparison=comparison
    )


def test_metric_below_threshold_fails():
    result = _metrics(0.79)
    assert result.outcome == "failed"
    assert "threshold" in result.detail


def test_no_champion_is_judged_on_the_threshold_alone():
    result = _metrics(0.85)
    assert result.outcome == "passed"
    assert result.data["gates"][0]["compared"] == "no champion"


def test_metric_worse_than_champion_beyond_margin_fails_naming_both_figures():
    result = _metrics(0.95, on_set=0.90, champion=0.93)
    assert result.outcome == "failed"
    assert "mcc 0.9000 is 0.0300 worse than the champion v1's 0.9300" in result.detail
    assert "held-out split of v2" in result.detail
    assert _metrics(0.95, on_set=0.92, champion=0.93).outcome == "passed"  # margin


def test_the_comparison_uses_the_figures_on_the_shared_set_not_the_logged_ones():
    # logged 0.99 on its own (easier) held-out split; 0.70 on the shared set
    result = _metrics(0.99, on_set=0.70, champion=0.90)
    assert result.outcome == "failed"
    row = result.data["gates"][0]
    assert (row["value"], row["candidate_on_set"], row["champion"]) == (0.99, 0.7, 0.9)
    assert row["delta"] == -0.2
    assert result.data["comparison"]["evaluation_set"] == SET


def test_a_comparison_that_could_not_be_made_fails_with_its_reason():
    result = _metrics(0.95, error="the champion v1 could not be scored (OSError)")
    assert result.outcome == "failed"
    assert "could not be scored (OSError)" in result.detail
    assert result.data["gates"][0]["compared"].startswith("not compared")


def test_a_figure_missing_on_the_shared_set_fails():
    result = checks.check_metrics(
        gates=[GATE],
        candidate={"mcc": 0.95},
        comparison={**_compared(0.95, 0.9), "champion": {"mcc": None}},
    )
    assert result.outcome == "failed"
    assert "cannot be computed for the champion v1" in result.detail


def test_lower_is_better_metric():
    gate = {"metric": "fpr", "direction": "lower", "threshold": 0.01, "margin": 0.001}

    def run(ours):
        return checks.check_metrics(
            gates=[gate],
            candidate={"fpr": ours},
            comparison=_compared(ours, 0.002, metric="fpr"),
        )

    assert run(0.004).outcome == "failed"  # 0.002 worse than the champion
    assert run(0.0025).outcome == "passed"


def test_missing_or_nan_metric_fails():
    assert _metrics(float("nan")).outcome == "failed"
    result = checks.check_metrics(gates=[GATE], candidate={}, comparison=None)
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
T0 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def _staging(segments, minimum, now):
    progress = checks.staging_progress(
        segments=segments, minimum_minutes=minimum, now=now
    )
    return checks.check_staging_time(
        progress=progress, minimum_minutes=minimum, now=now
    )


def test_staging_time():
    short = _staging([(T0, None)], 60, T0 + timedelta(minutes=30))
    assert short.outcome == "failed"
    assert "passes at 2026-12-04 15:00 UTC" in short.detail
    long = _staging([(T0, None)], 60, T0 + timedelta(minutes=61))
    assert long.outcome == "passed"
    # the elapsed time is not part of the digest, the verdict is
    assert "minutes_in_staging" in long.info
    assert long.data["enough"] is True
    assert long.data["passes_at"] == "2026-12-04T15:00:00.000000+00:00"


def test_staging_time_evidence_does_not_move_with_the_clock():
    """Only the verdict may change the digested part, never elapsed time."""
    from governance.hashing import evidence_digest

    def digest(minutes):
        result = _staging([(T0, None)], 1440, T0 + timedelta(minutes=minutes))
        return evidence_digest({"checks": [result.as_dict()]})

    assert len({digest(m) for m in (1, 5, 60, 600, 1439)}) == 1
    assert digest(1440) != digest(1439)  # the verdict moved: passed


def test_staging_time_adds_periods_and_needs_the_alias_now():
    hour = timedelta(hours=1)
    periods = [(T0, T0 + hour), (T0 + 3 * hour, None)]
    # 60 + 30 minutes held: passes 60 minutes into the second period
    result = _staging(periods, 120, T0 + 3 * hour + timedelta(minutes=30))
    assert result.outcome == "failed"
    assert result.data["passes_at"].startswith("2026-12-04T18:00")
    # alias taken away before the minimum: no date to promise
    gone = _staging([(T0, T0 + hour)], 120, T0 + 5 * hour)
    assert gone.outcome == "failed"
    assert gone.data["passes_at"] is None
    assert "no longer in staging" in gone.detail
    never = _staging([], 60, T0)
    assert never.outcome == "failed"
    assert "never in staging" in never.detail


def test_drift_alerts():
    assert checks.check_no_drift_alert(alerts=[]).outcome == "passed"
    alert = {
        "id": 3,
        "severity": "critical",
        "rule": "drift_share_above",
        "title": "drift",
    }
    assert checks.check_no_drift_alert(alerts=[alert]).outcome == "failed"
    skipped = checks.check_no_drift_alert(
        alerts=None, unavailable="monitoring not installed"
    )
    assert skipped.outcome == "skipped"
    assert "monitoring not installed" in skipped.detail


def test_which_alerts_block():
    def alert(id, severity, rule):
        return {"id": id, "severity": severity, "rule": rule, "title": "t"}

    harmless = [
        alert(1, "info", "no_traffic"),
        alert(2, "warning", "error_rate_above"),
        alert(3, "info", "drift_share_above"),
    ]
    result = checks.check_no_drift_alert(alerts=harmless, candidate_version=2)
    assert result.outcome == "passed"
    assert len(result.info["not_blocking"]) == 3
    on_champion = checks.check_no_drift_alert(
        alerts=harmless,
        champion_alerts=[alert(4, "warning", "metric_below")],
        champion_version=1,
        candidate_version=2,
    )
    assert on_champion.outcome == "failed"
    assert on_champion.data["open_alerts"] == [
        {
            "id": 4,
            "severity": "warning",
            "rule": "metric_below",
            "on": "champion",
            "version": 1,
            "url": None,
        }
    ]
    assert "metric_below on the champion v1" in on_champion.detail


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

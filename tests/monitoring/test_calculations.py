"""Drift statistics against Evidently 0.7's own implementations, and the pure
pieces of a report (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring.calculations import latency, rules, windows
from monitoring.calculations.drift import ColumnSpec, column_drift, drift_share
from monitoring.calculations.methods import CAT, METHODS, NUM, TEXT, method_get
from monitoring.calculations.performance import performance_summary
from monitoring.calculations.quality import data_quality
from monitoring.calculations.report import (
    ReportConfig,
    report_compute,
    synthetic_frames,
)
from monitoring.calculations.status import model_status


@pytest.fixture(scope="module")
def evidently_tests():
    from evidently.legacy.calculations.stattests import registry as reg
    from evidently.legacy.core import ColumnType

    def run(name: str, ref: pd.Series, cur: pd.Series, kind: str, threshold: float):
        column_type = {NUM: ColumnType.Numerical, CAT: ColumnType.Categorical}[kind]
        test = reg.get_registered_stattest(name, column_type)
        # Evidently drops NaN and infinities before testing, as get_one_column_drift
        ref = ref.replace([np.inf, -np.inf], np.nan).dropna()
        cur = cur.replace([np.inf, -np.inf], np.nan).dropna()
        result = test(ref, cur, column_type, threshold)
        return result.drift_score, result.drifted

    return run


def _num_pair(rng, shift: float, n: int = 3000):
    ref = pd.Series(rng.normal(0, 1, n))
    cur = pd.Series(rng.normal(shift, 1, n))
    cur.iloc[:7] = np.nan
    cur.iloc[7] = np.inf
    return ref, cur


def _cat_pair(rng, skew: bool, n: int = 3000):
    levels = [f"l{i}" for i in range(12)]
    ref = pd.Series(rng.choice(levels, n))
    p = np.linspace(1, 3, 12) if skew else np.ones(12)
    cur = pd.Series(rng.choice(levels + ["new"], n, p=np.r_[p, 0.5] / (p.sum() + 0.5)))
    cur.iloc[:5] = None
    return ref, cur


@pytest.mark.parametrize("name", ["wasserstein", "ks", "jensenshannon", "psi"])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_numeric_methods_match_evidently(evidently_tests, name, shift):
    # given
    rng = np.random.default_rng(7)
    ref, cur = _num_pair(rng, shift)
    threshold = METHODS[name].default_threshold
    # when
    ours = column_drift(ref, cur, ColumnSpec("x", NUM, name, threshold))
    score, drifted = evidently_tests(name, ref, cur, NUM, threshold)
    # then
    assert ours.score == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert ours.drifted == drifted


def test_low_cardinality_numeric_counts_values_like_evidently(evidently_tests):
    rng = np.random.default_rng(3)
    ref = pd.Series(rng.integers(0, 5, 2000).astype(float))
    cur = pd.Series(rng.integers(0, 7, 2000).astype(float))
    ours = column_drift(ref, cur, ColumnSpec("x", NUM, "jensenshannon", 0.1))
    score, drifted = evidently_tests("jensenshannon", ref, cur, NUM, 0.1)
    assert ours.score == pytest.approx(score)
    assert ours.drifted == drifted


@pytest.mark.parametrize("name", ["jensenshannon", "psi", "chisquare"])
@pytest.mark.parametrize("skew", [False, True])
def test_categorical_methods_match_evidently(evidently_tests, name, skew):
    rng = np.random.default_rng(11)
    ref, cur = _cat_pair(rng, skew)
    threshold = METHODS[name].default_threshold
    ours = column_drift(ref, cur, ColumnSpec("c", CAT, name, threshold))
    score, drifted = evidently_tests(name, ref, cur, CAT, threshold)
    assert ours.score == pytest.approx(score, rel=1e-9)
    assert ours.drifted == drifted


def test_text_domain_classifier_matches_evidently():
    from evidently.legacy.utils.data_drift_utils import calculate_text_drift_score

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    ref = pd.Series([" ".join(rng.choice(words[:200], 8)) for _ in range(600)])
    cur = pd.Series([" ".join(rng.choice(words[100:], 8)) for _ in range(600)])
    ours = column_drift(ref, cur, ColumnSpec("t", TEXT, "abs_text_content_drift", 0.55))
    score, drifted = calculate_text_drift_score(ref, cur, bootstrap=False)
    assert ours.score == pytest.approx(score)
    assert ours.drifted == drifted is True


def test_method_must_fit_the_column_kind():
    with pytest.raises(ValueError, match="does not apply"):
        method_get("chisquare", NUM)
    with pytest.raises(ValueError, match="unknown"):
        method_get("nope", NUM)


def test_too_few_values_gives_no_verdict():
    result = column_drift(
        pd.Series([1.0, 2.0]),
        pd.Series([np.nan, np.nan, 1.0]),
        ColumnSpec("x", NUM, "wasserstein", 0.1),
        min_rows=2,
    )
    assert result.score is None and not result.drifted and result.error


def _config(kinds, **kw):
    return ReportConfig(
        feature_kinds=kinds,
        methods={
            NUM: ("wasserstein", 0.1),
            CAT: ("jensenshannon", 0.1),
            TEXT: ("abs_text_content_drift", 0.55),
        },
        min_rows=100,
        **kw,
    )


def test_report_flags_exactly_the_drifted_columns():
    drifted = ("num_1", "num_7", "num_15", "cat_0", "cat_3")
    ref, cur, kinds = synthetic_frames(4000, drifted=drifted, seed=1)
    summary = report_compute(ref, cur, _config(kinds))
    assert sorted(summary["feature_drift"]["drifted_columns"]) == sorted(drifted)
    assert summary["feature_drift"]["share"] == pytest.approx(5 / 25)
    by_column = {c["column"]: c for c in summary["columns"]}
    assert by_column["num_1"]["method"] == "wasserstein"
    assert by_column["cat_0"]["method"] == "jensenshannon"
    assert by_column["num_1"]["threshold"] == 0.1


def test_report_on_reference_like_window_finds_no_drift():
    ref, cur, kinds = synthetic_frames(4000, seed=2)
    summary = report_compute(ref, cur, _config(kinds))
    assert summary["feature_drift"]["drifted"] == 0
    assert not summary["prediction_drift"]["drifted"]


def test_report_below_minimum_rows_is_not_enough_data():
    ref, cur, kinds = synthetic_frames(50, seed=2)
    summary = report_compute(ref, cur, _config(kinds))
    assert summary["status"] == "no_data"
    assert model_status(summary, drift_share_limit=0.5) == "no_data"


def test_text_columns_drift_through_descriptors_and_domain_classifier():
    rng = np.random.default_rng(5)
    normal = ["see you at the station", "are we still on for dinner", "call me"]
    spammy = ["WIN £1000 now!!! call 09061701461", "FREE entry www.win.com txt 8007"]
    ref = pd.DataFrame({"message": rng.choice(normal, 800), "prediction": "ham"})
    cur = pd.DataFrame({"message": rng.choice(spammy, 800), "prediction": "ham"})
    summary = report_compute(ref, cur, _config({"message": TEXT}))
    drifted = set(summary["feature_drift"]["drifted_columns"])
    assert "message" in drifted
    assert {"message.digit_share", "message.has_currency"} <= drifted
    assert summary["quality"]["message"]["kind"] == TEXT


def test_label_drift_and_concept_drift_from_feedback():
    rng = np.random.default_rng(9)
    n = 1000
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "target": rng.choice(["ham", "spam"], n, p=[0.85, 0.15]),
        }
    )
    ref["prediction"] = ref["target"]
    cur = pd.DataFrame({"x": rng.normal(size=n)})
    cur["prediction"] = rng.choice(["ham", "spam"], n, p=[0.85, 0.15])
    # labels arrive for 60 % and say spam far more often than predicted
    labels = np.where(rng.random(n) < 0.5, "spam", cur["prediction"])
    cur["label"] = np.where(rng.random(n) < 0.6, labels, None)
    config = _config(
        {"x": NUM},
        classes=["ham", "spam"],
        positive_class="spam",
        reference_metrics={"accuracy": 0.98, "recall": 0.95, "mcc": 0.9},
    )
    summary = report_compute(ref, cur, config)
    assert summary["label_drift"]["drifted"] is True
    perf = summary["performance"]
    assert perf["coverage"] == pytest.approx(0.6, abs=0.05)
    assert perf["provisional"] is False
    assert perf["degraded"] is True
    assert perf["metrics"]["recall"]["degraded"] is True
    assert model_status(summary, drift_share_limit=0.5) == "degraded"


def test_performance_is_provisional_below_coverage():
    out = performance_summary(
        task="classification",
        labelled_true=["a"] * 40,
        labelled_pred=["a"] * 40,
        predictions=1000,
        reference_metrics={"accuracy": 0.9},
        classes=["a", "b"],
        positive="b",
        min_coverage=0.1,
        min_labels=30,
        margin=0.05,
    )
    assert out["provisional"] is True and out["degraded"] is False


def test_data_quality_counts_missing_out_of_range_unseen_and_long_texts():
    ref = pd.DataFrame(
        {"n": [0.0, 1.0, 2.0], "c": ["a", "b", "a"], "t": ["x", "y", "z"]}
    )
    cur = pd.DataFrame(
        {
            "n": [5.0, None, 1.0, -1.0],
            "c": ["a", "zz", None, "q"],
            "t": ["ok", "x" * 50, None, "y"],
        }
    )
    q = data_quality(ref, cur, {"n": NUM, "c": CAT, "t": TEXT}, max_text_length=10)
    assert q["n"]["missing"] == 1 and q["n"]["out_of_range"] == 2
    assert q["c"]["unseen"] == 2 and q["c"]["unseen_values"] == ["q", "zz"]
    assert q["t"]["over_long"] == 1


def test_latency_percentiles_from_buckets():
    counts = latency.empty_histogram()
    for value in [0.5] * 50 + [8.0] * 45 + [400.0] * 5:
        counts[latency.bucket_index(value)] += 1
    assert latency.percentile(counts, 0.5) <= 1.0
    assert 7.5 <= latency.percentile(counts, 0.95) <= 10.0
    assert 250 <= latency.percentile(counts, 0.99) <= 500
    assert latency.percentile(latency.empty_histogram(), 0.5) is None


def test_windows_are_aligned():
    now = datetime(2026, 3, 4, 10, 17, tzinfo=UTC)
    start, end = windows.last_complete_window(now, 60)
    assert (start.hour, end.hour, end.minute) == (9, 10, 0)
    assert len(windows.windows_between(start, now, 15)) == 6


@pytest.mark.parametrize(
    ("rule", "facts", "fired"),
    [
        (rules.RuleSpec(rules.DRIFT_SHARE_ABOVE, 0.3), {"drift_share": 0.4}, True),
        (rules.RuleSpec(rules.DRIFT_SHARE_ABOVE, 0.3), {"drift_share": 0.2}, False),
        (
            rules.RuleSpec(rules.FEATURE_DRIFTED, column="a"),
            {"tested_columns": ["a"], "drifted_columns": ["a"]},
            True,
        ),
        (
            rules.RuleSpec(rules.FEATURE_DRIFTED, column="b"),
            {"tested_columns": ["a"]},
            None,
        ),
        (
            rules.RuleSpec(rules.METRIC_BELOW, 0.9, metric="f1"),
            {"metrics": {"f1": 0.8}, "provisional": False},
            True,
        ),
        (
            rules.RuleSpec(rules.METRIC_BELOW, 0.9, metric="f1"),
            {"metrics": {"f1": 0.8}, "provisional": True},
            None,
        ),
        (
            rules.RuleSpec(rules.METRIC_BELOW, 2.0, metric="rmse"),
            {"metrics": {"rmse": 3.0}, "provisional": False},
            True,
        ),
        (rules.RuleSpec(rules.OUTLIER_RATE_ABOVE, 0.05), {"outlier_rate": 0.01}, False),
        (rules.RuleSpec(rules.ERROR_RATE_ABOVE, 0.05), {"error_rate": 0.1}, True),
        (rules.RuleSpec(rules.NO_TRAFFIC, minutes=30), {"requests": 0}, True),
        (rules.RuleSpec(rules.NO_TRAFFIC, minutes=30), {"requests": 4}, False),
    ],
)
def test_alert_rules(rule, facts, fired):
    assert rules.evaluate(rule, facts).fired is fired


def test_error_rate_counts_server_errors_unless_told_otherwise():
    # 100 served, 30 refused of which 5 failed on the server: 130 handled
    counts = {"requests": 100, "errors": 30, "server_errors": 5}
    server = rules.traffic_facts(**counts, count_client_errors=False)
    every = rules.traffic_facts(**counts, count_client_errors=True)
    assert server["error_rate"] == 5 / 130
    assert every["error_rate"] == 30 / 130
    rule = rules.RuleSpec(rules.ERROR_RATE_ABOVE, 0.1, minutes=15)
    assert rules.evaluate(rule, server).fired is False
    fired = rules.evaluate(rule, every)
    assert fired.fired is True
    assert fired.message.startswith("error rate 23.1% above 10.0%")
    assert rules.evaluate(rule, server).message.startswith("server error rate")
    no_traffic = rules.traffic_facts(
        requests=0, errors=0, server_errors=0, count_client_errors=False
    )
    assert rules.evaluate(rule, no_traffic).fired is None


def test_drift_share_counts_tested_columns_only():
    results = [
        column_drift(
            pd.Series([1.0] * 5),
            pd.Series([9.0] * 5),
            ColumnSpec("a", NUM, "wasserstein", 0.1),
        ),
        column_drift(
            pd.Series([1.0]),
            pd.Series([], dtype=float),
            ColumnSpec("b", NUM, "wasserstein", 0.1),
        ),
    ]
    assert drift_share(results) == {
        "columns": 1,
        "drifted": 1,
        "share": 1.0,
        "drifted_columns": ["a"],
    }


@pytest.mark.parametrize("n", [1, 7, 2000])
def test_wasserstein_equals_scipy_bit_for_bit(n):
    from scipy import stats

    from monitoring.calculations.wasserstein import distance

    rng = np.random.default_rng(n)
    u = rng.normal(size=n)
    v = np.r_[rng.normal(0.3, 2, size=n + 3), u[: n // 2]]  # ties across samples
    assert distance(u, v) == stats.wasserstein_distance(u, v)

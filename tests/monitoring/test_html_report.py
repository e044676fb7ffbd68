"""Evidently's HTML of a report shows what the report decided: the same
columns (text descriptors included), methods, thresholds, rows and verdicts,
read back from Evidently's own snapshot, and links back to the report page."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from monitoring.calculations.methods import CAT, NUM, TEXT
from monitoring.calculations.report import ReportConfig, report_compute
from monitoring.services.html_report import (
    evidently_input,
    evidently_snapshot,
    evidently_verdicts,
)
from monitoring.services.reports import report_execute, report_get_or_create
from tests.monitoring.factories import log_rows, make_monitor, window_frame

pytestmark = pytest.mark.slow

WORDS = [
    "free",
    "prize",
    "call",
    "now",
    "win",
    "cash",
    "claim",
    "txt",
    "reply",
    "meeting",
    "lunch",
    "home",
    "later",
    "ok",
]


def _frames(rows: int, *, drift: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spammy = 0.6 if drift else 0.1
    messages = [
        " ".join(rng.choice(WORDS[:7] if rng.random() < spammy else WORDS[7:], 6))
        for _ in range(rows)
    ]
    return pd.DataFrame(
        {
            "message": messages,
            "amount": rng.normal(3.0 if drift else 0.0, 1.0, rows),
            "channel": rng.choice(["sms", "web", "app"], rows, p=[0.6, 0.3, 0.1]),
            "prediction": np.where(rng.random(rows) < spammy, "spam", "ham"),
            "proba_spam": rng.random(rows),
        }
    )


@pytest.fixture(scope="module")
def computed():
    reference = _frames(1500, drift=False, seed=1)
    reference["target"] = reference["prediction"]
    current = _frames(1200, drift=True, seed=2)
    current["label"] = [
        p if i % 3 == 0 else None for i, p in enumerate(current["prediction"])
    ]
    config = ReportConfig(
        feature_kinds={"message": TEXT, "amount": NUM, "channel": CAT},
        methods={NUM: ("wasserstein", 0.1), CAT: ("jensenshannon", 0.1),
                 TEXT: ("abs_text_content_drift", 0.55)},
        # a per-column override, as a monitor may pin
        overrides={"amount": {"method": "psi", "threshold": 0.2}},
        drift_share_limit=0.5,
        min_rows=100,
        # fewer text rows than the window holds: the classifier's own sample
        text_sample_rows=700,
        classes=["ham", "spam"],
        positive_class="spam",
        min_labels=30,
    )  # fmt: skip
    summary = report_compute(reference, current, config)
    data = evidently_input(reference, current, config, summary)
    snapshot = evidently_snapshot(data, drift_share=config.drift_share_limit)
    return summary, data, evidently_verdicts(snapshot)


def test_evidently_gets_the_reports_columns_methods_and_thresholds(computed):
    summary, data, seen = computed
    stored = {c["column"]: c for c in summary["columns"] if c["score"] is not None}
    # the text descriptors, the prediction, its probability and the label too
    assert {"message", "message.length", "prediction", "proba_spam", "label"} <= set(
        stored
    )
    assert set(seen["scores"]) == set(stored)
    for column, theirs in seen["scores"].items():
        ours = stored[column]
        assert (theirs["method"], theirs["threshold"]) == (
            ours["method"],
            ours["threshold"],
        ), column
    assert seen["scores"]["amount"]["method"] == "psi"  # the override


def test_evidently_computes_the_same_scores_on_the_same_rows(computed):
    summary, data, seen = computed
    for c in summary["columns"]:
        if c["score"] is not None:
            assert seen["scores"][c["column"]]["score"] == pytest.approx(
                c["score"], rel=1e-6, abs=1e-9
            ), c["column"]
    # the text classifier saw the report's 700-row samples
    assert data.text_rows == (700, 700)
    assert data.current["message"].notna().sum() == 700
    assert len(data.current) == 1200  # every other column: the whole window


def test_evidently_reaches_the_same_drift_verdict(computed):
    summary, data, seen = computed
    share = summary["feature_drift"]
    # features and descriptors count, prediction and label do not (as stored)
    assert len(data.share_columns) == share["columns"]
    assert seen["drifted"] == share["drifted"] and share["drifted"] > 0
    assert seen["share"] == pytest.approx(share["share"])


def test_the_html_file_links_back_and_states_the_verdict_of_record(
    tabular_reference, db
):
    # given a monitor that writes the HTML, and a drifting window
    monitor = make_monitor("breast-cancer", model_version=1, html_report=True)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=1)
    log_rows(
        window_frame(tabular_reference, 300, shift={"mean_radius": 2.0}, seed=3),
        model_name="breast-cancer", version=1, start=start, end=end,
    )  # fmt: skip
    report, _ = report_get_or_create(monitor=monitor, start=start, end=end)
    # when the report runs
    report_execute(report_id=report.pk)
    report.refresh_from_db()
    # then its HTML opens with the way back and the report's own verdict
    with report.html_file.open("rb") as handle:
        page = handle.read().decode("utf-8")
    header = page[page.index('<header id="modelgate-report-header"') :][:3000]
    assert f'href="/monitoring/reports/{report.pk}/"' in header
    share = report.summary["feature_drift"]
    assert (
        f"Verdict of record: {share['drifted']} of {share['columns']} feature"
    ) in header
    assert "count below agrees" in header
    # the first thing in the page's body
    assert re.search(r"<body[^>]*>\s*<header id=\"modelgate-report-header\"", page)

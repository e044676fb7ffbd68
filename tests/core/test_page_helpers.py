"""Pure helpers of the pages: metric names and order, local times."""

from datetime import UTC, datetime

from core.metric_names import METRIC_LABELS, metric_keys, metric_label
from core.templatetags.core_tags import local_time


def test_known_metrics_come_in_one_order_with_their_labels():
    versions = [
        {"false_positive_rate": 0.01, "accuracy": 0.9, "cm_ham_spam": 3},
        {"roc_auc": 0.99, "mcc": 0.8, "rows_test": 100, "zeta": 1.0, "alpha": 2.0},
    ]
    keys = metric_keys(versions)
    known = ["accuracy", "mcc", "roc_auc", "false_positive_rate"]
    assert keys == [*known, "alpha", "zeta"]
    assert [metric_label(k) for k in keys] == [
        "Accuracy",
        "MCC",
        "ROC AUC",
        "FPR",
        "Alpha",
        "Zeta",
    ]


def test_an_unknown_metric_reads_as_words_and_non_numbers_are_left_out():
    assert metric_label("balanced_accuracy") == "Balanced accuracy"
    assert metric_keys([{"confusion_matrix": {"labels": []}, "f1": 0.5}]) == ["f1"]
    assert set(METRIC_LABELS) >= {"accuracy", "f1", "roc_auc"}


def test_local_time_is_a_time_element_in_utc():
    html = local_time(datetime(2026, 12, 5, 7, 30, tzinfo=UTC))
    assert html == (
        '<time class="local" datetime="2026-12-05T07:30:00+00:00">'
        "2026-12-05 07:30 UTC</time>"
    )
    assert local_time(None) == "–"

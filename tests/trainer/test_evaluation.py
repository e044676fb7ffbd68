import numpy as np
import pytest

from trainer.config import BehaviourCase, Threshold
from trainer.evaluation import behaviour_tests, classification_metrics, threshold_tests


def test_binary_metrics_from_a_known_confusion_matrix():
    # given 4 spam (3 caught) and 6 ham (1 wrongly blocked)
    y_true = ["spam"] * 4 + ["ham"] * 6
    y_pred = ["spam", "spam", "spam", "ham"] + ["spam"] + ["ham"] * 5
    proba = np.array([[0.1, 0.9]] * 3 + [[0.6, 0.4]] + [[0.4, 0.6]] + [[0.9, 0.1]] * 5)
    # when
    m = classification_metrics(
        y_true, y_pred, proba, classes=["ham", "spam"], positive="spam"
    )
    # then
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["false_positive_rate"] == pytest.approx(1 / 6)
    assert m["confusion_matrix"] == {
        "labels": ["ham", "spam"],
        "matrix": [[5, 1], [1, 3]],
    }
    assert m["mcc"] == pytest.approx((3 * 5 - 1 * 1) / np.sqrt(4 * 4 * 6 * 6))
    assert 0.9 < m["roc_auc"] <= 1.0


def test_multiclass_uses_macro_average():
    y = ["a", "b", "c", "a"]
    m = classification_metrics(y, y, None, classes=["a", "b", "c"], positive="a")
    assert m["f1"] == 1.0 and m["mcc"] == 1.0
    assert "false_positive_rate" not in m


def test_threshold_tests_check_both_sides():
    results = threshold_tests(
        {"mcc": 0.91, "false_positive_rate": 0.004},
        {
            "mcc": Threshold(min=0.92),
            "false_positive_rate": Threshold(max=0.005),
            "recall": Threshold(min=0.9),
        },
    )
    by_name = {r.name: r for r in results}
    assert not by_name["metric mcc"].passed
    assert by_name["metric false_positive_rate"].passed
    assert not by_name["metric recall"].passed  # not computed is a failure


def test_behaviour_tests_compare_predictions():
    cases = [
        BehaviourCase(name="a", input={"message": "x"}, expect="spam"),
        BehaviourCase(name="b", input={"message": "y"}, expect="ham"),
    ]
    results = behaviour_tests(["spam", "spam"], cases)
    assert [r.passed for r in results] == [True, False]

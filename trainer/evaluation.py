"""Metrics and model tests: pure functions over labels and probabilities
(``classification_metrics`` lives in ``core.ml.evaluation``, shared with
governance's champion comparison)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.ml.evaluation import classification_metrics

__all__ = [
    "TestReport",
    "TestResult",
    "behaviour_tests",
    "classification_metrics",
    "threshold_tests",
]


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    name: str
    passed: bool
    detail: str


@dataclass
class TestReport:
    __test__ = False

    results: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def failures(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "results": [r.__dict__ for r in self.results],
        }


def threshold_tests(metrics: dict[str, Any], thresholds: dict) -> list[TestResult]:
    results = []
    for name, bound in thresholds.items():
        value = metrics.get(name)
        if value is None:
            results.append(TestResult(f"metric {name}", False, "metric not computed"))
            continue
        ok = (bound.min is None or value >= bound.min) and (
            bound.max is None or value <= bound.max
        )
        want = " and ".join(
            s
            for s in (
                f">= {bound.min}" if bound.min is not None else "",
                f"<= {bound.max}" if bound.max is not None else "",
            )
            if s
        )
        results.append(TestResult(f"metric {name}", ok, f"{value:.4f} (want {want})"))
    return results


def behaviour_tests(predictions: list[str], cases: list) -> list[TestResult]:
    return [
        TestResult(
            f"behaviour {case.name}",
            str(pred) == case.expect,
            f"predicted {pred!r}, expected {case.expect!r}",
        )
        for case, pred in zip(cases, predictions, strict=True)
    ]

"""Alert rules as pure functions of the facts a report or the rollups give.

Each rule answers fired / not fired / cannot tell (None: the facts it needs
are missing, e.g. no labelled rows yet), with the observed value and a
sentence for the alert's title.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.calculations.performance import LOWER_IS_BETTER

DRIFT_SHARE_ABOVE = "drift_share_above"
FEATURE_DRIFTED = "feature_drifted"
METRIC_BELOW = "metric_below"
OUTLIER_RATE_ABOVE = "outlier_rate_above"
ERROR_RATE_ABOVE = "error_rate_above"
NO_TRAFFIC = "no_traffic"

#: rules judged on each report; the others on the rollups, every minute
REPORT_RULES = {DRIFT_SHARE_ABOVE, FEATURE_DRIFTED, METRIC_BELOW, OUTLIER_RATE_ABOVE}
TRAFFIC_RULES = {ERROR_RATE_ABOVE, NO_TRAFFIC}


@dataclass(frozen=True)
class RuleSpec:
    kind: str
    threshold: float | None = None
    column: str = ""
    metric: str = ""
    minutes: int = 60


@dataclass(frozen=True)
class Outcome:
    fired: bool | None
    value: float | None
    message: str


def traffic_facts(
    *, requests: int, errors: int, server_errors: int, count_client_errors: bool
) -> dict:
    """Facts of the traffic rules from a window's counts. The error rate is
    over every handled request (served + refused + failed); its numerator is
    the server failures (5xx) only, unless the rule also counts the requests
    refused as the client's fault (4xx)."""
    handled = requests + errors
    failed = errors if count_client_errors else server_errors
    return {
        "requests": requests,
        "error_rate": (failed / handled) if handled else None,
        "error_kind": "error rate" if count_client_errors else "server error rate",
    }


def evaluate(rule: RuleSpec, facts: dict) -> Outcome:
    """Judge ``rule`` on ``facts``: keys ``drift_share``, ``drifted_columns``,
    ``tested_columns``, ``metrics`` ({name: value}), ``provisional``,
    ``outlier_rate``, ``error_rate``, ``requests`` (per rule window)."""
    kind = rule.kind
    if kind == DRIFT_SHARE_ABOVE:
        share = facts.get("drift_share")
        if share is None:
            return Outcome(None, None, "no drift result")
        return Outcome(
            share > rule.threshold,
            share,
            f"drift share {share:.0%} above {rule.threshold:.0%}",
        )
    if kind == FEATURE_DRIFTED:
        if rule.column not in facts.get("tested_columns", ()):
            return Outcome(None, None, f"column {rule.column} not tested")
        fired = rule.column in facts.get("drifted_columns", ())
        return Outcome(fired, 1.0 if fired else 0.0, f"column {rule.column} drifted")
    if kind == METRIC_BELOW:
        value = facts.get("metrics", {}).get(rule.metric)
        if value is None or facts.get("provisional", True):
            return Outcome(None, value, f"{rule.metric} not measured yet")
        if rule.metric in LOWER_IS_BETTER:
            return Outcome(
                value > rule.threshold,
                value,
                f"{rule.metric} {value:.4g} above {rule.threshold:.4g}",
            )
        return Outcome(
            value < rule.threshold,
            value,
            f"{rule.metric} {value:.4g} below {rule.threshold:.4g}",
        )
    if kind == OUTLIER_RATE_ABOVE:
        rate = facts.get("outlier_rate")
        if rate is None:
            return Outcome(None, None, "no outlier figures")
        return Outcome(
            rate > rule.threshold,
            rate,
            f"outlier rate {rate:.1%} above {rule.threshold:.1%}",
        )
    if kind == ERROR_RATE_ABOVE:
        rate = facts.get("error_rate")
        if rate is None:
            return Outcome(None, None, "no requests")
        return Outcome(
            rate > rule.threshold,
            rate,
            f"{facts.get('error_kind', 'error rate')} {rate:.1%} above "
            f"{rule.threshold:.1%} over {rule.minutes} min",
        )
    if kind == NO_TRAFFIC:
        requests = facts.get("requests")
        if requests is None:
            return Outcome(None, None, "traffic unknown")
        return Outcome(
            requests == 0,
            float(requests),
            f"no predictions for {rule.minutes} min",
        )
    raise ValueError(f"unknown rule kind {kind!r}")

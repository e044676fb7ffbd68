"""The automated checks of a promotion request, as pure functions.

Each takes plain data (metrics, signatures, durations, alert lists) and returns
a :class:`CheckResult`; governance.services.checks gathers the data from the
mirror, the audit ledger and monitoring, and stores the results as evidence.
``data`` is part of the evidence digest; ``info`` holds values that change
without changing the verdict (elapsed time) and is left out of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from governance.choices import CheckName, CheckOutcome, ChecksStatus

SPLIT_PARAMS = ("split.test_size", "split.random_state", "split.stratify")
TAG_DATA_SHA256 = "modelgate.data_sha256"


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str
    detail: str
    required: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = CheckName(self.name).label
        return out


def _result(name: CheckName, ok: bool, detail: str, **kwargs) -> CheckResult:
    outcome = CheckOutcome.PASSED if ok else CheckOutcome.FAILED
    return CheckResult(name.value, outcome.value, detail, **kwargs)


def _skipped(name: CheckName, detail: str, **kwargs) -> CheckResult:
    return CheckResult(name.value, CheckOutcome.SKIPPED.value, detail, **kwargs)


# -------------------------------------------------------------- model tests
def check_tests_passed(*, test_status: str) -> CheckResult:
    """The trainer's model tests passed (tag ``modelgate.tests``)."""
    ok = test_status == "passed"
    detail = (
        "model tests passed"
        if ok
        else f"model tests status is {test_status!r} (must be 'passed')"
    )
    return _result(CheckName.TESTS_PASSED, ok, detail, data={"status": test_status})


# ------------------------------------------------------------ held-out set
def heldout_fingerprint(*, tags: dict[str, str], params: dict[str, str]) -> dict:
    """What identifies the held-out set a version's metrics were computed on."""
    return {
        "data_sha256": tags.get(TAG_DATA_SHA256, ""),
        "split": {key: params[key] for key in SPLIT_PARAMS if key in params},
    }


def heldout_comparable(candidate: dict, champion: dict) -> tuple[bool, str]:
    """Whether two versions were evaluated on the same held-out set, and why not."""
    if not candidate.get("data_sha256") or not champion.get("data_sha256"):
        return False, "a version has no data fingerprint (modelgate.data_sha256)"
    if candidate["data_sha256"] != champion["data_sha256"]:
        return False, (
            "trained on different data (sha256 "
            f"{candidate['data_sha256'][:12]} vs {champion['data_sha256'][:12]})"
        )
    if set(candidate["split"]) != set(SPLIT_PARAMS) or set(champion["split"]) != set(
        SPLIT_PARAMS
    ):
        return False, "a version does not record its train/test split"
    if candidate["split"] != champion["split"]:
        return False, (
            f"different train/test split ({candidate['split']} vs {champion['split']})"
        )
    return True, "same data (sha256) and same split: same held-out set"


# ------------------------------------------------------------------ metrics
def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_metrics(
    *,
    gates: list[dict],
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    comparable: bool,
    comparable_reason: str,
) -> CheckResult:
    """Each gated metric reaches its threshold and is not worse than the champion
    by more than the margin; the champion is compared only on the same held-out
    set (otherwise the evidence says why not)."""
    rows = []
    for gate in gates:
        metric = gate["metric"]
        higher = gate.get("direction", "higher") != "lower"
        threshold = _number(gate.get("threshold"))
        margin = _number(gate.get("margin")) or 0.0
        value = _number(candidate.get(metric))
        row: dict[str, Any] = {
            "metric": metric,
            "direction": "higher" if higher else "lower",
            "threshold": threshold,
            "margin": margin,
            "value": value,
            "champion": None,
            "delta": None,
        }
        problems = []
        if value is None:
            problems.append(f"{metric} is not logged for the candidate")
        elif threshold is not None and (
            value < threshold if higher else value > threshold
        ):
            sign = "<" if higher else ">"
            problems.append(f"{metric} {value:.4f} {sign} threshold {threshold:.4f}")
        if champion is not None and comparable and value is not None:
            best = _number(champion.get(metric))
            row["champion"] = best
            if best is None:
                row["compared"] = "champion has no such metric"
            else:
                row["delta"] = value - best
                worse = (best - value) if higher else (value - best)
                row["compared"] = "same held-out set"
                if worse > margin + 1e-12:
                    problems.append(
                        f"{metric} {value:.4f} is {worse:.4f} worse than the "
                        f"champion's {best:.4f} (margin {margin:.4f})"
                    )
        elif champion is None:
            row["compared"] = "no champion"
        else:
            row["compared"] = f"not compared: {comparable_reason}"
        row["ok"] = not problems
        row["problems"] = problems
        rows.append(row)
    failing = [p for row in rows for p in row["problems"]]
    if not gates:
        detail = "no gated metric in the policy"
    elif failing:
        detail = "; ".join(failing)
    else:
        detail = ", ".join(
            f"{r['metric']} {r['value']:.4f} ok ({r['compared']})" for r in rows
        )
    return _result(
        CheckName.METRICS,
        not failing,
        detail,
        data={"gates": rows, "comparable": comparable, "reason": comparable_reason},
    )


# ---------------------------------------------------------------- signature
def _columns(spec: list[dict]) -> dict[str, tuple[str, bool]] | None:
    """name → (type, required) of a column-based signature; None for tensors."""
    out = {}
    for index, column in enumerate(spec):
        if column.get("type") == "tensor":
            return None
        name = column.get("name", f"#{index}")
        out[name] = (str(column.get("type")), bool(column.get("required", True)))
    return out


def check_signature(
    *, candidate: dict[str, list], champion: dict[str, list] | None
) -> CheckResult:
    """The candidate accepts what the champion's clients send and answers in the
    same shape: same input columns and types (a new column must be optional),
    same output types."""
    if not candidate or not candidate.get("inputs"):
        return _result(
            CheckName.SIGNATURE, False, "the candidate has no input signature"
        )
    if champion is None:
        return _result(
            CheckName.SIGNATURE, True, "no champion to compare with; signature present"
        )
    if not champion.get("inputs"):
        return _result(
            CheckName.SIGNATURE, True, "the champion has no signature to compare with"
        )
    problems = []
    new_in, old_in = _columns(candidate["inputs"]), _columns(champion["inputs"])
    if new_in is None or old_in is None:
        if candidate["inputs"] != champion["inputs"]:
            problems.append("tensor input specs differ")
    else:
        for name, (kind, _req) in old_in.items():
            if name not in new_in:
                problems.append(f"input {name!r} was removed")
            elif new_in[name][0] != kind:
                problems.append(
                    f"input {name!r} changed type {kind} → {new_in[name][0]}"
                )
            elif new_in[name][1] and not old_in[name][1]:
                problems.append(f"input {name!r} became required")
        for name, (_kind, required) in new_in.items():
            if name not in old_in and required:
                problems.append(f"new required input {name!r}")
    new_out = [(c.get("name"), c.get("type")) for c in candidate.get("outputs") or []]
    old_out = [(c.get("name"), c.get("type")) for c in champion.get("outputs") or []]
    if new_out and old_out and new_out != old_out:
        problems.append(f"outputs changed {old_out} → {new_out}")
    detail = "; ".join(problems) if problems else "inputs and outputs compatible"
    return _result(
        CheckName.SIGNATURE, not problems, detail, data={"problems": problems}
    )


# ------------------------------------------------------------- staging time
def check_staging_time(
    *, minutes_in_staging: float, minimum_minutes: int, since: str | None
) -> CheckResult:
    """The candidate has held the staging alias (set by Modelgate) long enough."""
    ok = minutes_in_staging >= minimum_minutes
    if since is None:
        detail = "never in staging (through Modelgate)"
    else:
        detail = (
            f"{minutes_in_staging:.0f} of {minimum_minutes} minutes in staging "
            f"(since {since})"
        )
    return _result(
        CheckName.STAGING_TIME,
        ok,
        detail,
        data={"minimum_minutes": minimum_minutes, "since": since, "enough": ok},
        info={"minutes_in_staging": round(minutes_in_staging, 2)},
    )


# ------------------------------------------------------------- drift alerts
def check_no_drift_alert(
    *, alerts: list[dict] | None, unavailable: str | None = None
) -> CheckResult:
    """No open drift alert on the candidate. ``alerts`` None with ``unavailable``
    set: monitoring could not be asked (recorded, not a failure)."""
    if alerts is None:
        return _skipped(
            CheckName.NO_DRIFT_ALERT,
            f"not checked: {unavailable or 'alerts unavailable'}",
            data={"unavailable": unavailable or ""},
        )
    summary = [
        {
            "id": a.get("id"),
            "severity": a.get("severity"),
            "rule": a.get("rule"),
            "title": a.get("title"),
            "url": a.get("url"),
        }
        for a in alerts
    ]
    detail = (
        "no open drift alert"
        if not alerts
        else "open alerts: "
        + "; ".join(str(a.get("title") or a.get("id")) for a in alerts)
    )
    return _result(
        CheckName.NO_DRIFT_ALERT, not alerts, detail, data={"open_alerts": summary}
    )


# ------------------------------------------------------------------ summary
def checks_summary(results: list[CheckResult]) -> str:
    """FAILED if a required check failed, else PASSED (skipped checks do not
    block; the evidence shows why they were skipped)."""
    failed = any(r.required and r.outcome == CheckOutcome.FAILED for r in results)
    return ChecksStatus.FAILED if failed else ChecksStatus.PASSED

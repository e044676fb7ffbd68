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
from datetime import UTC, datetime, timedelta
from typing import Any

from governance.choices import CheckName, CheckOutcome, ChecksStatus
from governance.hashing import timestamp_text

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


# ------------------------------------------------------------ training data
def heldout_fingerprint(*, tags: dict[str, str], params: dict[str, str]) -> dict:
    """What a version was trained and evaluated on (shown in the evidence; the
    champion comparison does not depend on it: both versions are scored on
    one evaluation set whatever data trained them)."""
    return {
        "data_sha256": tags.get(TAG_DATA_SHA256, ""),
        "split": {key: params[key] for key in SPLIT_PARAMS if key in params},
    }


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
    comparison: dict[str, Any] | None,
) -> CheckResult:
    """Each gated metric reaches its threshold (on the candidate's logged
    held-out metrics) and, scored on one evaluation set with the champion, is
    not worse than the champion's by more than the margin.

    ``comparison`` is None without a champion; otherwise what
    ``governance.services.comparison.champion_comparison`` found: the
    evaluation set, both figures per metric, or the reason no comparison could
    be made, which fails the check (a comparison not made is never a pass).
    """
    rows = []
    evaluation = (comparison or {}).get("evaluation_set") or {}
    error = (comparison or {}).get("error") or ""
    champion_label = (
        f"champion v{comparison['champion_version']}" if comparison else "champion"
    )
    where = evaluation.get("source", "the evaluation set")
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
            "candidate_on_set": None,
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
        if comparison is None:
            row["compared"] = "no champion"
        elif error:
            row["compared"] = f"not compared: {error}"
            problems.append(f"{metric} not compared with the {champion_label}: {error}")
        else:
            ours = _number(comparison["candidate"].get(metric))
            best = _number(comparison["champion"].get(metric))
            row["candidate_on_set"], row["champion"] = ours, best
            row["compared"] = f"on {where}"
            if ours is None or best is None:
                who = "candidate" if ours is None else champion_label
                problems.append(f"{metric} cannot be computed for the {who} on {where}")
            else:
                row["delta"] = round(ours - best, 6)
                worse = (best - ours) if higher else (ours - best)
                if worse > margin + 1e-9:
                    problems.append(
                        f"{metric} {ours:.4f} is {worse:.4f} worse than the "
                        f"{champion_label}'s {best:.4f} on {where} "
                        f"(margin {margin:.4f})"
                    )
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
            f"{r['metric']} {r['value']:.4f} ok"
            + (
                f" (vs the {champion_label}: {r['candidate_on_set']:.4f} vs "
                f"{r['champion']:.4f} {r['compared']})"
                if r["champion"] is not None
                else f" ({r['compared']})"
            )
            for r in rows
        )
    return _result(
        CheckName.METRICS,
        not failing,
        detail,
        data={"gates": rows, "comparison": comparison},
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
@dataclass(frozen=True)
class StagingProgress:
    """How long a version has held the staging alias, and when it will have
    held it long enough (None: not while it does not hold the alias)."""

    minutes: float
    since: datetime | None
    holding: bool
    passes_at: datetime | None


def staging_progress(
    *, segments: list[tuple[datetime, datetime | None]], minimum_minutes: int, now
) -> StagingProgress:
    """Sum the periods (start, end or None: still holding) a version held the
    staging alias, and find the instant the sum reaches ``minimum_minutes``.

    That instant is read from the timeline (a start plus what was missing),
    never from ``now``, so it does not move while the clock does.
    """
    needed = timedelta(minutes=minimum_minutes)
    total = timedelta(0)
    since, holding, passes_at = None, False, None
    for start, end in sorted(segments, key=lambda seg: seg[0]):
        length = max((end or now) - start, timedelta(0))
        # reached in this period, or (still holding) will be if it lasts
        if passes_at is None and (total + length >= needed or end is None):
            passes_at = start + (needed - total)
        total += length
        since, holding = start, end is None
    return StagingProgress(total.total_seconds() / 60, since, holding, passes_at)


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_staging_time(
    *, progress: StagingProgress, minimum_minutes: int, now: datetime
) -> CheckResult:
    """The candidate has held the staging alias (set by Modelgate) long enough.

    The verdict, the minimum, the start of the period and the instant the
    check passes are the evidence; the minutes elapsed so far move with the
    clock and stay out of it (``info``), or every periodic re-run would change
    the evidence and make approvals stale.
    """
    ok = minimum_minutes <= 0 or (
        progress.passes_at is not None and progress.passes_at <= now
    )
    if ok and progress.passes_at is None:
        detail = "no minimum time in staging"
    elif progress.since is None:
        detail = "never in staging (through Modelgate)"
    elif ok:
        detail = (
            f"held staging for the required {minimum_minutes} minutes "
            f"(passed at {_when(progress.passes_at)})"
        )
    elif progress.holding:
        detail = (
            f"in staging since {_when(progress.since)}; needs {minimum_minutes} "
            f"minutes: passes at {_when(progress.passes_at)}"
        )
    else:
        detail = (
            f"no longer in staging: {progress.minutes:.0f} of {minimum_minutes} "
            "minutes counted"
        )
    return _result(
        CheckName.STAGING_TIME,
        ok,
        detail,
        data={
            "minimum_minutes": minimum_minutes,
            "since": timestamp_text(progress.since) if progress.since else None,
            "holding": progress.holding,
            "passes_at": (
                timestamp_text(progress.passes_at) if progress.passes_at else None
            ),
            "enough": ok,
        },
        info={"minutes_in_staging": round(progress.minutes, 2)},
    )


# ------------------------------------------------------------- drift alerts
# Alert rule kinds (monitoring's RuleKind values; governance imports no app)
# that judge the model's data or predictions: drift and performance. Traffic
# and service alerts (no traffic, error rate, outliers) say nothing about
# whether the candidate is good enough, so they never block a promotion.
BLOCKING_ALERT_RULES = frozenset(
    {"drift_share_above", "feature_drifted", "metric_below", "provider_error"}
)
BLOCKING_SEVERITIES = frozenset({"warning", "critical", "unknown"})


def alert_blocks(alert: dict) -> bool:
    """Severity at least warning, and a drift or performance rule."""
    return (
        alert.get("severity") in BLOCKING_SEVERITIES
        and alert.get("rule") in BLOCKING_ALERT_RULES
    )


def check_no_drift_alert(
    *,
    alerts: list[dict] | None,
    unavailable: str | None = None,
    champion_alerts: list[dict] | None = None,
    champion_version: int | None = None,
    candidate_version: int | None = None,
) -> CheckResult:
    """No blocking alert (see ``alert_blocks``) open on the candidate's own
    traffic (staging) or on the champion's. ``alerts`` None with
    ``unavailable`` set: monitoring could not be asked (recorded, not a
    failure). The evidence lists the blocking alerts with links; the others
    are shown (``info``) but are not part of the digest, since they come and
    go without saying anything of the candidate."""
    if alerts is None:
        return _skipped(
            CheckName.NO_DRIFT_ALERT,
            f"not checked: {unavailable or 'alerts unavailable'}",
            data={"unavailable": unavailable or ""},
        )
    seen: dict[Any, dict] = {}
    for on, version, found in (
        ("candidate", candidate_version, alerts),
        ("champion", champion_version, champion_alerts or []),
    ):
        for alert in found:
            key = alert.get("id") if alert.get("id") is not None else id(alert)
            seen.setdefault(key, {**alert, "on": on, "on_version": version})
    blocking = [
        {
            "id": a.get("id"),
            "severity": a.get("severity"),
            "rule": a.get("rule"),
            "on": a["on"],
            "version": a["on_version"],
            "url": a.get("url"),
        }
        for a in seen.values()
        if alert_blocks(a)
    ]
    ignored = [
        {
            "id": a.get("id"),
            "severity": a.get("severity"),
            "rule": a.get("rule"),
            "on": a["on"],
            "title": a.get("title"),
        }
        for a in seen.values()
        if not alert_blocks(a)
    ]
    titles = {str(a.get("id")): a.get("title") for a in seen.values()}
    broken = [a for a in seen.values() if a.get("rule") == "provider_error"]
    if broken:
        detail = str(broken[0].get("title") or "could not read open alerts")
    elif blocking:
        detail = "blocking alerts: " + "; ".join(
            f"[{a['severity']}] {a['rule']} on the {a['on']}"
            + (f" v{a['version']}" if a["version"] is not None else "")
            + (f" (alert #{a['id']})" if a["id"] is not None else "")
            for a in blocking
        )
    else:
        detail = "no open drift or performance alert (warning or above)"
    return _result(
        CheckName.NO_DRIFT_ALERT,
        not blocking,
        detail,
        data={"open_alerts": blocking},
        info={"titles": titles, "not_blocking": ignored},
    )


# ------------------------------------------------------------------ summary
def checks_summary(results: list[CheckResult]) -> str:
    """FAILED if a required check failed, else PASSED (skipped checks do not
    block; the evidence shows why they were skipped)."""
    failed = any(r.required and r.outcome == CheckOutcome.FAILED for r in results)
    return ChecksStatus.FAILED if failed else ChecksStatus.PASSED

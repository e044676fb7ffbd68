"""The evidence of a request arranged for the review page."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from core.metric_names import metric_keys
from governance.models import PromotionRequest
from governance.selectors import champion_version


def evidence_view(request: PromotionRequest) -> dict:
    """Checks, metrics side by side with the champion's, drift status, card."""
    evidence = request.evidence or {}
    candidate = evidence.get("candidate") or {}
    champion = evidence.get("champion") or {}
    checks = evidence.get("checks", [])
    gates = {}
    for check in checks:
        if check.get("name") == "metrics":
            gates = {g["metric"]: g for g in check.get("data", {}).get("gates", [])}
    # gated metrics first, each group in the one display order
    ordered = metric_keys([candidate.get("metrics", {}), champion.get("metrics", {})])
    names = [k for k in ordered if k in gates] + [k for k in ordered if k not in gates]
    rows = []
    for name in names:
        value = candidate.get("metrics", {}).get(name)
        best = champion.get("metrics", {}).get(name)
        delta = value - best if value is not None and best is not None else None
        rows.append(
            {
                "name": name,
                "candidate": value,
                "champion": best,
                "delta": delta,
                "gate": gates.get(name),
            }
        )
    # time-based checks that have not passed yet, and when they will
    waiting = [
        {"label": c.get("label", c["name"]), "passes_at": parse_datetime(when)}
        for c in checks
        if c.get("outcome") == "failed"
        and (when := (c.get("data") or {}).get("passes_at"))
    ]
    drift = next((c for c in checks if c.get("name") == "no_drift_alert"), None)
    info = evidence.get("info") or {}
    metrics_check = next((c for c in checks if c.get("name") == "metrics"), {})
    comparison = (metrics_check.get("data") or {}).get("comparison")
    champion_mv = champion_version(name=request.registered_model.name)
    required = [c for c in checks if c.get("required")]
    return {
        "present": bool(evidence),
        "checks": checks,
        # what stands between the request and an approval, for the summary
        "blocking": [c for c in required if c.get("outcome") != "passed"],
        "required_passed": sum(1 for c in required if c.get("outcome") == "passed"),
        "required_count": len(required),
        "waiting": waiting,
        "metrics": rows,
        "candidate": candidate,
        "champion": champion or None,
        # the candidate and the champion scored on one evaluation set
        "comparison": comparison,
        "comparison_gates": list(gates.values()) if comparison else [],
        "comparison_info": info.get("comparison") or {},
        "candidate_alerts": drift,
        "champion_alerts": info.get("champion_open_alerts"),
        "champion_alerts_unavailable": info.get("champion_alerts_unavailable", ""),
        "card": request.model_version.model_card,
        "champion_card": champion_mv.model_card if champion_mv else "",
        "computed_at": evidence.get("computed_at"),
    }

"""The evidence of a request arranged for the review page."""

from __future__ import annotations

from governance.models import PromotionRequest
from governance.selectors import champion_version

HIDDEN_METRIC_PREFIXES = ("cm_", "rows_")


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
    names = sorted(
        {
            k
            for k in list(candidate.get("metrics", {}))
            + list(champion.get("metrics", {}))
            if not k.startswith(HIDDEN_METRIC_PREFIXES)
        },
        key=lambda k: (k not in gates, k),
    )
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
    drift = next((c for c in checks if c.get("name") == "no_drift_alert"), None)
    info = evidence.get("info") or {}
    champion_mv = champion_version(name=request.registered_model.name)
    return {
        "present": bool(evidence),
        "checks": checks,
        "metrics": rows,
        "candidate": candidate,
        "champion": champion or None,
        "heldout": evidence.get("heldout") or {},
        "candidate_alerts": drift,
        "champion_alerts": info.get("champion_open_alerts"),
        "champion_alerts_unavailable": info.get("champion_alerts_unavailable", ""),
        "card": request.model_version.model_card,
        "champion_card": champion_mv.model_card if champion_mv else "",
        "computed_at": evidence.get("computed_at"),
    }

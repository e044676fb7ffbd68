"""A model's status badge from its latest report: healthy, drifting,
degraded or not enough data."""

from __future__ import annotations

HEALTHY, DRIFTING, DEGRADED, NO_DATA = "healthy", "drifting", "degraded", "no_data"
LABELS = {
    HEALTHY: "healthy",
    DRIFTING: "drifting",
    DEGRADED: "degraded",
    NO_DATA: "not enough data",
}


def model_status(summary: dict | None, *, drift_share_limit: float) -> str:
    """Degraded (performance below the reference, labels sufficient) beats
    drifting (feature share at or above the limit, or the prediction drifted)
    beats healthy; no report or too few rows is not enough data."""
    if not summary or summary.get("status") == NO_DATA:
        return NO_DATA
    if summary.get("performance", {}).get("degraded"):
        return DEGRADED
    features = summary.get("feature_drift", {})
    prediction = summary.get("prediction_drift", {})
    if (features.get("columns") and features.get("share", 0) >= drift_share_limit) or (
        prediction.get("drifted")
    ):
        return DRIFTING
    return HEALTHY

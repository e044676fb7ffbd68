"""Monitors, their reports and alerts, and the rollups the dashboards read."""

from monitoring.models.alerts import Alert, AlertRule
from monitoring.models.monitors import Monitor
from monitoring.models.reports import PerformanceWindow, ReferenceStatistics, Report
from monitoring.models.rollups import RollupWatermark, TrafficRollup

__all__ = [
    "Alert",
    "AlertRule",
    "Monitor",
    "PerformanceWindow",
    "ReferenceStatistics",
    "Report",
    "RollupWatermark",
    "TrafficRollup",
]

from django.db import models

from monitoring.calculations import rules


class DriftMethod(models.TextChoices):
    """Drift methods a monitor can pin (Evidently's names)."""

    WASSERSTEIN = "wasserstein", "Wasserstein distance, normed (numeric)"
    JENSENSHANNON = "jensenshannon", "Jensen-Shannon distance (numeric, categorical)"
    PSI = "psi", "Population stability index (numeric, categorical)"
    KS = "ks", "Kolmogorov-Smirnov p-value (numeric)"
    CHISQUARE = "chisquare", "Chi-square p-value (categorical)"
    TEXT_DOMAIN = "abs_text_content_drift", "Domain classifier ROC AUC (text)"


class ReportKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ON_DEMAND = "on_demand", "On demand"
    COMPARISON = "comparison", "Comparison"


class ReportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ModelHealth(models.TextChoices):
    """Status badge of a model on the dashboards."""

    HEALTHY = "healthy", "healthy"
    DRIFTING = "drifting", "drifting"
    DEGRADED = "degraded", "degraded"
    NO_DATA = "no_data", "not enough data"


class RuleKind(models.TextChoices):
    DRIFT_SHARE_ABOVE = rules.DRIFT_SHARE_ABOVE, "Drift share above x"
    FEATURE_DRIFTED = rules.FEATURE_DRIFTED, "A named column drifted"
    METRIC_BELOW = rules.METRIC_BELOW, "Metric below y (above, for errors)"
    OUTLIER_RATE_ABOVE = rules.OUTLIER_RATE_ABOVE, "Outlier rate above z"
    ERROR_RATE_ABOVE = rules.ERROR_RATE_ABOVE, "Error rate above e"
    NO_TRAFFIC = rules.NO_TRAFFIC, "No traffic for t minutes"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


#: statuses of an alert that is still a problem (governance's "open alert")
ACTIVE_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Granularity(models.TextChoices):
    MINUTE = "minute", "Minute"
    HOUR = "hour", "Hour"

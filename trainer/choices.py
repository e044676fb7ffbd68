from django.db import models


class RetrainingAction(models.TextChoices):
    """What a retraining run does with the version it trained."""

    REGISTER = "register", "Register only"
    REQUEST_STAGING = "request_staging", "Register and request staging"


class RetrainingTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    ALERT = "alert", "Monitoring alert"
    LABELS = "labels", "New labels"
    MANUAL = "manual", "By hand"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Model tests failed"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"


FINISHED_STATUSES = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.ERROR,
    RunStatus.SKIPPED,
)

#: Legal transitions of a run (applied by ``run_transition``).
RUN_TRANSITIONS: dict[str, tuple[str, ...]] = {
    RunStatus.QUEUED: (RunStatus.RUNNING,),
    RunStatus.RUNNING: (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ERROR),
}

# Monitoring's alert rule kinds and severities, by value: the trainer may not
# import monitoring (tests/trainer/test_retraining.py holds them equal).
ALERT_KINDS = {
    "drift_share_above": "Drift share above x",
    "feature_drifted": "A named column drifted",
    "metric_below": "Metric below y",
    "outlier_rate_above": "Outlier rate above z",
}


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

"""Every periodic task of Modelgate, in code.

`manage.py setup_periodic_tasks` writes these into django-celery-beat's tables
(creating or updating them by name), where the admin can pause or re-time them.
Per-monitor schedules are created by the monitoring app itself.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month day_of_week"
    kwargs: dict = field(default_factory=dict)
    description: str = ""


SCHEDULES: list[Schedule] = [
    Schedule(
        name="governance: reconcile the registry mirror with MLflow",
        task="governance.tasks.registry_reconcile",
        every_seconds=60,
        description=(
            "Copies versions and aliases registered outside Modelgate, detects "
            "aliases moved outside Modelgate and retries failed applies."
        ),
    ),
    Schedule(
        name="governance: expire requests, refresh checks, report overdue rollbacks",
        task="governance.tasks.promotion_housekeeping",
        every_seconds=300,
        description=(
            "Expires undecided promotion requests, re-runs the checks of open ones "
            "and reports emergency rollbacks whose confirmation is overdue."
        ),
    ),
    Schedule(
        name="governance: anchor the audit chain head outside the database",
        task="governance.tasks.audit_anchor",
        every_seconds=900,
        description=(
            "Appends the chain head (sequence, hash, time) to "
            "MODELGATE_AUDIT_ANCHOR_PATH; audit_verify --anchor checks against it."
        ),
    ),
    # inference
    Schedule(
        name="inference: prune the prediction log (retention)",
        task="inference.tasks.prediction_log_prune",
        crontab="17 3 * * *",
        description="Deletes predictions older than INFERENCE_RETENTION_DAYS.",
    ),
    Schedule(
        name="inference: create the prediction log's partitions ahead",
        task="inference.tasks.prediction_log_partitions",
        crontab="7 * * * *",
        description=(
            "PostgreSQL: creates the day partitions of the next "
            "INFERENCE_LOG_PARTITION_DAYS_AHEAD days (no-op on SQLite)."
        ),
    ),
    Schedule(
        name="inference: delete expired precomputed predictions",
        task="inference.tasks.precomputed_prune",
        crontab="37 3 * * *",
        description=(
            "Deletes hybrid-serving entries expired more than a week ago "
            "(until then a keyed request is told the entry expired)."
        ),
    ),
]

# --------------------------------------------------------------------- trainer
SCHEDULES += [
    Schedule(
        name="trainer: start the retraining runs schedules and new labels call for",
        task="trainer.tasks.retraining_tick",
        every_seconds=300,
        description=(
            "Per retraining policy: a run per schedule slot, or once enough "
            "labels arrived since the last run (never within the minimum gap)."
        ),
    ),
]

# ------------------------------------------------------------------ monitoring
# Per-monitor report schedules are PeriodicTask rows kept in sync with the
# Monitor rows (monitoring.services.monitors.monitor_schedule_sync).
SCHEDULES += [
    Schedule(
        name="monitoring: fold new predictions and errors into the rollups",
        task="monitoring.tasks.rollups_update",
        every_seconds=30,
        description="Dashboards read these per-minute and per-hour aggregates.",
    ),
    Schedule(
        name="monitoring: judge error-rate and no-traffic alert rules",
        task="monitoring.tasks.alerts_traffic",
        every_seconds=60,
    ),
    Schedule(
        name="monitoring: recompute performance windows after late labels",
        task="monitoring.tasks.performance_late_labels",
        every_seconds=300,
    ),
    Schedule(
        name="monitoring: publish again report jobs no worker holds",
        task="monitoring.tasks.reports_recover",
        every_seconds=60,
    ),
    Schedule(
        name="monitoring: drop minute rollups past their retention",
        task="monitoring.tasks.rollups_prune",
        crontab="17 * * * *",
    ),
]

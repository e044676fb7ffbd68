"""Celery tasks of governance: thin wrappers that take ids and call a service.

Every task is idempotent by a database key: applying by the request's status
transitions, checks by the evidence digest, syncs by the mirror's contents.
"""

import logging

from celery import shared_task

from core import registry
from core.metrics import job_timed

logger = logging.getLogger(__name__)

TASK_OPTIONS = {"acks_late": True, "ignore_result": True}


@shared_task(
    name="governance.tasks.registry_reconcile",
    time_limit=300,
    soft_time_limit=240,
    **TASK_OPTIONS,
)
def registry_reconcile() -> int:
    """Mirror MLflow, detect aliases moved outside Modelgate, retry failed and
    lost applies. Returns the number of models reconciled."""
    from governance.services.reconcile import registry_reconcile_run

    with job_timed("governance.tasks.registry_reconcile"):
        try:
            report = registry_reconcile_run()
        except registry.RegistryError as exc:
            logger.warning(
                "registry reconciliation skipped: MLflow unavailable: %s", exc
            )
            return 0
    logger.info(
        "registry reconciled: %d models, %d changed, %d out-of-band, %d applied",
        report.models,
        len(report.changes),
        len(report.out_of_band),
        len(report.applied),
    )
    return report.models


@shared_task(
    name="governance.tasks.registry_model_sync",
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(registry.RegistryError,),
    retry_backoff=5,
    max_retries=3,
    **TASK_OPTIONS,
)
def registry_model_sync(*, name: str) -> None:
    """Reconcile one model now (after an MLflow webhook)."""
    from governance.services.reconcile import registry_model_reconcile

    with job_timed("governance.tasks.registry_model_sync"):
        try:
            registry_model_reconcile(name=name)
        except registry.RegistryNotFound:
            logger.info("webhook named %s, which MLflow does not have", name)


@shared_task(
    name="governance.tasks.promotion_checks_run",
    time_limit=120,
    soft_time_limit=100,
    **TASK_OPTIONS,
)
def promotion_checks_run(*, request_id: int) -> bool:
    """Run the automated checks of one request and store the evidence."""
    from governance.services.checks import promotion_checks_refresh

    with job_timed("governance.tasks.promotion_checks_run"):
        return promotion_checks_refresh(request_id=request_id)


@shared_task(
    name="governance.tasks.promotion_apply",
    time_limit=300,
    soft_time_limit=240,
    **TASK_OPTIONS,
)
def promotion_apply_task(*, request_id: int) -> str:
    """Move the MLflow aliases of an approved request (safe to deliver twice)."""
    from governance.services.apply import promotion_apply

    with job_timed("governance.tasks.promotion_apply"):
        result = promotion_apply(request_id=request_id)
    return result.status if result is not None else "noop"


@shared_task(
    name="governance.tasks.promotion_housekeeping",
    time_limit=300,
    soft_time_limit=240,
    **TASK_OPTIONS,
)
def promotion_housekeeping() -> dict:
    """Expire undecided requests, re-run the checks of open ones (time in
    staging grows, alerts close) and report overdue emergency rollbacks."""
    from governance.services.checks import promotion_checks_refresh_open
    from governance.services.requests import promotion_expire_due
    from governance.services.rollback import emergency_overdue_notify

    with job_timed("governance.tasks.promotion_housekeeping"):
        result = {
            "expired": promotion_expire_due(),
            "evidence_changed": promotion_checks_refresh_open(),
            "emergency_overdue": emergency_overdue_notify(),
        }
    logger.info("promotion housekeeping: %s", result)
    return result


@shared_task(
    name="governance.tasks.audit_anchor",
    time_limit=60,
    soft_time_limit=50,
    **TASK_OPTIONS,
)
def audit_anchor() -> int:
    """Record the audit chain head outside the database (the anchor file)."""
    from governance.services.audit import audit_anchor_write

    with job_timed("governance.tasks.audit_anchor"):
        return audit_anchor_write()["sequence"]

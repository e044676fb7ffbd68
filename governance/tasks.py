import logging

from celery import shared_task

from governance import registry
from governance.services import registry_sync_all

logger = logging.getLogger(__name__)


@shared_task(
    name="governance.tasks.registry_reconcile",
    acks_late=True,
    ignore_result=True,
    time_limit=300,
    soft_time_limit=240,
)
def registry_reconcile() -> int:
    """Copy every registered model, version and alias of MLflow into the mirror."""
    try:
        models = registry_sync_all()
    except registry.RegistryError as exc:
        logger.warning("registry reconciliation skipped: MLflow unavailable: %s", exc)
        return 0
    logger.info("registry reconciled: %d models", len(models))
    return len(models)

"""Receivers of core signals (connected in ``TrainerConfig.ready``)."""

import logging

logger = logging.getLogger(__name__)

ALERT_FIELDS = ("alert_id", "model_name", "model_version", "kind", "severity")


def on_alert_opened(sender, **kwargs) -> None:
    """Hand the alert to a task: matching it to a policy and training happen
    on a worker, never in monitoring's evaluation."""
    from trainer.tasks import retraining_alert_task

    alert = {k: kwargs.get(k) for k in ALERT_FIELDS}
    alert.update(title=kwargs.get("title", ""), value=kwargs.get("value"))
    try:
        retraining_alert_task.delay(**alert)
    except Exception as exc:
        logger.warning("could not publish alert %s to retraining: %s", alert, exc)

"""Celery tasks of the trainer: thin interfaces over trainer.retraining."""

from celery import shared_task

from trainer.retraining import (
    retraining_due,
    retraining_on_alert,
    retraining_recover,
    retraining_run_execute,
)


@shared_task(name="trainer.tasks.retraining_run_task")
def retraining_run_task(*, run_id: int) -> None:
    """Train for a queued run (a repeated delivery does nothing)."""
    retraining_run_execute(run_id=run_id)


@shared_task(name="trainer.tasks.retraining_alert_task")
def retraining_alert_task(**alert) -> None:
    """An alert opened (core.signals.alert_opened): maybe start a run."""
    retraining_on_alert(**alert)


@shared_task(name="trainer.tasks.retraining_tick")
def retraining_tick() -> None:
    """Start the runs schedules and new labels call for; publish again or
    give up the runs no worker holds."""
    retraining_due()
    retraining_recover()

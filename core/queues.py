"""Celery queues: each app's jobs on a queue of its own, so a long job of one
kind cannot hold up another (a drift report behind which a governance apply
would wait). Deployments run a worker pool per queue; one worker started
without ``-Q`` (the embedded default, ``make run``) consumes them all."""

from __future__ import annotations

from django.conf import settings


def task_route(name, args, kwargs, options, task=None, **kw) -> dict | None:
    """Celery router: the queue ``CELERY_QUEUES_BY_TASK`` names for the task,
    else the queue of its app (the first part of its name) as
    ``CELERY_QUEUES_BY_APP`` says; None leaves the default queue."""
    queue = getattr(settings, "CELERY_QUEUES_BY_TASK", {}).get(name)
    queue = queue or settings.CELERY_QUEUES_BY_APP.get(name.split(".", 1)[0])
    return {"queue": queue} if queue else None

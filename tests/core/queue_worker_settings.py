"""Settings of the Celery worker subprocesses of tests/core/test_queues.py:
the test settings on the test process's database and broker, the per-app
queues under private names, and two signal handlers that make the report
job slow (it waits for a release file) and record when each job finished."""

import os
import time
from pathlib import Path

from celery import signals

from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_QUEUES_BY_APP = {
    "governance": os.environ["MG_QUEUE_GOVERNANCE"],
    "monitoring": os.environ["MG_QUEUE_MONITORING"],
}
MARKS = Path(os.environ["MG_QUEUE_MARKS"])


@signals.task_prerun.connect
def _slow_report(task=None, **_kwargs) -> None:
    if task.name == "monitoring.tasks.report_run":
        (MARKS / "report-started").touch()
        deadline = time.monotonic() + 120
        while not (MARKS / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@signals.task_postrun.connect
def _finished(task=None, **_kwargs) -> None:
    (MARKS / f"{task.name}-finished").touch()

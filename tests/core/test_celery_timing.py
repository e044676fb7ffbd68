"""RELIABILITY's Celery settings, read from the live configuration of the
production settings: late acknowledgement, prefetch 1, and every countdown,
retry back-off and time limit shorter than the Redis visibility timeout (a
longer one makes Redis hand the same message to a second worker while the
first still holds it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from config.celery_app import app
import inference.tasks, monitoring.tasks, governance.tasks
app.loader.import_default_modules()
conf = app.conf
tasks = {}
for name, task in sorted(app.tasks.items()):
    if not name.split(".")[0] in ("inference", "monitoring", "governance", "core"):
        continue
    tasks[name] = {
        "acks_late": task.acks_late,
        "reject_on_worker_lost": task.reject_on_worker_lost,
        "time_limit": task.time_limit or conf.task_time_limit,
        "soft_time_limit": task.soft_time_limit or conf.task_soft_time_limit,
        "default_retry_delay": task.default_retry_delay,
        "retry_backoff": bool(getattr(task, "retry_backoff", False)),
        "retry_backoff_max": getattr(task, "retry_backoff_max", 600),
    }
mon = settings.MONITORING
opts = conf.broker_transport_options
print(json.dumps({
    "broker": conf.broker_url,
    "visibility_timeout": opts["visibility_timeout"],
    "socket_timeout": opts.get("socket_timeout"),
    "socket_connect_timeout": opts.get("socket_connect_timeout"),
    "prefetch": conf.worker_prefetch_multiplier,
    "acks_late": conf.task_acks_late,
    "reject_on_worker_lost": conf.task_reject_on_worker_lost,
    "tasks": tasks,
    "countdowns": {
        "monitoring: report busy (lease + 1 s)": mon["REPORT_LEASE_SECONDS"] + 1,
        "monitoring: follow-up retry (x 20 attempts)": mon["REPORT_RETRY_SECONDS"] * 20,
        "monitoring: requeue of a stale report": mon["REPORT_REQUEUE_SECONDS"],
        "inference: batch slice back-off cap": inference.tasks.RETRY_MAX_SECONDS,
        "inference: batch slice length": inference.tasks.SLICE_SECONDS,
    },
}))
"""


@pytest.fixture(scope="module")
def live_conf(tmp_path_factory) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "MODELGATE_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_broker_is_redis_with_timeouts(live_conf):
    assert live_conf["broker"].startswith("redis://")
    assert 0 < live_conf["socket_timeout"] <= 10
    assert 0 < live_conf["socket_connect_timeout"] <= 10


def test_late_acknowledgement_and_prefetch_one(live_conf):
    assert live_conf["prefetch"] == 1
    assert live_conf["acks_late"] and live_conf["reject_on_worker_lost"]
    assert live_conf["tasks"], "no tasks registered"
    for name, task in live_conf["tasks"].items():
        assert task["acks_late"], name
        assert task["reject_on_worker_lost"], name


def test_every_delay_and_limit_is_below_the_visibility_timeout(live_conf):
    visibility = live_conf["visibility_timeout"]
    delays = dict(live_conf["countdowns"])
    for name, task in live_conf["tasks"].items():
        delays[f"{name}: time limit"] = task["time_limit"]
        delays[f"{name}: soft time limit"] = task["soft_time_limit"]
        delays[f"{name}: retry delay"] = task["default_retry_delay"]
        if task["retry_backoff"]:
            delays[f"{name}: back-off cap"] = task["retry_backoff_max"]
    too_long = {k: v for k, v in delays.items() if not v or v >= visibility}
    assert not too_long, f"not below visibility timeout {visibility}s: {too_long}"
    assert len(delays) > 10


def test_every_soft_time_limit_is_below_the_hard_one(live_conf):
    """Celery refuses to publish a task whose soft limit (its own or the global
    default) exceeds its hard one: beat would log "Couldn't apply scheduled
    task" on every tick and the task would never run."""
    inverted = {
        name: (task["soft_time_limit"], task["time_limit"])
        for name, task in live_conf["tasks"].items()
        if not task["soft_time_limit"] < task["time_limit"]
    }
    assert not inverted, f"soft >= hard time limit (soft, hard): {inverted}"

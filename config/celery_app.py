"""The Celery application: configuration from Django settings (CELERY_*)."""

import os

from celery import Celery, signals

from core.broker import guard_redis_channel_close

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Evidently sends usage telemetry by default; a self-hosted service must not.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")

app = Celery("modelgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
guard_redis_channel_close()


@signals.task_prerun.connect
def _close_stale_connections_before(**_kwargs) -> None:
    """Drop database connections that died while the worker was idle."""
    _close_old_connections()


@signals.task_postrun.connect
def _close_stale_connections_after(**_kwargs) -> None:
    _close_old_connections()


def _close_old_connections() -> None:
    # An eager task runs inside its caller's transaction (tests, on_commit
    # callbacks of a test): closing that connection would break the caller.
    from django.db import close_old_connections, connection

    if not connection.in_atomic_block:
        close_old_connections()


@signals.worker_process_init.connect
def _prepare_worker_process(**_kwargs) -> None:
    """Make sure the filesystem broker folders exist before the worker polls them."""
    from core.broker import ensure_broker_dirs

    ensure_broker_dirs()


@signals.worker_ready.connect
def _serve_metrics(**_kwargs) -> None:
    """A worker in a container of its own serves its job metrics itself: the
    web's /metrics cannot read another container's multiprocess folder."""
    from django.conf import settings

    port = settings.MONITORING.get("METRICS_PORT") or 0
    if port:
        from core.metrics import serve_metrics

        serve_metrics(port)

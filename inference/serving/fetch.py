"""Model versions fetched in a helper process.

A busy web worker that downloads a new version would run MLflow's client, the
HTTP transfers and the file writes in a thread that competes for the GIL with
its request threads; on a saturated machine the download then takes several
times longer than on an idle one. With ``INFERENCE_FETCH_IN_PROCESS`` on, each
process that serves keeps one helper process (multiprocessing's forkserver: a
clean interpreter, no copy of the worker's threads, sockets or loaded models)
that downloads and checks the copy; the worker only unpickles the result.

The helper reads MLflow's location from the settings sent with each call, so a
change of settings in the worker (tests) reaches it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from django.conf import settings

from inference.serving.errors import ModelUnavailable

logger = logging.getLogger(__name__)

#: what the gateway to MLflow reads, sent with every call
REGISTRY_SETTINGS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_ARTIFACT_ROOT",
    "MLFLOW_REQUEST_TIMEOUT_SECONDS",
    "MLFLOW_REQUEST_MAX_RETRIES",
)

_pool: ProcessPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def fetch_in_process_enabled() -> bool:
    """On when configured, except in a daemonic process (a Celery prefork
    child may start no process; it has no request threads to spare either)."""
    if multiprocessing.current_process().daemon:
        return False
    return bool(settings.INFERENCE.get("FETCH_IN_PROCESS", False))


def _child_start(settings_module: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()


def _child_fetch(values: dict, root: str, name: str, version: int) -> str:
    from django.conf import settings as child_settings

    for key, value in values.items():
        setattr(child_settings, key, value)
    from inference.serving.local import LocalCopies

    return str(LocalCopies(Path(root)).download(name, version))


def _helper() -> ProcessPoolExecutor:
    """This process's helper (a forked worker gets its own, never its
    parent's)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_child_start,
                initargs=(os.environ.get("DJANGO_SETTINGS_MODULE", ""),),
            )
            _pool_pid = os.getpid()
        return _pool


def fetch_helper_start() -> None:
    """Start the helper ahead of the first download (a worker's warm-up), so
    an alias swap does not pay for the interpreter's start."""
    if fetch_in_process_enabled():
        _helper().submit(os.getpid).result(timeout=120)


def fetch_helper_stop() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def fetch_in_process(root: Path, name: str, version: int) -> Path:
    """Download ``name`` v``version`` under ``root`` in the helper process;
    raises what the download raises (ModelNotFound, ModelUnavailable)."""
    values = {key: getattr(settings, key) for key in REGISTRY_SETTINGS}
    timeout = settings.INFERENCE.get("FETCH_TIMEOUT_SECONDS", 300.0)
    try:
        future = _helper().submit(_child_fetch, values, str(root), name, version)
        return Path(future.result(timeout=timeout))
    except BrokenProcessPool as exc:
        fetch_helper_stop()  # the next download starts a new helper
        logger.error("the fetch helper of %s v%s died: %s", name, version, exc)
        raise ModelUnavailable(
            f"the download of {name} v{version} failed: its helper process died"
        ) from exc
    except TimeoutError as exc:
        raise ModelUnavailable(
            f"the download of {name} v{version} took longer than {timeout:.0f} s"
        ) from exc

"""gunicorn settings; every value can be overridden by GUNICORN_* variables."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threaded workers: keep-alive connections, and the prediction log of a
# worker's concurrent requests is committed in shared transactions
# (inference/groupcommit.py).
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
# Request line and header caps. gunicorn has no body cap: config/wsgi.py refuses a
# Content-Length over the largest accepted body (core/wsgi_limits.py), Django and
# the prediction parser cap what a view reads.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# Load the app (and its models) once in the master; workers fork from it.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
# Django, MLflow, scikit-learn and the loaded models are ~450,000 objects that
# live as long as the worker; a full collection walks them all (about 0.3 s
# with the GIL held, the tail latency of a busy worker). gc.freeze() after
# start-up leaves them out of every later collection.
gc_freeze = os.environ.get("GUNICORN_GC_FREEZE", "1") == "1"


def on_starting(server) -> None:
    """Start every run with an empty Prometheus multiprocess folder."""
    from core.metrics import reset_multiprocess_dir

    reset_multiprocess_dir()


def child_exit(server, worker) -> None:
    from core.metrics import mark_process_dead

    mark_process_dead(worker.pid)


# ----------------------------------------------------------------- inference
def when_ready(server) -> None:
    """Import the model libraries once in the master (workers inherit them)."""
    if preload_app and os.environ.get("GUNICORN_WARMUP", "1") == "1":
        import mlflow.pyfunc  # noqa: F401
        import sklearn.pipeline  # noqa: F401


def post_fork(server, worker) -> None:
    """Load the served models in each worker before it accepts requests, then
    take everything loaded so far out of the garbage collector's full passes."""
    if os.environ.get("GUNICORN_WARMUP", "1") == "1":
        from inference.cache import warm_up

        warm_up()
    if gc_freeze:
        import gc

        gc.collect()
        gc.freeze()

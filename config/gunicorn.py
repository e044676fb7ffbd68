"""gunicorn settings; every value can be overridden by GUNICORN_* variables."""

import errno
import os
import socket
import sys
import time

from gunicorn.glogging import Logger

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
# One listening socket per worker (SO_REUSEPORT) on a TCP address, so the
# kernel spreads new connections over the workers. On the one socket they
# otherwise share, a burst of keep-alive connections often lands on a single
# worker, which serves them all while the other idles (all 32 connections of a
# benchmark cell in 3 of 6 tries, at half the throughput). on_starting checks
# that no other process holds the port, which SO_REUSEPORT would not refuse.
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") == "1"
# Pin each worker to one CPU, round robin over the CPUs the server may run on
# (as nginx's worker_cpu_affinity auto). A worker's threads then stay on one
# core instead of migrating between cores on every wake-up (measured on the
# 2-core benchmark machine: half the context switches per request, no
# migrations). For a machine the server has to itself: processes elsewhere
# pinned to the same CPUs would compete with the workers.
cpu_affinity = os.environ.get("GUNICORN_CPU_AFFINITY", "0") == "1"
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
# Request line and header caps. gunicorn has no body cap: config/wsgi.py refuses a
# Content-Length over the largest accepted body (core/wsgi_limits.py), Django and
# the prediction parser cap what a view reads.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
access_log_format = ACCESS_LOG_FORMAT


class AccessLogger(Logger):
    """gunicorn's logger, with the access line's atoms built only for the
    fields of ``ACCESS_LOG_FORMAT``: gunicorn's own ``atoms`` copies every
    request header, response header and WSGI variable, formats a timestamp
    and decodes Basic credentials for every line, whatever the format uses.
    Another format gets gunicorn's atoms."""

    def atoms(self, resp, req, environ, request_time):
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            return super().atoms(resp, req, environ, request_time)
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} "
            f"{environ['SERVER_PROTOCOL']}",
            "s": status,
            "b": "-" if sent is None else str(sent),
            "M": request_time.seconds * 1000 + request_time.microseconds // 1000,
        }


logger_class = AccessLogger
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
    if server.cfg.reuse_port:
        inherited = "LISTEN_FDS" in os.environ or "GUNICORN_FD" in os.environ
        if inherited or not reuse_port_usable(server.cfg.address):
            server.cfg.set("reuse_port", False)  # one shared socket, as usual
            return
        for address in server.cfg.address:
            if not address_free(address):
                server.log.error("Connection in use: %s:%s", *address)
                sys.exit(1)
            server.log.info("Listening at: http://%s:%s (socket per worker)", *address)


def reuse_port_usable(addresses) -> bool:
    """Whether every address is TCP with a fixed port (a Unix socket or a
    descriptor cannot be opened once per worker; port 0 would give each worker
    a port of its own). Sockets passed by systemd or by a re-executed master
    are used as they are."""
    return all(isinstance(a, tuple) and a[1] != 0 for a in addresses)


def address_free(address, attempts: int = 5, delay: float = 1.0) -> bool:
    """Whether a socket without SO_REUSEPORT can bind ``address`` (retried
    like gunicorn's own bind, for a server still shutting down)."""
    host, port = address
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
    for attempt in range(attempts):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return True
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        if attempt + 1 < attempts:
            time.sleep(delay)
    return False


def next_cpu(allowed, taken: list) -> int | None:
    """The CPU for a new worker: of the ``allowed`` CPUs, the one the fewest
    running workers are pinned to (``taken``: their CPUs), lowest first; None
    with a single CPU (nothing to pin)."""
    cpus = sorted(allowed)
    if len(cpus) < 2:
        return None
    return min(cpus, key=lambda cpu: (taken.count(cpu), cpu))


def pre_fork(server, worker) -> None:
    """Choose the new worker's CPU in the master, which knows the others'."""
    if not cpu_affinity:
        return
    worker.cpu = next_cpu(
        os.sched_getaffinity(0),
        [getattr(w, "cpu", None) for w in server.WORKERS.values()],
    )


def child_exit(server, worker) -> None:
    from core.metrics import mark_process_dead

    mark_process_dead(worker.pid)


# ----------------------------------------------------------------- inference
def when_ready(server) -> None:
    """Import the model libraries once in the master (workers inherit them)."""
    if preload_app and os.environ.get("GUNICORN_WARMUP", "1") == "1":
        import sklearn.pipeline  # noqa: F401

        from core import registry

        registry.libraries_preload()


def post_fork(server, worker) -> None:
    """Load the served models in each worker before it accepts requests, then
    take everything loaded so far out of the garbage collector's full passes.

    With a socket per worker, gunicorn opens the worker's socket before this
    hook; it is closed during the warm-up and opened again after it, so the
    kernel gives a starting worker no connection it cannot answer yet."""
    from gunicorn.sock import close_sockets, create_sockets

    cpu = getattr(worker, "cpu", None)
    if cpu is not None:
        # threads started from here on (gthread's pool) inherit the mask
        os.sched_setaffinity(0, {cpu})
        server.log.info("Worker %s pinned to CPU %s", worker.pid, cpu)
    reopen = server.cfg.reuse_port and bool(worker.sockets)
    if reopen:
        close_sockets(worker.sockets, unlink=False)
    if os.environ.get("GUNICORN_WARMUP", "1") == "1":
        from inference.serving import warm_up

        warm_up()
    if reopen:
        worker.sockets = create_sockets(server.cfg, server.log)
    if gc_freeze:
        import gc

        gc.collect()
        gc.freeze()

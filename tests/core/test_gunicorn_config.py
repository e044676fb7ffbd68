"""The gunicorn settings' socket handling: one listening socket per worker on
a TCP address, the port checked free first, the shared socket otherwise."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import socket
import threading

import pytest
from gunicorn.config import Config

import config.gunicorn as gunicorn_conf


class _Server:
    def __init__(self, *binds: str) -> None:
        self.cfg = Config()
        self.cfg.set("bind", list(binds))
        self.cfg.set("reuse_port", True)
        self.log = logging.getLogger("test.gunicorn")


def _listener(reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture(autouse=True)
def _no_metrics_dir(monkeypatch):
    monkeypatch.setattr("core.metrics.reset_multiprocess_dir", lambda: None)
    monkeypatch.delenv("LISTEN_FDS", raising=False)
    monkeypatch.delenv("GUNICORN_FD", raising=False)


def test_socket_per_worker_by_default(monkeypatch):
    monkeypatch.delenv("GUNICORN_REUSE_PORT", raising=False)
    assert importlib.reload(gunicorn_conf).reuse_port is True
    monkeypatch.setenv("GUNICORN_REUSE_PORT", "0")
    assert importlib.reload(gunicorn_conf).reuse_port is False
    monkeypatch.delenv("GUNICORN_REUSE_PORT")
    importlib.reload(gunicorn_conf)


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        (("127.0.0.1", 8000), True),
        (("127.0.0.1", 0), False),  # each worker would get a port of its own
        ("/run/modelgate.sock", False),  # a Unix socket
        (3, False),  # an inherited descriptor (fd://3)
    ],
)
def test_reuse_port_only_for_tcp_with_a_fixed_port(address, usable):
    assert gunicorn_conf.reuse_port_usable([address]) is usable


def test_address_free_refuses_a_port_another_process_listens_on():
    # a worker's SO_REUSEPORT socket would accept a second server beside it;
    # the probe binds without SO_REUSEPORT and is refused
    for reuse_port in (True, False):
        held = _listener(reuse_port)
        address = held.getsockname()
        try:
            assert not gunicorn_conf.address_free(address, attempts=2, delay=0.01)
        finally:
            held.close()
        assert gunicorn_conf.address_free(address, attempts=1)


def test_on_starting_stops_when_the_port_is_taken(monkeypatch):
    once = functools.partial(gunicorn_conf.address_free, attempts=1)
    monkeypatch.setattr(gunicorn_conf, "address_free", once)
    held = _listener(reuse_port=True)
    try:
        host, port = held.getsockname()
        with pytest.raises(SystemExit):
            gunicorn_conf.on_starting(_Server(f"{host}:{port}"))
    finally:
        held.close()


def test_on_starting_keeps_socket_per_worker_on_a_free_port():
    free = _listener(reuse_port=False)
    host, port = free.getsockname()
    free.close()
    server = _Server(f"{host}:{port}")
    gunicorn_conf.on_starting(server)
    assert server.cfg.reuse_port is True


@pytest.mark.parametrize("bind", ["unix:/tmp/modelgate-test.sock", "fd://3"])
def test_on_starting_shares_one_socket_for_unix_and_descriptors(bind):
    server = _Server(bind)
    gunicorn_conf.on_starting(server)
    assert server.cfg.reuse_port is False


def test_on_starting_uses_sockets_passed_by_systemd(monkeypatch):
    monkeypatch.setenv("LISTEN_FDS", "1")
    server = _Server("127.0.0.1:8000")
    gunicorn_conf.on_starting(server)
    assert server.cfg.reuse_port is False


class _Response:
    status = "200 OK"
    sent = 431
    headers = [("Content-Type", "application/json"), ("X-Request-ID", "abc")]


class _Request:
    headers = [("HOST", "127.0.0.1:8000"), ("AUTHORIZATION", "Token secret")]


def _environ(**extra) -> dict:
    return {
        "REMOTE_ADDR": "10.1.2.3",
        "REQUEST_METHOD": "POST",
        "RAW_URI": '/api/v1/models/sms-spam/predict?alias="x"',
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/api/v1/models/sms-spam/predict",
        "HTTP_AUTHORIZATION": "Token secret",
        **extra,
    }


def _line(logger, environ, response=None) -> str:
    from datetime import timedelta

    from gunicorn.glogging import SafeAtoms

    atoms = logger.atoms(
        response or _Response(), _Request(), environ, timedelta(microseconds=12_345)
    )
    return logger.cfg.access_log_format % SafeAtoms(atoms)


@pytest.mark.parametrize("sent", [431, 0, None])
def test_access_line_is_gunicorns_line(sent):
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("access_log_format", gunicorn_conf.ACCESS_LOG_FORMAT)
    response = _Response()
    response.sent = sent
    ours, theirs = gunicorn_conf.AccessLogger(cfg), Logger(cfg)
    line = _line(ours, _environ(), response)
    assert line == _line(theirs, _environ(), response)
    expected_size = "-" if sent is None else str(sent)
    assert line == (
        '10.1.2.3 "POST /api/v1/models/sms-spam/predict?alias=\\"x\\" HTTP/1.1" '
        f"200 {expected_size} 12ms"
    )


def test_access_line_of_another_format_has_every_gunicorn_field():
    cfg = Config()
    cfg.set("access_log_format", '%(h)s "%(a)s" %({x-request-id}o)s')
    line = _line(gunicorn_conf.AccessLogger(cfg), _environ(HTTP_USER_AGENT="curl/8"))
    assert line == '10.1.2.3 "curl/8" abc'


# ------------------------------------------------------------- CPU affinity
@pytest.mark.parametrize(
    ("allowed", "taken", "cpu"),
    [
        ({0, 1}, [], 0),
        ({0, 1}, [0], 1),
        ({0, 1}, [0, 1], 0),  # more workers than CPUs: round robin
        ({0, 1}, [1], 0),  # a restarted worker takes the CPU its predecessor left
        ({2, 5, 7}, [2, 5], 7),  # only the CPUs the server may run on
        ({0, 1, 2}, [0, None, 1], 2),  # a worker started unpinned counts for none
        ({3}, [], None),  # one CPU: nothing to pin
    ],
)
def test_next_cpu_spreads_workers_over_the_allowed_cpus(allowed, taken, cpu):
    assert gunicorn_conf.next_cpu(allowed, taken) == cpu


class _Worker:
    def __init__(self, cpu=None) -> None:
        if cpu is not None:
            self.cpu = cpu
        self.sockets = []
        self.pid = os.getpid()


def test_pre_fork_pins_only_when_asked(monkeypatch):
    server = _Server("127.0.0.1:8000")
    server.WORKERS = {101: _Worker(cpu=0)}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(gunicorn_conf, "cpu_affinity", False)
    worker = _Worker()
    gunicorn_conf.pre_fork(server, worker)
    assert not hasattr(worker, "cpu")
    monkeypatch.setattr(gunicorn_conf, "cpu_affinity", True)
    gunicorn_conf.pre_fork(server, worker)
    assert worker.cpu == 1


def test_post_fork_pins_the_worker_and_the_threads_it_starts(monkeypatch):
    """In a forked child (the test process keeps its CPUs): after post_fork
    the worker and a thread it starts later run on its CPU only."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    monkeypatch.setenv("GUNICORN_WARMUP", "0")
    monkeypatch.setattr(gunicorn_conf, "gc_freeze", False)
    cpu = max(os.sched_getaffinity(0))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the masks, exit without pytest's teardown
        try:
            gunicorn_conf.post_fork(_Server("127.0.0.1:8000"), _Worker(cpu=cpu))
            seen = {}
            thread = threading.Thread(
                target=lambda: seen.update(thread=os.sched_getaffinity(0))
            )
            thread.start()
            thread.join()
            masks = (os.sched_getaffinity(0), seen["thread"])
            os.write(write, repr(masks).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report == repr(({cpu}, {cpu}))
    assert len(os.sched_getaffinity(0)) >= 2  # the test process is untouched

"""The Celery worker survives losing its Redis broker with a message in flight.

A private redis-server is killed while a delivered message is
unacknowledged, and the connection is closed the way Celery's consumer closes
it after a lost connection (``on_connection_error_after_connected``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest
from kombu import Connection
from kombu.common import ignore_errors
from kombu.transport import redis as kombu_redis

from core.broker import guard_redis_channel_close
from tests.conftest import REQUIRE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis():
    """A redis-server of the test's own, to be killed (not the shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed"
        if REQUIRE:
            pytest.fail(f"MODELGATE_REQUIRE_SERVICES=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield SimpleNamespace(url=url, process=process)
    process.kill()
    process.wait(timeout=10)


def _lose_broker_with_a_message_in_flight(server) -> None:
    connection = Connection(server.url, transport_options={"visibility_timeout": 60})
    queue = connection.SimpleQueue("mg-test-broker-loss")
    queue.put({"n": 1})
    message = queue.get(timeout=5)  # delivered, not acknowledged (acks_late)
    assert not message.acknowledged
    server.process.kill()
    server.process.wait(timeout=10)
    # The state Celery 5.7's consumer reached in a worker whose Redis was
    # stopped (reliability check 10): collect() detached the transport
    # (Connection._do_close_transport) but the channel holding the
    # unacknowledged message was still open. Celery's next step:
    connection._transport.client = None
    ignore_errors(connection, connection.close)


def test_without_the_guard_the_worker_would_exit(private_redis, monkeypatch):
    """The failure the guard is for: Celery reports it as 'Unrecoverable
    error' and the worker exits."""
    guard_redis_channel_close()
    monkeypatch.setattr(
        kombu_redis.Channel, "_connparams", kombu_redis.Channel._modelgate_unguarded
    )
    with pytest.raises(AttributeError, match="hostname"):
        _lose_broker_with_a_message_in_flight(private_redis)


def test_with_the_guard_the_worker_reconnects_later(private_redis):
    guard_redis_channel_close()
    guard_redis_channel_close()  # idempotent
    _lose_broker_with_a_message_in_flight(private_redis)  # no exception

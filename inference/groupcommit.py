"""Group commit of the prediction log across the threads of one process.

With a threaded server (gunicorn ``gthread``) several requests of one process
finish their prediction at about the same time, and each would wait for its
own commit (a WAL flush on PostgreSQL, a fsync on SQLite). Here the first
request to arrive becomes the leader: it writes the rows of every request
waiting at that moment in one transaction, commits, and wakes them; requests
that arrive meanwhile are written by the next leader (the first of them,
promoted by the one before). No response leaves before the transaction that
holds its rows has committed, so a 2xx still means "logged".

The connection health check (``CONN_HEALTH_CHECKS``: a ``SELECT 1`` before
the first statement of each request) is skipped for a connection that
completed a group's write less than ``ALIVE_WINDOW_SECONDS`` ago, as
connection pools do (HikariCP's "alive bypass window"): under load it saved
one round trip on the critical path of every group. A connection that died
within that window fails the write, its requests get an error (nothing is
answered 2xx without its rows), and Django closes it at the end of the
request.

When the group's transaction fails (a stored response that another request
wrote meanwhile, for instance), each request of the group is written in its
own transaction instead, and only the request at fault gets the error.
With one thread per process every group holds one request: the behaviour is
that of a plain transaction per request, as with ``INFERENCE_GROUP_COMMIT``
off (each request commits on its own thread's connection and PostgreSQL
shares the WAL flushes that coincide; 1.3x slower at one row and
concurrency 8 in the serving benchmark).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)

from inference.logwriter import prediction_logs_insert, single_statement

logger = logging.getLogger(__name__)

ALIVE_WINDOW_SECONDS = 0.5
_OK_AT = "_modelgate_log_ok_at"  # attribute on the thread's DatabaseWrapper


def _presume_alive(conn) -> None:
    """Skip this request's health check of ``conn`` if it just proved alive."""
    if (
        conn.connection is not None
        and conn.health_check_enabled
        and not conn.health_check_done
        and not conn.errors_occurred
        and time.monotonic() - getattr(conn, _OK_AT, float("-inf"))
        < ALIVE_WINDOW_SECONDS
    ):
        conn.health_check_done = True


@dataclass(eq=False)
class _Pending:
    logs: list
    stored: object | None  # an unsaved StoredResponse
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """One per process; ``write()`` returns once the rows are committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self.groups = 0  # transactions written (for tests and metrics)
        self.items = 0

    def write(self, logs: list, stored=None) -> None:
        """Commit ``logs`` (and ``stored``) durably; raises what its own
        transaction raised (``IntegrityError`` for a duplicate stored response).
        """
        if connection.in_atomic_block:
            # the caller already holds a transaction (tests, batch): join it
            with transaction.atomic():
                _insert([_Pending(logs, stored)])
            return
        item = _Pending(logs, stored)
        if not settings.INFERENCE["GROUP_COMMIT"]:
            self._commit([item])  # its own transaction on the thread's connection
            if item.error is not None:
                raise item.error
            return
        with self._lock:
            self._queue.append(item)
            lead = not self._leading
            if lead:
                self._leading = True
        if not lead:
            item.done.wait()
            if not item.lead:
                if item.error is not None:
                    raise item.error
                return
        self._lead()
        if item.error is not None:
            raise item.error

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        except BaseException as exc:  # never let a follower believe it was written
            for item in group:
                item.error = item.error or exc
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False
            for item in group:
                item.done.set()

    def _commit(self, group: list[_Pending]) -> None:
        self.groups += 1
        self.items += len(group)
        conn = connections[DEFAULT_DB_ALIAS]
        _presume_alive(conn)
        try:
            if _one_statement(group):
                # a single INSERT (or COPY) in autocommit mode is its own
                # transaction: one round trip instead of BEGIN, INSERT, COMMIT
                _insert(group)
            else:
                with transaction.atomic():
                    _insert(group)
            setattr(conn, _OK_AT, time.monotonic())
            return
        except (IntegrityError, DatabaseError) as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            logger.info("group of %d failed (%s); writing one by one", len(group), exc)
        for item in group:
            try:
                with transaction.atomic():
                    _insert([item])
            except (IntegrityError, DatabaseError) as exc:
                item.error = exc


def _one_statement(group: list[_Pending]) -> bool:
    if any(item.stored is not None for item in group):
        return False
    return single_statement(sum(len(item.logs) for item in group))


def _insert(group: list[_Pending]) -> None:
    logs = [row for item in group for row in item.logs]
    if logs:
        prediction_logs_insert(logs)
    stored = [item.stored for item in group if item.stored is not None]
    if stored:
        type(stored[0]).objects.bulk_create(stored)


_committer = GroupCommitter()


def group_committer() -> GroupCommitter:
    return _committer

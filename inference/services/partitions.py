"""Daily partitions of the prediction log on PostgreSQL.

The log is range-partitioned by ``created_at``, one partition per UTC day
(``inference_predictionlog_p20261204``), plus a default partition that takes
rows no day partition covers (a clock far off, rows written while the hourly
task was down) so an insert never fails for want of a partition. A read whose
``WHERE`` bounds ``created_at`` touches only the partitions of that range;
retention detaches and drops whole days instead of deleting rows.

The hourly task ``log_partitions_ensure`` keeps ``LOG_PARTITION_DAYS_AHEAD``
days created ahead; a day whose rows already went to the default partition
gets them moved into its new partition in the same transaction. On SQLite
(the embedded default) the log stays one plain table and every function here
is a no-op.
"""

from __future__ import annotations

import logging
import re
import time as clock
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from psycopg.pq import TransactionStatus

from inference.models import PredictionLog

logger = logging.getLogger(__name__)

PARENT = PredictionLog._meta.db_table
DEFAULT_PARTITION = f"{PARENT}_default"
LOCK_NOT_AVAILABLE = "55P03"
_DAY_NAME = re.compile(rf"^{PARENT}_p(\d{{8}})$")


@dataclass(frozen=True)
class Partition:
    name: str
    day: date

    @property
    def start(self) -> datetime:
        return day_start(self.day)

    @property
    def end(self) -> datetime:
        return day_start(self.day + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def log_is_partitioned() -> bool:
    """Whether the prediction log is a partitioned table here."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table t JOIN pg_class c "
            "ON c.oid = t.partrelid WHERE c.relname = %s "
            "AND pg_table_is_visible(c.oid)",
            [PARENT],
        )
        return cursor.fetchone() is not None


def _days(names) -> list[Partition]:
    """The day tables among ``names``, oldest first."""
    found = []
    for name in names:
        match = _DAY_NAME.match(name)
        if match:
            digits = match[1]
            day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            found.append(Partition(name, day))
    return sorted(found, key=lambda p: p.day)


def log_partitions() -> list[Partition]:
    """The day partitions of the log, oldest first (not the default one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s AND pg_table_is_visible(p.oid)",
            [PARENT],
        )
        return _days(row[0] for row in cursor.fetchall())


def log_partition_create(day: date) -> bool:
    """Create the partition of ``day`` unless it exists; rows of that day
    already in the default partition move into it. Returns whether it was
    created. Runs in one transaction."""
    part = Partition(partition_name(day), day)
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [part.name])
        if cursor.fetchone()[0] is not None:
            return False
        start, end = part.start.isoformat(), part.end.isoformat()
        bounds = f"FOR VALUES FROM ('{start}') TO ('{end}')"
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {quote(DEFAULT_PARTITION)} "  # noqa: S608
            "WHERE created_at >= %s AND created_at < %s)",
            [part.start, part.end],
        )
        stray = cursor.fetchone()[0]
        if stray:
            # the default partition may not hold rows of a day that gets its
            # own partition: take it out, create the day, move the rows over
            cursor.execute(
                f"ALTER TABLE {quote(PARENT)} DETACH PARTITION "
                f"{quote(DEFAULT_PARTITION)}"
            )
        cursor.execute(
            f"CREATE TABLE {quote(part.name)} PARTITION OF {quote(PARENT)} {bounds}"
        )
        if stray:
            cursor.execute(
                f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} "  # noqa: S608
                "WHERE created_at >= %s AND created_at < %s RETURNING *) "
                f"INSERT INTO {quote(PARENT)} SELECT * FROM moved",
                [part.start, part.end],
            )
            logger.warning(
                "prediction log: moved %d rows of %s out of the default partition",
                cursor.rowcount,
                day,
            )
            cursor.execute(
                f"ALTER TABLE {quote(PARENT)} ATTACH PARTITION "
                f"{quote(DEFAULT_PARTITION)} DEFAULT"
            )
    return True


def log_partitions_ensure(*, days_ahead: int, now: datetime | None = None) -> list[str]:
    """Create the partitions of today and the next ``days_ahead`` days that
    do not exist yet; returns their names (none on SQLite)."""
    if not log_is_partitioned():
        return []
    today = (now or datetime.now(tz=UTC)).astimezone(UTC).date()
    created = []
    for offset in range(days_ahead + 1):
        day = today + timedelta(days=offset)
        if log_partition_create(day):
            created.append(partition_name(day))
    if created:
        logger.info("prediction log: created partitions %s", ", ".join(created))
    return created


def log_partition_drop(part: Partition) -> int:
    """Detach one day's partition, then drop it with the feedback of its
    rows; returns the number of log rows it held.

    The detach is a transaction of its own and the only step that locks the
    log: it takes an exclusive lock that inserts queue behind, so it waits
    for the lock at most ``LOG_DETACH_LOCK_TIMEOUT_MS`` (a monitoring read
    holding the log would otherwise stall every insert queued behind the
    detach for the rest of its read) and tries again, up to
    ``LOG_DETACH_ATTEMPTS`` times. Once detached, no new feedback can reach
    the day's rows (feedback finds its prediction through the log), so the
    day's rows are counted and their feedback deleted after the detach,
    outside the lock, in paced chunks, then the day's table is dropped
    (``log_detached_day_drop``). A crash between the steps leaves a detached
    day that the next retention drops the same way.
    """
    started = clock.monotonic()
    attempts = _detach(part)
    detached = clock.monotonic()
    rows, chunks = _drop_detached(part)
    logger.info(
        "prediction log: dropped partition %s (%d rows; detach %.0f ms after "
        "%d attempt(s), feedback and drop %.0f ms in %d chunk(s))",
        part.name,
        rows,
        (detached - started) * 1000,
        attempts,
        (clock.monotonic() - detached) * 1000,
        chunks,
    )
    return rows


class DetachTimeout(RuntimeError):
    """The log stayed locked by other work through every detach attempt."""


def _detach(part: Partition) -> int:
    """Detach ``part`` from the log with a bounded wait for its lock; returns
    the number of attempts it took."""
    conf = settings.INFERENCE
    attempts = max(1, conf["LOG_DETACH_ATTEMPTS"])
    quote = connection.ops.quote_name
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    [f"{conf['LOG_DETACH_LOCK_TIMEOUT_MS']}ms"],
                )
                cursor.execute(
                    f"ALTER TABLE {quote(PARENT)} DETACH PARTITION {quote(part.name)}"
                )
            return attempt
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            logger.info(
                "prediction log: %s busy, detach of %s waits (attempt %d of %d)",
                PARENT,
                part.name,
                attempt,
                attempts,
            )
            clock.sleep(min(0.05 * 2**attempt, 2.0))
    raise DetachTimeout(
        f"{PARENT} stayed locked through {attempts} attempts to detach "
        f"{part.name}; the next retention run tries again"
    )


def _drop_detached(part: Partition) -> tuple[int, int]:
    """Count a detached day's rows and delete their feedback, a chunk of
    ``LOG_DROP_CHUNK_ROWS`` log rows per statement with a pause of
    ``LOG_DROP_PAUSE_MS`` between chunks, then drop its table; returns the
    rows and the number of chunks.

    The whole day at once (1.25 million rows, 25,000 feedback rows) is about
    half a second of one core taken from the serving inserts on a small
    machine; in paced chunks it yields the CPU between them. What the
    inserts' p99 saw was how many chunks ran a second more than how much
    each did (the same work in five times the chunks raised it, in a fifth
    of them it stayed within its spread; docs/benchmark.md), so a chunk is
    one statement, its own transaction, and the default chunks are large
    and far apart. Every chunk is idempotent, so a retention that stops
    halfway leaves a detached day the next one finishes."""
    conf = settings.INFERENCE
    size = max(1, conf["LOG_DROP_CHUNK_ROWS"])
    pause = conf["LOG_DROP_PAUSE_MS"] / 1000
    statement = _chunk_statement(part)
    rows = chunks = 0
    last = -(2**63)  # below every bigint id
    with _nested_loops_only():
        while True:
            with connection.cursor() as cursor:
                cursor.execute(statement, {"last": last, "size": size})
                end, counted = cursor.fetchone()
            if end is None:
                break
            rows += counted
            chunks += 1
            last = end
            if counted < size:
                break
            clock.sleep(pause)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(part.name)}")
    return rows, chunks


def _chunk_statement(part: Partition) -> str:
    """One chunk of a detached day's cleanup as one statement: the next
    ``size`` ids after ``last`` (an index-only scan of the day's primary
    key, never its heap), and the deletion of their feedback and its
    history; returns the chunk's last id and its row count.

    Feedback has no database foreign key to the partitioned log (one would
    need the partition key in it). The chunk's range of log ids narrows the
    feedback to the chunk's; the probe of the day's primary key keeps a late
    row of another day whose id falls in the range. No id of the day lies
    between the previous chunk's last and this one's first. Both deletions
    see the statement's snapshot, and the history's foreign key is checked
    at commit, when both are gone."""
    quote = connection.ops.quote_name
    table = quote(part.name)
    in_chunk = (
        "f.prediction_id >= b.lo AND f.prediction_id <= b.hi AND EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {table} p WHERE p.id = f.prediction_id)"
    )
    return (
        f"WITH chunk AS (SELECT id FROM {table} WHERE id > %(last)s "  # noqa: S608
        "ORDER BY id LIMIT %(size)s), "
        "b AS (SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM chunk), "
        f"history AS (DELETE FROM {quote('inference_feedbackhistory')} h "
        f"USING {quote('inference_feedback')} f, b "
        f"WHERE h.feedback_id = f.id AND {in_chunk}), "
        f"labels AS (DELETE FROM {quote('inference_feedback')} f USING b "
        f"WHERE {in_chunk}) "
        "SELECT hi, n FROM b"
    )


@contextmanager
def _nested_loops_only():
    """Plan the cleanup's joins as nested loops over the chunk's feedback,
    probing the day's primary key (hashing or sorting the day: about three
    times the work), for this connection until the cleanup ends."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_hashjoin = off; SET enable_mergejoin = off")
    try:
        yield
    finally:
        # A chunk that failed inside a caller's transaction left it aborted:
        # a RESET there would fail and hide the chunk's error, and the
        # rollback the caller owes reverts the settings anyway.
        if connection.connection.info.transaction_status != TransactionStatus.INERROR:
            with connection.cursor() as cursor:
                cursor.execute("RESET enable_hashjoin; RESET enable_mergejoin")


def log_detached_days() -> list[Partition]:
    """Day tables of the log that are no longer attached to it (a retention
    that stopped between the detach and the drop), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relname LIKE %s AND pg_table_is_visible(c.oid) "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            [f"{PARENT}_p%"],
        )
        return _days(row[0] for row in cursor.fetchall())


def log_detached_day_drop(part: Partition) -> None:
    """Drop a day table left detached from the log (``log_detached_days``)."""
    rows, _ = _drop_detached(part)
    logger.warning(
        "prediction log: dropped detached day table %s (%d rows)", part.name, rows
    )

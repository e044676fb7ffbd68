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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

from inference.models import PredictionLog

logger = logging.getLogger(__name__)

PARENT = PredictionLog._meta.db_table
DEFAULT_PARTITION = f"{PARENT}_default"
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
    """Detach one day's partition with the feedback of its rows, then drop
    it; returns the number of log rows it held.

    The feedback of the day is found within the range of the partition's log
    ids (the feedback's unique index on the log id), so deleting it costs the
    day's feedback, not a probe per feedback row of the whole history. The
    detach commits on its own: the exclusive lock it takes on the log (inserts
    wait for it) is held for the detach and its commit only, not while the
    day's files are removed. A day left detached by a crash between the two
    is dropped by the next retention (``log_detached_days``).
    """
    quote = connection.ops.quote_name
    feedback = quote("inference_feedback")
    history = quote("inference_feedbackhistory")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), min(id), max(id) FROM {quote(part.name)}"  # noqa: S608
        )
        rows, low, high = cursor.fetchone()
        if rows:
            # Feedback has no database foreign key to the partitioned log (one
            # would need the partition key in it): its rows go first.
            in_part = (
                f"f.prediction_id BETWEEN %s AND %s AND EXISTS (SELECT 1 FROM "  # noqa: S608
                f"{quote(part.name)} p WHERE p.id = f.prediction_id)"
            )
            cursor.execute(
                f"DELETE FROM {history} h USING {feedback} f "  # noqa: S608
                f"WHERE h.feedback_id = f.id AND {in_part}",
                [low, high],
            )
            cursor.execute(
                f"DELETE FROM {feedback} f WHERE {in_part}",  # noqa: S608
                [low, high],
            )
        cursor.execute(
            f"ALTER TABLE {quote(PARENT)} DETACH PARTITION {quote(part.name)}"
        )
    _drop_detached(part)
    logger.info("prediction log: dropped partition %s (%d rows)", part.name, rows)
    return rows


def _drop_detached(part: Partition) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(part.name)}")


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
    _drop_detached(part)
    logger.warning("prediction log: dropped detached day table %s", part.name)

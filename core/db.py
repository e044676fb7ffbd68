"""Facts about the database that several apps' jobs rely on."""

from __future__ import annotations

from datetime import datetime

from django.db import connection


def oldest_open_transaction_start() -> datetime | None:
    """When the oldest transaction still open in this database (other than
    this connection's) began, or None when there is none or the database
    cannot tell (SQLite).

    A time-based watermark must not pass it: such a transaction may still
    commit rows stamped with times after its start but before "now". On
    PostgreSQL the start times of other roles' sessions are hidden unless the
    role is granted ``pg_read_all_stats``; the app's own sessions all share
    one role, so their transactions are always seen.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' AND xact_start IS NOT NULL"
        )
        (found,) = cursor.fetchone()
    return found

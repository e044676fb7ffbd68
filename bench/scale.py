"""The prediction log at scale: the day-partitioned log against one plain
table of the same rows (PostgreSQL).

Creates two databases on the server of ``DATABASE_URL``: ``<name>`` with
the log as migrated (partitioned by day) and ``<name>_plain`` where the log
is turned back into one plain table (the reverse of migration 0005). Both
are loaded with the same synthetic rows by the serving path's writer
(binary COPY, 100,000 rows per statement), in two processes side by side,
at ``--per-day`` rows a day ending now, so a window holds as many rows
whatever the history: ``--rows 1000000`` and ``--rows 20000000`` differ only
in the days of history behind the window. About 1 in 50 rows has feedback.

Then, alternating the two databases repetition by repetition, it times the
reads the application runs (the project's own selectors and views):

- the monitoring window read (``prediction_sample_frame``, a monitor's
  default sample of 50,000 rows) over the last hour and the last 24 hours;
  the 24-hour window holds ``--per-day`` rows of the model, the drift
  report's read;
- the performance window (``labelled_predictions``) over the last hour;
- the model dashboard and the overview (Django test client, server time),
  after the rollups fold the last two days;
- the lookup of a prediction by id (``prediction_get``, the prediction page
  and feedback's lookup) for random ids of the whole history: p50 and p99;
- the logged predict path's write (one row committed per request,
  ``prediction_logs_insert`` in autocommit) from ``--writers`` threads: rows
  a second, p50 and p99;
- retention of the oldest whole day (``prediction_log_prune``): detaching and
  dropping the day's partition against deleting the same rows in batches,
  while the writers keep inserting: the time until the day is out of the log
  (the detach; the last batch of the delete), the whole retention's time
  (with the paced deletion of the day's feedback and the drop), table size
  and dead rows after, the writers' p99 and max before and during (the first
  seconds and the whole retention), and as a control the same writers as
  long again after it with no retention running (at most
  ``--control-max-seconds``): the p99 over a span as long as the
  retention's, and the spread of the p99 of every window as long as the
  baseline without retention against those during it.

Prints a table with both columns and their ratio; ``--json`` writes the
figures. The databases are dropped at the end (``--keep`` keeps them).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/scale.py --rows 20000000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "sms_spam" / "SMSSpamCollection"
MODEL = "sms-spam"
OTHER = "churn"
CHUNK = 100_000
SQL_CHUNK = 1_000_000

#: ``_row`` in SQL, for the history: the same models, inputs, sizes and
#: distributions; v7 prediction ids from the row's time and random bits.
GENERATE = """
INSERT INTO inference_predictionlog (
    prediction_id, model_name, model_version, alias, source, served_as, inputs,
    prediction, probabilities, outlier_score, is_outlier, latency_ms, client_id,
    request_id, row_index, batch_id, created_at)
SELECT
    overlay(overlay(replace(gen_random_uuid()::text, '-', '')
        placing lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0')
        FROM 1) placing '7' FROM 13)::uuid,
    CASE WHEN i %% 5 <> 0 THEN 'sms-spam' ELSE 'churn' END,
    CASE WHEN i %% 5 <> 0 THEN 1 + (i / 3) %% 2 ELSE 3 END,
    'production', 'api', 'promoted',
    CASE WHEN i %% 5 <> 0 THEN jsonb_build_object('message', x.message)
    ELSE jsonb_build_object(
        'tenure', i %% 72, 'monthly', round(20 + (i %% 97) * 1.03, 2),
        'contract', (ARRAY['month', 'year', 'two-year'])[i %% 3 + 1],
        'support_calls', i %% 9, 'region', 'r' || (i %% 17),
        'paperless', i %% 2 = 1) END,
    CASE WHEN i %% 5 <> 0
        THEN to_jsonb(CASE WHEN i %% 7 = 0 THEN 'spam' ELSE 'ham' END)
        ELSE to_jsonb((ARRAY['stay', 'churn', 'unsure'])[i %% 3 + 1]) END,
    CASE WHEN i %% 5 = 0 THEN '{"stay": 0.6, "churn": 0.3, "unsure": 0.1}'::jsonb
        WHEN i %% 7 = 0 THEN '{"ham": 0.09, "spam": 0.91}'::jsonb
        ELSE jsonb_build_object('ham', round(1 - (0.04 + (i %% 13) / 100.0), 4),
                                'spam', round(0.04 + (i %% 13) / 100.0, 4)) END,
    0.3 + (i %% 100) / 300.0, i %% 97 = 0, 1.5 + (i %% 50) * 0.3, NULL,
    'req-' || lpad(to_hex(i), 12, '0'), 0, NULL, t.at
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
CROSS JOIN LATERAL (
    SELECT %(start)s::timestamptz + make_interval(secs => i * %(step_us)s / 1e6) AS at
) AS t
JOIN bench_texts AS x ON x.k = i %% %(ntexts)s
"""
VARIANTS = ("partitioned", "plain")


def _admin(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def _db_url(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def _recreate(url: str, name: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- loading (one process per database)


def _messages() -> list[str]:
    if DATA.exists():
        lines = DATA.read_text(encoding="utf-8").splitlines()
        return [line.split("\t", 1)[1] for line in lines if "\t" in line]
    return [f"synthetic message {i} " * (1 + i % 8) for i in range(997)]


def _span(rows: int, per_day: int, end: datetime) -> tuple[datetime, timedelta]:
    return end - timedelta(days=rows / per_day), timedelta(days=1) / per_day


def _row(i: int, at: datetime, texts: list[str]):
    """Log row ``i``: 80 % SMS messages (text input, two classes), 20 % a
    tabular model (six numeric and categorical fields, three classes)."""
    from core.ids import uuid7
    from inference.logrows import LogRow

    if i % 5:
        text = texts[i % len(texts)]
        spam = i % 7 == 0
        p = 0.91 if spam else 0.04 + (i % 13) / 100
        name, version = MODEL, 1 + (i // 3) % 2
        inputs = {"message": text}
        prediction = "spam" if spam else "ham"
        probabilities = {"ham": round(1 - p, 4), "spam": round(p, 4)}
    else:
        name, version = OTHER, 3
        inputs = {
            "tenure": i % 72,
            "monthly": round(20 + (i % 97) * 1.03, 2),
            "contract": ("month", "year", "two-year")[i % 3],
            "support_calls": i % 9,
            "region": f"r{i % 17}",
            "paperless": bool(i % 2),
        }
        prediction = ("stay", "churn", "unsure")[i % 3]
        probabilities = {"stay": 0.6, "churn": 0.3, "unsure": 0.1}
    return LogRow(
        prediction_id=uuid7(at),
        model_name=name,
        model_version=version,
        alias="production",
        source="api",
        served_as="promoted",
        inputs=inputs,
        prediction=prediction,
        probabilities=probabilities,
        outlier_score=0.3 + (i % 100) / 300,
        is_outlier=i % 97 == 0,
        latency_ms=1.5 + (i % 50) * 0.3,
        client_id=None,
        request_id=f"req-{i:012x}",
        row_index=0,
        batch_id=None,
        created_at=at,
    )


def _to_plain(connection) -> None:
    """The log as one plain table of today's columns and indexes: the
    reverse of migration 0005, which keeps every row."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("inference.migrations.0005_partitioned_log")
    with connection.schema_editor() as editor:
        migration.unpartition(apps, editor)


def load(variant: str, rows: int, copy_rows: int, per_day: int, end: datetime) -> dict:
    """Migrate, shape and fill this process's database; returns figures."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from inference.logwriter import prediction_logs_insert
    from inference.services.partitions import log_partition_create

    call_command("migrate", verbosity=0)
    start, step = _span(rows, per_day, end)
    if variant == "plain":
        _to_plain(connection)
    else:
        day = start.date()
        while day <= end.date():
            log_partition_create(day)
            day += timedelta(days=1)
    texts = _messages()
    copied = min(rows, copy_rows)
    # the history by the server (same rows as ``_row``, generated in SQL)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_texts (k int PRIMARY KEY, message text)"
        )
        with cursor.cursor.copy("COPY bench_texts (k, message) FROM STDIN") as copy:
            for k, text in enumerate(texts):
                copy.write_row((k, text))
    t0 = time.perf_counter()
    generated = rows - copied
    for offset in range(0, generated, SQL_CHUNK):
        upto = min(generated, offset + SQL_CHUNK)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                GENERATE,
                {
                    "lo": offset,
                    "hi": upto,
                    "start": start,
                    "step_us": step / timedelta(microseconds=1),
                    "ntexts": len(texts),
                },
            )
        _progress(variant, "generated", upto, generated, t0)
    generate_s = time.perf_counter() - t0
    # the newest rows through the serving path's writer (binary COPY)
    t0 = time.perf_counter()
    for offset in range(generated, rows, CHUNK):
        batch = [
            _row(i, start + step * i, texts)
            for i in range(offset, min(rows, offset + CHUNK))
        ]
        with transaction.atomic():
            prediction_logs_insert(batch)
        _progress(variant, "copied", offset + len(batch) - generated, copied, t0)
    copy_s = time.perf_counter() - t0
    with connection.cursor() as cursor:
        # feedback on about 1 in 50 predictions (setup, not timed)
        cursor.execute(
            "INSERT INTO inference_feedback (prediction_id, label, created_at, "
            "updated_at) SELECT id, prediction, created_at, created_at "
            "FROM inference_predictionlog WHERE id % 50 = 0"
        )
        t1 = time.perf_counter()
        cursor.execute("VACUUM ANALYZE inference_predictionlog")
        cursor.execute("VACUUM ANALYZE inference_feedback")
        vacuum_s = time.perf_counter() - t1
        cursor.execute("SELECT pg_total_relation_size('inference_predictionlog')")
        size = cursor.fetchone()[0]
        if variant == "partitioned":
            cursor.execute(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) "
                "FROM pg_inherits WHERE inhparent = "
                "'inference_predictionlog'::regclass"
            )
            size = cursor.fetchone()[0]
    return {
        "rows": rows,
        "generated_rows": generated,
        "generate_s": generate_s,
        "copied_rows": copied,
        "copy_s": copy_s,
        "vacuum_s": vacuum_s,
        "bytes": int(size),
    }


def _progress(variant: str, what: str, done: int, total: int, t0: float) -> None:
    if done % 1_000_000 and done != total:
        return
    spent = time.perf_counter() - t0
    eta = spent / done * (total - done) if done else 0.0
    print(
        f"  [{variant}] {what} {done:>11,} rows  {spent:6.0f} s  "
        f"{done / max(spent, 1e-9):8,.0f} rows/s  eta {eta:5.0f} s",
        flush=True,
    )


# --- measuring (one process, both databases)


class Databases:
    """Switches Django's default connection between the two databases."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def use(self, variant: str) -> None:
        from django.db import connections

        for conn in connections.all():
            conn.close()
        connections.settings["default"]["NAME"] = self.names[variant]


class Writers:
    """``n`` threads writing one log row per committed statement, as the
    logged predict path does per single-row request."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _run(self, k: int) -> None:
        from django.db import connection

        from inference.logwriter import prediction_logs_insert

        texts = _messages()
        mine = []
        i = k
        while not self._stop.is_set():
            row = _row(i, datetime.now(tz=UTC), texts)
            t0 = time.monotonic()  # the clock of the retention's process too
            prediction_logs_insert([row])
            mine.append((t0, time.monotonic() - t0))
            i += self.n
        connection.close()
        with self._lock:
            self.samples += mine

    def start(self) -> None:
        self._stop.clear()
        self.samples = []
        self._threads = [
            threading.Thread(target=self._run, args=(k,)) for k in range(self.n)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def between(self, lo: float, hi: float) -> list[float]:
        """Latencies (ms) of the writes that overlapped ``[lo, hi]``."""
        return [d * 1000 for t, d in self.samples if t <= hi and t + d >= lo]


def _timed(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times)}


def measure(args, dbs: Databases, end: datetime) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from inference.selectors import (
        labelled_predictions,
        prediction_get,
        prediction_log_max_id,
        prediction_sample_frame,
    )
    from monitoring.models import Monitor, RollupWatermark
    from monitoring.services.rollups import LOG_MARK, rollups_update_predictions

    out: dict[str, dict] = {v: {} for v in VARIANTS}
    clients = {}
    ids = {}
    for variant in VARIANTS:
        dbs.use(variant)
        # the rollups of the last two days (the dashboard's 24 hours)
        RollupWatermark.objects.update_or_create(
            name=LOG_MARK,
            defaults={"last_id": prediction_log_max_id(before=end - timedelta(days=2))},
        )
        t0 = time.perf_counter()
        folded = rollups_update_predictions(now=end + timedelta(minutes=5))
        out[variant]["rollups_2d"] = {
            "rows": folded,
            "seconds": time.perf_counter() - t0,
        }
        Monitor.objects.get_or_create(name="sms-spam (bench)", model_name=MODEL)
        user, _ = get_user_model().objects.get_or_create(
            username="bench", defaults={"is_staff": True}
        )
        client = Client()
        client.force_login(user)
        clients[variant] = client
        with connection.cursor() as cursor:
            # random rows of the whole history (a block sample, shuffled)
            cursor.execute(
                "SELECT prediction_id FROM inference_predictionlog "
                "TABLESAMPLE SYSTEM (%s) ORDER BY random() LIMIT %s",
                [min(100.0, 100.0 * 20 * args.lookups / args.rows), args.lookups],
            )
            ids[variant] = [str(r[0]) for r in cursor.fetchall()]

    hour, day = end - timedelta(hours=1), end - timedelta(days=1)
    reads = {
        "window 1h (sample read)": lambda: prediction_sample_frame(
            model_name=MODEL, start=hour, end=end, max_rows=50_000
        ),
        "window 24h (drift sample)": lambda: prediction_sample_frame(
            model_name=MODEL, start=day, end=end, max_rows=50_000
        ),
        "performance window 1h": lambda: labelled_predictions(
            model_name=MODEL, model_version=1, start=hour, end=end
        ),
    }
    for label, fn in reads.items():
        for variant in VARIANTS:
            out[variant][label] = {"times_ms": []}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                dbs.use(variant)
                t0 = time.perf_counter()
                result = fn()
                out[variant][label]["times_ms"].append(
                    (time.perf_counter() - t0) * 1000
                )
                if isinstance(result, tuple):
                    out[variant][label]["window_rows"] = result[1]
                    if hasattr(result[0], "__len__"):
                        out[variant][label]["read_rows"] = len(result[0])
        for variant in VARIANTS:
            times = out[variant][label].pop("times_ms")
            out[variant][label].update(
                median_ms=statistics.median(times), max_ms=max(times)
            )
        _print_progress(label, out)

    for label, path in (
        ("dashboard (model page 24h)", f"/monitoring/models/{MODEL}/"),
        ("overview", "/monitoring/"),
    ):
        for variant in VARIANTS:
            out[variant][label] = {"times_ms": []}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                dbs.use(variant)
                t0 = time.perf_counter()
                response = clients[variant].get(path)
                out[variant][label]["times_ms"].append(
                    (time.perf_counter() - t0) * 1000
                )
                assert response.status_code == 200, response.status_code
        for variant in VARIANTS:
            times = out[variant][label].pop("times_ms")
            out[variant][label].update(
                median_ms=statistics.median(times), max_ms=max(times)
            )
        _print_progress(label, out)

    for variant in VARIANTS:
        dbs.use(variant)
        times = []
        for pid in ids[variant]:
            t0 = time.perf_counter()
            found = prediction_get(prediction_id=pid)
            times.append((time.perf_counter() - t0) * 1000)
            assert found is not None
        out[variant]["lookup by id"] = {
            "n": len(times),
            "p50_ms": _quantile(times, 0.5),
            "p99_ms": _quantile(times, 0.99),
        }
    _print_progress("lookup by id", out)

    # the logged predict path's write, alternating, a few rounds
    rates: dict[str, list] = {v: [] for v in VARIANTS}
    lat: dict[str, list] = {v: [] for v in VARIANTS}
    for _ in range(args.insert_rounds):
        for variant in VARIANTS:
            dbs.use(variant)
            writers = Writers(args.writers)
            t0 = time.perf_counter()
            writers.start()
            time.sleep(args.insert_seconds)
            writers.stop()
            spent = time.perf_counter() - t0
            rates[variant].append(len(writers.samples) / spent)
            lat[variant] += [d * 1000 for _, d in writers.samples]
    paired = [
        b / a for a, b in zip(rates["partitioned"], rates["plain"], strict=True) if a
    ]
    for variant in VARIANTS:
        out[variant]["logged insert"] = {
            "rows_per_s": statistics.median(rates[variant]),
            "plain_over_partitioned_median": statistics.median(paired),
            "rounds": rates[variant],
            "p50_ms": _quantile(lat[variant], 0.5),
            "p99_ms": _quantile(lat[variant], 0.99),
        }
    _print_progress("logged insert", out)

    if args.rows / args.per_day < 2:
        print("  retention not measured: less than two days of history", flush=True)
        return out
    for variant in VARIANTS:
        dbs.use(variant)
        out[variant]["retention"] = _retention(args, variant, end)
    _print_progress("retention", out)
    return out


def _log_size(cursor, variant: str) -> int:
    if variant == "plain":
        cursor.execute("SELECT pg_total_relation_size('inference_predictionlog')")
    else:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) "
            "FROM pg_inherits WHERE inhparent = 'inference_predictionlog'::regclass"
        )
    return int(cursor.fetchone()[0])


def _dead_rows(cursor) -> int:
    time.sleep(1.0)  # statistics reach the view at the end of a transaction
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables "
        "WHERE relname LIKE 'inference_predictionlog%%'"
    )
    return int(cursor.fetchone()[0])


def prune_child(args, end: datetime) -> None:
    """Child process: the project's retention of the oldest day, run when the
    parent writes a line to stdin (Django is set up by then), as a Celery
    worker runs it, apart from the serving process; prints its monotonic
    times (the machine's clock, the same in every process)."""
    from unittest import mock

    import django

    django.setup()
    from inference.services import partitions, retention
    from inference.services.partitions import day_start

    start, _ = _span(args.rows, args.per_day, end)
    cutoff = day_start(start.date() + timedelta(days=1))
    clock = SimpleNamespace(now=lambda: cutoff + timedelta(days=1))
    detached: list[float] = []
    detach = partitions._detach

    def timed_detach(part):
        attempts = detach(part)
        detached.append(time.monotonic())
        return attempts

    print("READY", flush=True)
    sys.stdin.readline()
    # the project's retention, its clock set so that the cutoff is the end
    # of the oldest day of the history; the detach timed (the day is out of
    # the log when it returns)
    t0 = time.monotonic()
    with (
        mock.patch.object(retention, "timezone", clock),
        mock.patch.object(partitions, "_detach", timed_detach),
    ):
        removed = retention.prediction_log_prune(older_than_days=1)
    t1 = time.monotonic()
    figures = {"start": t0, "end": t1, "detached": detached, "removed": removed}
    print("RESULT " + json.dumps(figures), flush=True)


def _retention(args, variant: str, end: datetime) -> dict:
    """Prune the oldest day of the history (one partition) with the
    project's retention, in a process of its own, while writers insert."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inference_predictionlog")
        rows_before = cursor.fetchone()[0]
        size_before = _log_size(cursor, variant)
    # the child connects to the variant's database itself (``--prune``)
    child = subprocess.Popen(
        [
            sys.executable, __file__, "--prune", variant,
            "--rows", str(args.rows), "--per-day", str(args.per_day),
            "--database", args.database, "--end", end.isoformat(),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    if child.stdout.readline().strip() != "READY":
        sys.exit(f"the retention's process for {variant} did not start")
    writers = Writers(args.writers)
    writers.start()
    time.sleep(args.insert_seconds)
    child.stdin.write("go\n")
    child.stdin.flush()
    figures = None
    for line in child.stdout:
        if line.startswith("RESULT "):
            figures = json.loads(line[7:])
        else:
            print(line, end="", flush=True)
    if child.wait() != 0 or figures is None:
        writers.stop()
        sys.exit(f"retention of {variant} failed")
    r0, r1, detached = figures["start"], figures["end"], figures["detached"]
    removed = figures["removed"]
    # the control: the same writers as long again with no retention running,
    # so the retention's p99 is compared with a p99 over as long a span
    # (a longer span holds more of the machine's own stalls)
    span = max(args.insert_seconds, r1 - r0)
    control = min(span, args.control_max_seconds)
    c0 = r1 + 0.5
    time.sleep(max(0.0, c0 + control - time.monotonic()))
    writers.stop()
    with connection.cursor() as cursor:
        size_after = _log_size(cursor, variant)
        dead = _dead_rows(cursor)
    # the writes of the retention's time, and at least of as long a time as
    # the baseline before it: a p99 over the same span of serving
    before = writers.between(r0 - args.insert_seconds, r0 - 0.001)
    during = writers.between(r0, r0 + span)
    first = writers.between(r0, r0 + args.insert_seconds)
    after = writers.between(c0, c0 + control)
    step = args.insert_seconds
    # the p99 of every window as long as the baseline, without retention (the
    # one before and those of the control) and during it: the spread of the
    # quiet ones is what a rise has to leave to be measurable
    quiet_windows = [before] + [
        writers.between(c0 + k * step, c0 + (k + 1) * step)
        for k in range(int(control // step))
    ]
    busy_windows = [
        writers.between(r0 + k * step, r0 + (k + 1) * step)
        for k in range(max(1, int(span // step)))
    ]
    quiet_p99 = [_quantile(w, 0.99) for w in quiet_windows if w]
    busy_p99 = [_quantile(w, 0.99) for w in busy_windows if w]
    return {
        "rows_in_table": rows_before,
        "rows_removed": removed,
        "seconds": r1 - r0,
        # the plain table's rows are out of the log when its last batch commits
        "out_of_log_s": (detached[-1] if detached else r1) - r0,
        "size_before_mb": size_before / 2**20,
        "size_after_mb": size_after / 2**20,
        "dead_rows_after": dead,
        "writes_before": len(before),
        "p99_before_ms": _quantile(before, 0.99),
        # the machine's own stalls (checkpoints, other work) show here too
        "max_before_ms": max(before) if before else float("nan"),
        "writes_during": len(during),
        "p99_first_ms": _quantile(first, 0.99),
        "p99_during_ms": _quantile(during, 0.99),
        "max_during_ms": max(during) if during else float("nan"),
        "detach_at_s": (detached[-1] - r0) if detached else None,
        # the slowest writes of the retention: when they started (s after its
        # start) and how long they took (ms)
        "slowest_during": sorted(
            (
                (round(t - r0, 3), round(d * 1000, 2))
                for t, d in writers.samples
                if r0 <= t <= r0 + span
            ),
            key=lambda pair: -pair[1],
        )[:20],
        "control_s": control,
        "writes_after": len(after),
        "p99_after_ms": _quantile(after, 0.99),
        "max_after_ms": max(after) if after else float("nan"),
        "window_s": step,
        "p99_windows_quiet_ms": quiet_p99,
        "p99_windows_during_ms": busy_p99,
    }


def _print_progress(label: str, out: dict) -> None:
    print(f"  measured: {label}", flush=True)


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    return (
        f"{_fmt(statistics.median(values))} ({_fmt(min(values))}–{_fmt(max(values))}, "
        f"{len(values)})"
    )


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(result: dict) -> str:
    p, q = result["measures"]["partitioned"], result["measures"]["plain"]
    lines = [
        "| measure | partitioned | plain table | plain / partitioned |",
        "|---|---:|---:|---:|",
    ]

    def row(label, a, b, unit=""):
        ratio = b / a if a else float("nan")
        lines.append(f"| {label} | {_fmt(a)}{unit} | {_fmt(b)}{unit} | {ratio:.2f} |")

    la, lb = result["load"]["partitioned"], result["load"]["plain"]
    row("history generated by the server, s", la["generate_s"], lb["generate_s"])
    row(
        "history generated, rows/s",
        la["generated_rows"] / max(la["generate_s"], 1e-9),
        lb["generated_rows"] / max(lb["generate_s"], 1e-9),
    )
    row("newest rows by the writer's COPY, s", la["copy_s"], lb["copy_s"])
    row(
        "COPY, rows/s",
        la["copied_rows"] / max(la["copy_s"], 1e-9),
        lb["copied_rows"] / max(lb["copy_s"], 1e-9),
    )
    row("log size after load, MB", la["bytes"] / 2**20, lb["bytes"] / 2**20)
    for label in (
        "window 1h (sample read)",
        "window 24h (drift sample)",
        "performance window 1h",
        "dashboard (model page 24h)",
        "overview",
    ):
        row(f"{label}, median ms", p[label]["median_ms"], q[label]["median_ms"])
    row(
        "lookup by id, p50 ms", p["lookup by id"]["p50_ms"], q["lookup by id"]["p50_ms"]
    )
    row(
        "lookup by id, p99 ms", p["lookup by id"]["p99_ms"], q["lookup by id"]["p99_ms"]
    )
    row(
        "logged insert, rows/s",
        p["logged insert"]["rows_per_s"],
        q["logged insert"]["rows_per_s"],
    )
    ratio = p["logged insert"]["plain_over_partitioned_median"]
    lines.append(
        f"| logged insert, plain / partitioned per round (median) | | | {ratio:.2f} |"
    )
    row(
        "logged insert, p99 ms",
        p["logged insert"]["p99_ms"],
        q["logged insert"]["p99_ms"],
    )
    if "retention" not in p:
        return "\n".join(lines)
    ra, rb = p["retention"], q["retention"]
    row("retention of one day: rows removed", ra["rows_removed"], rb["rows_removed"])
    row("retention: the day out of the log, s", ra["out_of_log_s"], rb["out_of_log_s"])
    row(
        "retention of one day (until dropped or deleted), s",
        ra["seconds"],
        rb["seconds"],
    )
    row("log size after retention, MB", ra["size_after_mb"], rb["size_after_mb"])
    row("dead rows after retention", ra["dead_rows_after"], rb["dead_rows_after"])
    row("writes' p99 before retention, ms", ra["p99_before_ms"], rb["p99_before_ms"])
    row(
        "writes' p99, start of retention (as long as before), ms",
        ra["p99_first_ms"],
        rb["p99_first_ms"],
    )
    row("writes' p99 during retention, ms", ra["p99_during_ms"], rb["p99_during_ms"])
    row("writes' max before retention, ms", ra["max_before_ms"], rb["max_before_ms"])
    row("writes' max during retention, ms", ra["max_during_ms"], rb["max_during_ms"])
    row("writes during retention", ra["writes_during"], rb["writes_during"])
    row(
        "writes' p99 after retention, as long as it (control), ms",
        ra["p99_after_ms"],
        rb["p99_after_ms"],
    )
    row(
        "writes' max after retention (control), ms",
        ra["max_after_ms"],
        rb["max_after_ms"],
    )
    for label, key in (
        ("without retention", "p99_windows_quiet_ms"),
        ("during retention", "p99_windows_during_ms"),
    ):
        a, b = ra[key], rb[key]
        lines.append(
            f"| writes' p99 of each {_fmt(ra['window_s'])} s window {label}: "
            f"median (min–max), ms | {_spread(a)} | {_spread(b)} | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--per-day", type=int, default=1_250_000)
    parser.add_argument(
        "--copy-rows",
        type=int,
        default=1_000_000,
        help="newest rows written by the serving path's COPY (the rest by SQL)",
    )
    parser.add_argument("--database", default="modelgate_scale")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--insert-seconds", type=float, default=3.0)
    parser.add_argument("--insert-rounds", type=int, default=10)
    parser.add_argument(
        "--control-max-seconds",
        type=float,
        default=120.0,
        help="longest control span after the retention (writers, no retention)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--load", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--prune", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not url.startswith("postgres"):
        sys.exit("this benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    names = {"partitioned": args.database, "plain": f"{args.database}_plain"}

    if args.load:  # child: load one database, print its figures as JSON
        os.environ["DATABASE_URL"] = _db_url(url, names[args.load])
        figures = load(
            args.load,
            args.rows,
            args.copy_rows,
            args.per_day,
            datetime.fromisoformat(args.end),
        )
        print("RESULT " + json.dumps(figures), flush=True)
        return
    if args.prune:  # child: the retention, on the parent's signal
        os.environ["DATABASE_URL"] = _db_url(url, names[args.prune])
        prune_child(args, datetime.fromisoformat(args.end))
        return

    # the history ends at midnight, today's rows are the writers': the
    # oldest day of a whole number of days is then a whole partition
    end = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    load_avg = os.getloadavg()
    print(
        f"{args.rows:,} rows at {args.per_day:,} a day "
        f"ending {end:%Y-%m-%d %H:%M} UTC; "
        f"load average {load_avg[0]:.2f}",
        flush=True,
    )
    for name in names.values():
        _recreate(url, name)
    children = {
        variant: subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--load",
                variant,
                "--rows",
                str(args.rows),
                "--per-day",
                str(args.per_day),
                "--database",
                args.database,
                "--copy-rows",
                str(args.copy_rows),
                "--end",
                end.isoformat(),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )  # fmt: skip
        for variant in VARIANTS
    }
    loaded = {}
    for variant, child in children.items():
        for line in child.stdout:
            if line.startswith("RESULT "):
                loaded[variant] = json.loads(line[7:])
            else:
                print(line, end="", flush=True)
        if child.wait() != 0:
            sys.exit(f"loading {variant} failed")
    print(
        "loaded: "
        + ", ".join(
            f"{v} {loaded[v]['generate_s'] + loaded[v]['copy_s']:.0f} s"
            for v in VARIANTS
        ),
        flush=True,
    )

    os.environ["DATABASE_URL"] = _db_url(url, names["partitioned"])
    import django

    django.setup()
    from django.db import connections
    from django.test.utils import setup_test_environment

    setup_test_environment()
    try:
        measures = measure(args, Databases(names), end)
    finally:
        for conn in connections.all():
            conn.close()
        if not args.keep:
            for name in names.values():
                _recreate(url, name, drop_only=True)
    load_end = os.getloadavg()
    result = {
        "date": datetime.now(tz=UTC).isoformat(timespec="minutes"),
        "rows": args.rows,
        "per_day": args.per_day,
        "cpus": os.cpu_count(),
        "load_average": {"start": load_avg[0], "end": load_end[0]},
        "args": {k: str(v) for k, v in vars(args).items() if k not in ("load", "end")},
        "load": loaded,
        "measures": measures,
    }
    print()
    print(
        f"Prediction log, {args.rows:,} rows ({args.per_day:,} a day), PostgreSQL; "
        f"medians of {args.repeat}; load average {load_avg[0]:.2f} at start, "
        f"{load_end[0]:.2f} at end, {os.cpu_count()} CPUs"
    )
    print()
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()

"""Dashboard server time for a model with 1,000,000 logged predictions
(PostgreSQL). Creates its own database (default ``bench_monitoring``),
COPYs the rows in, folds them into the rollups (timed), then renders the
model page and the overview several times with Django's test client (the
time measured is the server's: request in, response out, in process).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _database(url: str, name: str, drop: bool) -> str:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _copy_rows(rows: int, model: str) -> float:
    """COPY ``rows`` predictions spread over the last 30 days; returns seconds."""
    from django.db import transaction

    from inference.logrows import LogRow
    from inference.logwriter import prediction_logs_insert

    now = datetime.now(tz=UTC)
    start = now - timedelta(days=30)
    step = (now - timedelta(minutes=5) - start) / rows
    started = time.perf_counter()
    chunk = 100_000
    for offset in range(0, rows, chunk):
        batch = []
        for i in range(offset, min(rows, offset + chunk)):
            label = "spam" if i % 7 == 0 else "ham"
            p = 0.9 if label == "spam" else 0.05
            batch.append(
                LogRow(
                    prediction_id=uuid.uuid4(),
                    model_name=model,
                    model_version=1 + (i * 3 // rows),
                    alias="production",
                    source="api",
                    inputs={"message": f"message number {i % 997}"},
                    prediction=label,
                    probabilities={"ham": 1 - p, "spam": p},
                    outlier_score=0.3 + (i % 100) / 300,
                    is_outlier=i % 97 == 0,
                    latency_ms=2 + (i % 50) * 0.7,
                    client_id=None,
                    request_id=f"bench-{i}",
                    row_index=0,
                    batch_id=None,
                    created_at=start + step * i,
                )
            )
        with transaction.atomic():
            prediction_logs_insert(batch)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="bench_monitoring")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not url.startswith("postgres"):
        sys.exit("this benchmark needs PostgreSQL (DATABASE_URL=postgres://...)")
    os.environ["DATABASE_URL"] = _database(url, args.database, drop=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from monitoring.models import Monitor, TrafficRollup
    from monitoring.services.rollups import rollups_update_predictions

    setup_test_environment()
    call_command("migrate", verbosity=0)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    seconds = _copy_rows(args.rows, "sms-spam")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inference_predictionlog")
        cursor.execute("SELECT count(*) FROM inference_predictionlog")
        count = cursor.fetchone()[0]
    print(f"COPY {count:,} rows: {seconds:.1f} s")
    started = time.perf_counter()
    folded = rollups_update_predictions(now=datetime.now(tz=UTC) + timedelta(minutes=1))
    rollup_seconds = time.perf_counter() - started
    print(
        f"rollups: {folded:,} rows folded in {rollup_seconds:.1f} s "
        f"({TrafficRollup.objects.count():,} rollup rows)"
    )
    Monitor.objects.create(name="sms-spam (bench)", model_name="sms-spam")
    user = get_user_model().objects.create_user("bench", is_staff=True)
    client = Client()
    client.force_login(user)
    results = {}
    for label, path in (
        ("model page 24h", "/monitoring/models/sms-spam/"),
        ("model page 7d", "/monitoring/models/sms-spam/?span=7d"),
        ("model page 30d", "/monitoring/models/sms-spam/?span=30d"),
        ("model page 6h (minutes)", "/monitoring/models/sms-spam/?span=6h"),
        ("overview", "/monitoring/"),
    ):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.status_code
        results[label] = {
            "median_ms": statistics.median(times),
            "max_ms": max(times),
            "first_ms": times[0],
        }
        print(
            f"{label:<26} median {statistics.median(times):6.1f} ms   "
            f"max {max(times):6.1f} ms   first {times[0]:6.1f} ms"
        )
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": count,
                    "copy_s": seconds,
                    "rollup_s": rollup_seconds,
                    "pages": results,
                },
                indent=2,
            )  # fmt: skip
        )
    connection.close()
    if not args.keep:
        _database(url, args.database, drop=True)
        import psycopg

        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}"')


if __name__ == "__main__":
    main()

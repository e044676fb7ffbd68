"""Hybrid serving benchmark: keyed lookups in the precomputed store against
online prediction of the same rows, same server, log on, side by side.

Serves the registered SMS model with Modelgate (gunicorn, production
settings, PostgreSQL, prediction log on), fills the precomputed store with a
batch job with a key column (the real fill path), then drives one server with
wrk, per cell and in turn:

- ``online``: ``{"inputs": [{"message": ...}, ...]}``, the model predicts;
- ``keyed``: ``{"keyed": [{"key": ...}, ...]}`` for the same rows, answered
  from the store;
- ``keyed+inputs``: the keys with their inputs, answered from the store after
  the inputs are validated and their hash compared with the entry's;

at concurrency 8 and 32 with 1-row and 100-row bodies, alternating the modes
round by round, and prints req/s, p50 and p99 per cell (median over rounds)
and the ratio keyed / online: of the medians, and of each round (the modes of
a round run back to back, so the machine's drift between rounds cancels).

With ``--store-rows N`` the store also holds N entries under other keys, so
the lookups search an index of a realistic size instead of a 100-entry
table; the fill is timed. The fill is one batch job, so the store's 100
measured keys and N stay within ``INFERENCE_BATCH_MAX_ROWS`` (a million).

With ``--phases N`` it also serves N 100-row requests of each mode in one
process (Django's test client, the same settings and database, no HTTP
server) and prints, per request, the worker's CPU time, the CPU time of its
PostgreSQL backend, and the time spent in each phase of the request
(parsing, validation, the store lookup, the model, building the log rows,
the log write, rendering): where the time goes, as a profile would show.

Usage (from the project folder, after `make setup` trained the model)::

    .venv/bin/python bench/hybrid.py                  # 2 rounds x 6 s per cell
    .venv/bin/python bench/hybrid.py --rounds 3 --json out.json
    .venv/bin/python bench/hybrid.py --rounds 3 --store-rows 999900  # 1M entries
    .venv/bin/python bench/hybrid.py --rounds 0 --phases 500   # phases only

Needs: wrk, a PostgreSQL server (``--pg-url``; a database ``bench_hybrid`` is
dropped and created there), port 8124.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import (  # noqa: E402 - the serving benchmark's helpers
    PY,
    ROOT,
    Cell,
    Server,
    lua_script,
    messages,
    migrate_with_client,
    modelgate_env,
    prepare,
    run,
    wait_ready,
    wrk,
)

MODES = ("online", "keyed", "keyed+inputs")
PORT = 8124


def payload(mode: str, texts: list[str]) -> str:
    if mode == "online":
        return json.dumps({"inputs": [{"message": t} for t in texts]})
    items = [
        {"key": f"k{i}", **({"inputs": {"message": t}} if mode != "keyed" else {})}
        for i, t in enumerate(texts)
    ]
    return json.dumps({"keyed": items})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=6, help="seconds per cell")
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--rows", default="1,100")
    parser.add_argument("--model", default="sms-spam")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/bench_hybrid"
    )
    parser.add_argument("--mlflow-uri", default=None, help="default: the local store")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--store-rows",
        type=int,
        default=0,
        help="also fill the store with this many entries under other keys "
        "(s0, s1, ...), so the lookups search an index of a realistic size",
    )
    parser.add_argument(
        "--phases",
        type=int,
        default=0,
        help="also time the phases of this many 100-row requests per mode "
        "in one process",
    )
    args = parser.parse_args()

    levels = [int(c) for c in args.concurrency.split(",")]
    row_counts = [int(r) for r in args.rows.split(",")]
    tmp, base_env = prepare(args.pg_url, args.mlflow_uri, "modelgate-bench-hybrid-")
    inputs_dir = tmp / "batch-input"
    inputs_dir.mkdir()
    env = modelgate_env(
        base_env,
        tmp,
        args,
        INFERENCE_BATCH_ALLOWED_DIRS=str(inputs_dir),
        GUNICORN_BIND=f"127.0.0.1:{PORT}",
    )
    token = migrate_with_client(env)
    texts = messages(max(row_counts))
    keys_csv = inputs_dir / "keys.csv"
    with open(keys_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "message"])
        writer.writerows([f"k{i}", t] for i, t in enumerate(texts))
        if args.store_rows:
            pool = messages(5000)
            writer.writerows(
                [f"s{i}", pool[i % len(pool)]] for i in range(args.store_rows)
            )
    # the production alias, then the store filled by a keyed batch job
    fill_started = time.perf_counter()
    filled = run(
        [
            PY,
            "-c",
            (
                "import django; django.setup(); "
                # the model cache serves the aliases governance confirmed
                "from governance.services.serving import alias_move_record; "
                f"alias_move_record(name={args.model!r}, alias='production', "
                f"version={args.version}, actor='bench', "
                "reason='benchmark setup (bench/hybrid.py)'); "
                "from inference.services.batch import batch_job_create, batch_job_run; "
                f"job = batch_job_create(model_name={args.model!r}, "
                f"server_path={str(keys_csv)!r}, key_column='id', enqueue=False); "
                "job = batch_job_run(job_id=job.pk); "
                # what autovacuum does after such a fill (the planner's
                # statistics of the store); this machine may run without it
                "from django.db import connection; "
                "connection.cursor().execute("
                "'ANALYZE inference_precomputedprediction'); "
                "print(job.status, job.rows_done, job.error)"
            ),
        ],
        env,
    )
    fill_seconds = time.perf_counter() - fill_started
    status, done, *error = filled.strip().splitlines()[-1].split(" ", 2)
    if status != "succeeded":
        sys.exit(f"the store's fill {status}: {' '.join(error)}")
    print(f"store filled: {done} rows in {fill_seconds:.1f} s", flush=True)

    auth = {"Authorization": f"Token {token}"}
    path = f"/api/v1/models/{args.model}/predict"
    if args.phases:
        bodies_file = tmp / "phase-bodies.json"
        bodies_file.write_text(
            json.dumps({mode: payload(mode, texts[:100]) for mode in MODES})
        )
        print(
            run(
                [PY, __file__, PHASES_CHILD, token, path, str(bodies_file)]
                + [str(args.phases)],
                env,
            ),
            flush=True,
        )
    if not args.rounds:
        return
    server = Server(
        "modelgate",
        PORT,
        path,
        auth,
        [PY, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"],
        env,
    )
    bodies = {
        (mode, rows): payload(mode, texts[:rows])
        for mode in MODES
        for rows in row_counts
    }
    results: dict[tuple[str, int, int], Cell] = {}
    load_before = os.getloadavg()
    try:
        server.start(tmp)
        wait_ready(server, bodies[("keyed", row_counts[0])])
        scripts = {key: lua_script(tmp, body, auth) for key, body in bodies.items()}
        for key in bodies:  # warm every path once
            wrk(PORT, path, scripts[key], 8, 2)
        for round_no in range(args.rounds):
            order = MODES[round_no % 3 :] + MODES[: round_no % 3]
            for rows in row_counts:
                for conc in levels:
                    for mode in order:
                        out = wrk(
                            PORT, path, scripts[(mode, rows)], conc, args.duration
                        )
                        cell = results.setdefault((mode, rows, conc), Cell())
                        cell.rps.append(out["rps"])
                        cell.p50.append(out["p50"])
                        cell.p99.append(out["p99"])
                        cell.errors += out["errors"]
                        print(
                            f"round {round_no + 1} rows={rows:<3} c={conc:<2} "
                            f"{mode:<13} {out['rps']:8.1f} req/s  "
                            f"p50 {out['p50']:7.2f} ms  p99 {out['p99']:7.2f} ms"
                            + (f"  errors {out['errors']}" if out["errors"] else ""),
                            flush=True,
                        )
    finally:
        server.stop()
    load_after = os.getloadavg()
    report(results, row_counts, levels, args, load_before, load_after)
    print(f"\nserver log: {tmp}")


PHASES_CHILD = "--phases-child"


def phases_child(token: str, path: str, bodies_file: str, n: int) -> None:
    """Serve ``n`` requests of each body in this process, modes alternating
    in blocks, and print per request the worker's CPU, its PostgreSQL
    backend's CPU and the time in each phase (the functions below, wrapped
    with a timer)."""
    import functools
    from collections import defaultdict

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    import core.parsers
    import core.renderers
    import inference.groupcommit
    import inference.services.hybrid
    import inference.services.predict
    import inference.serving.served

    spent: dict[str, float] = defaultdict(float)  # wall seconds per phase
    spent_cpu: dict[str, float] = defaultdict(float)  # this thread's CPU

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
                spent_cpu[label] += time.thread_time() - cpu

        setattr(owner, name, wrapper)

    predict = inference.services.predict
    for name, label in (
        ("validate_payload", "validate inputs (online)"),
        ("keyed_items_parse", "parse and validate keyed items"),
        ("keyed_answer", "answer keyed items (lookup + model)"),
        ("response_body", "response body"),
        ("keyed_body_extend", "keyed fields of the body"),
        ("log_rows_build", "log rows (online)"),
        ("keyed_log_rows", "log rows (keyed)"),
        ("keyed_write_back", "write-back check"),
        ("metrics_record", "metrics"),
    ):
        timed(predict, name, label)
    timed(inference.services.hybrid, "precomputed_find", "  store lookup")
    timed(inference.services.hybrid, "inputs_hash", "  inputs hash")
    timed(inference.serving.served.ServedModel, "predict", "model predict")
    timed(inference.groupcommit.GroupCommitter, "write", "log write (committed)")
    timed(core.renderers.FastJSONRenderer, "render", "render JSON")
    timed(core.parsers.CappedJSONParser, "parse", "parse JSON")

    bodies = json.loads(Path(bodies_file).read_text())
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    ticks = os.sysconf("SC_CLK_TCK")

    def backend_cpu() -> float:
        stat = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / ticks  # utime + stime

    for body in bodies.values():  # warm
        for _ in range(20):
            response = client.post(path, body, content_type="application/json")
            assert response.status_code == 200, response.content[:500]
    walls: dict[str, list[float]] = defaultdict(list)
    worker: dict[str, float] = defaultdict(float)
    database: dict[str, float] = defaultdict(float)
    phases: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    phases_cpu: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    blocks = 10
    for _ in range(blocks):
        for mode, body in bodies.items():
            spent.clear()
            spent_cpu.clear()
            cpu, db = time.process_time(), backend_cpu()
            for _ in range(max(1, n // blocks)):
                started = time.perf_counter()
                client.post(path, body, content_type="application/json")
                walls[mode].append(time.perf_counter() - started)
            worker[mode] += time.process_time() - cpu
            database[mode] += backend_cpu() - db
            for label, seconds in spent.items():
                phases[mode][label] += seconds
                phases_cpu[mode][label] += spent_cpu[label]
    count = {m: len(walls[m]) for m in bodies}
    lines = [
        f"In one process, {count[MODES[0]]} requests of 100 rows per mode, ms "
        "per request; each phase as wall time / this thread's CPU time (a log "
        "write mostly waits for its commit):",
        "",
        "| | " + " | ".join(bodies) + " |",
        "|---|" + "---:|" * len(bodies),
        "| wall (median) | "
        + " | ".join(f"{statistics.median(walls[m]) * 1000:.2f}" for m in bodies)
        + " |",
        "| worker CPU | "
        + " | ".join(f"{worker[m] / count[m] * 1000:.2f}" for m in bodies)
        + " |",
        "| PostgreSQL backend CPU | "
        + " | ".join(f"{database[m] / count[m] * 1000:.2f}" for m in bodies)
        + " |",
    ]
    labels = sorted(
        {label for m in bodies for label in phases[m]},
        key=lambda label: -max(phases_cpu[m].get(label, 0) for m in bodies),
    )
    for label in labels:
        cells = [
            f"{phases[m].get(label, 0) / count[m] * 1000:.3f} / "
            f"{phases_cpu[m].get(label, 0) / count[m] * 1000:.3f}"
            for m in bodies
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


def round_ratios(rps: list[float], online: list[float]) -> list[float]:
    """Each round's req/s over online's of the same round: the modes of a
    round run one after the other, so the machine's drift between rounds
    (2x here between hours) cancels out of the ratio."""
    return [mode / base for mode, base in zip(rps, online, strict=True)]


def report(results, row_counts, levels, args, load_before, load_after) -> None:
    med = statistics.median
    lines = [
        f"\nModelgate ({args.workers} gunicorn gthread workers x {args.threads} "
        f"threads, PostgreSQL, log on): keyed lookups vs online prediction; "
        f"{args.rounds} rounds x {args.duration} s per cell, medians; load "
        f"average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min), "
        f"{os.cpu_count()} CPUs",
        "",
        "| rows | conc | mode | req/s | p50 ms | p99 ms | errors | req/s vs online "
        "| per round (median) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    summary = []
    for rows in row_counts:
        for conc in levels:
            online_rps = results[("online", rows, conc)].rps
            online = med(online_rps)
            for mode in MODES:
                cell = results[(mode, rows, conc)]
                ratio = med(cell.rps) / online
                rounds = round_ratios(cell.rps, online_rps)
                lines.append(
                    f"| {rows} | {conc} | {mode} | {med(cell.rps):.1f} | "
                    f"{med(cell.p50):.2f} | {med(cell.p99):.2f} | {cell.errors} | "
                    f"{ratio:.2f}x | "
                    + ", ".join(f"{r:.2f}" for r in rounds)
                    + f" ({med(rounds):.2f}x) |"
                )
                summary.append(
                    {
                        "rows": rows,
                        "concurrency": conc,
                        "mode": mode,
                        "rps": med(cell.rps),
                        "p50": med(cell.p50),
                        "p99": med(cell.p99),
                        "errors": cell.errors,
                        "vs_online": ratio,
                        "vs_online_rounds": rounds,
                    }
                )
    text = "\n".join(lines)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "summary": summary,
                    "store_rows": args.store_rows,
                    "load_average": [load_before, load_after],
                    "markdown": text,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == PHASES_CHILD:
        phases_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()

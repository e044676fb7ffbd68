"""Serving benchmark: Modelgate against `mlflow models serve`, same model, same load.

Serves the registered SMS model (``models:/sms-spam/<version>``) with:

- Modelgate: gunicorn, production settings, PostgreSQL, prediction log on,
  each worker pinned to a CPU (``GUNICORN_CPU_AFFINITY=1``, the setting for a
  machine the server has to itself; ``--no-cpu-affinity`` measures without);
- Modelgate with the log off (``INFERENCE_LOG_PREDICTIONS=false``), to show
  what logging costs;
- ``mlflow models serve --env-manager local`` with 1 and with 2 workers;

then drives each with wrk (a Lua script POSTs the same JSON body, MLflow's
``dataframe_split`` format, which both accept) at concurrency 1, 8 and 32 with
single-row and 100-row bodies, alternating the servers round by round, and
prints req/s, p50 and p99 per cell (median over rounds) and the ratios.

Usage (from the project folder, after `make setup` trained the model)::

    .venv/bin/python bench/serve.py                 # 2 rounds x 6 s per cell
    .venv/bin/python bench/serve.py --rounds 3 --duration 10 --json out.json

To compare two versions of Modelgate's code side by side (before and after a
change), add the other checkout as an extra server; the table of ratios
``modelgate / <name>`` per cell and per round follows the results::

    git worktree add /tmp/before <commit>   # or: git archive <commit> | tar -x
    .venv/bin/python bench/serve.py --only modelgate,before \
        --tree before=/tmp/before --rows 1,100 --concurrency 8,32

Needs: wrk (Debian package), a PostgreSQL server (``--pg-url``; a database
``bench_modelgate`` is dropped and created there), ports 8114-8117 (and one
more per ``--variant`` or ``--tree``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DATA = ROOT / "data" / "sms_spam" / "SMSSpamCollection"


@dataclass
class Server:
    name: str
    port: int
    path: str
    headers: dict[str, str]
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    log: Path | None = None
    cwd: Path = ROOT

    def start(self, tmp: Path) -> None:
        self.log = tmp / f"{self.name}.log"
        handle = open(self.log, "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@dataclass
class Cell:
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0


def run(cmd: list[str], env: dict | None = None) -> str:
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def prepare(pg_url: str, mlflow_uri: str | None, prefix: str) -> tuple[Path, dict]:
    """A scratch folder, a fresh database and the environment every server of a
    benchmark starts from (this process's, without its Django, gunicorn and
    inference settings)."""
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GUNICORN_", "INFERENCE_"))
    }
    env.update({"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"})
    # mlflow models serve starts `uvicorn` from PATH: use this environment's
    env["PATH"] = f"{Path(PY).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = (
        mlflow_uri or f"sqlite:///{ROOT / 'var' / 'mlflow' / 'mlflow.db'}"
    )
    import psycopg

    admin_url, _, db_name = pg_url.rpartition("/")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    return tmp, env


def modelgate_env(base_env: dict, tmp: Path, args, **extra: str) -> dict:
    """Production settings of a Modelgate server under benchmark: PostgreSQL,
    the model warmed, no throttle, no access log; ``extra`` overrides."""
    return {
        **base_env,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.pg_url,
        "MODELGATE_DATA_DIR": str(tmp / "data"),
        "MODELGATE_MODEL_CACHE_DIR": str(tmp / "model-cache"),
        "INFERENCE_WARM_MODELS": f"{args.model}@production",
        "API_THROTTLE_PREDICT": "1000000000/hour",
        "CELERY_BROKER_URL": "memory://",
        "REDIS_URL": args.redis_url,
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_WORKER_CLASS": "gthread",
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_CPU_AFFINITY": "1",
        "GUNICORN_ACCESSLOG": "/dev/null",
        "GUNICORN_KEEPALIVE": "5",
        **extra,
    }


def migrate_with_client(env: dict) -> str:
    """Migrates the benchmark's database and returns an API client's token."""
    run([PY, "manage.py", "migrate", "--no-input", "-v", "0"], env)
    out = run(
        [
            PY,
            "manage.py",
            "create_api_token",
            "bench-client",
            "--create",
            "--role",
            "api_clients",
        ],
        env,
    )
    return out.strip().splitlines()[-1]


def messages(n: int) -> list[str]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines[:n]]


def body(rows: int) -> str:
    texts = messages(rows)
    return json.dumps(
        {"dataframe_split": {"columns": ["message"], "data": [[t] for t in texts]}}
    )


def lua_script(tmp: Path, payload: str, headers: dict[str, str]) -> Path:
    path = tmp / f"post-{abs(hash((payload, tuple(headers.items()))))}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(payload)}"]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    for key, value in headers.items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    path.write_text("\n".join(lines) + "\n")
    return path


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def to_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(match.group(1)) * UNITS[match.group(2)]


def wrk(port: int, path: str, script: Path, concurrency: int, seconds: int) -> dict:
    threads = 1 if concurrency == 1 else 2
    out = run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(concurrency),
            "-d",
            f"{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ]
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        out,
    )
    count = int(bad.group(1)) if bad else 0
    if errors:
        count += sum(int(g) for g in errors.groups())
    return {"rps": rps, "p50": p50, "p99": p99, "errors": count}


def wait_ready(server: Server, payload: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            sys.exit(f"{server.name} exited:\n{server.log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}{server.path}",
                data=payload.encode(),
                headers={"Content-Type": "application/json", **server.headers},
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(
        f"{server.name} not ready in {timeout}s:\n{server.log.read_text()[-3000:]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=6, help="seconds per cell")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--rows", default="1,100")
    parser.add_argument("--model", default="sms-spam")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--cpu-affinity",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin each Modelgate worker to a CPU (GUNICORN_CPU_AFFINITY)",
    )
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/bench_modelgate"
    )
    parser.add_argument("--mlflow-uri", default=None, help="default: the local store")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/15",
        help="Redis for the rate-limit counters, as in production ('' for none)",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--only", help="comma-separated server names to run (tuning runs)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="an extra Modelgate server with these environment variables, "
        "measured side by side with the others (tuning runs; repeatable)",
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an extra Modelgate server run from another checkout of Modelgate "
        "(e.g. the code before a change), with this one's settings and "
        "environment, measured side by side (repeatable)",
    )
    args = parser.parse_args()

    levels = [int(c) for c in args.concurrency.split(",")]
    row_counts = [int(r) for r in args.rows.split(",")]
    tmp, base_env = prepare(args.pg_url, args.mlflow_uri, "modelgate-bench-")
    mg_env = modelgate_env(
        base_env,
        tmp,
        args,
        GUNICORN_WORKER_CLASS=args.worker_class,
        GUNICORN_CPU_AFFINITY="1" if args.cpu_affinity else "0",
    )
    token = migrate_with_client(mg_env)
    run(
        [
            PY,
            "-c",
            (
                "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                "'config.settings.production'); django.setup(); "
                # the model cache serves the aliases governance confirmed:
                # a recorded move, not a bare MLflow alias
                "from governance.services.serving import alias_move_record; "
                f"alias_move_record(name={args.model!r}, alias='production', "
                f"version={args.version}, actor='bench', "
                "reason='benchmark setup (bench/serve.py)')"
            ),
        ],
        mg_env,
    )

    gunicorn = [PY, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"]
    predict = f"/api/v1/models/{args.model}/predict"
    auth = {"Authorization": f"Token {token}"}
    mlflow_cmd = [
        PY,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{args.model}/{args.version}",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
    ]
    servers = [
        Server(
            "modelgate",
            8114,
            predict,
            auth,
            gunicorn,
            {**mg_env, "GUNICORN_BIND": "127.0.0.1:8114"},
        ),
        Server(
            "modelgate-nolog",
            8115,
            predict,
            auth,
            gunicorn,
            {
                **mg_env,
                "GUNICORN_BIND": "127.0.0.1:8115",
                "INFERENCE_LOG_PREDICTIONS": "false",
            },
        ),
        Server(
            "mlflow-w1",
            8116,
            "/invocations",
            {},
            [*mlflow_cmd, "-p", "8116", "-w", "1"],
            base_env,
        ),
        Server(
            "mlflow-w2",
            8117,
            "/invocations",
            {},
            [*mlflow_cmd, "-p", "8117", "-w", "2"],
            base_env,
        ),
    ]
    extras = []  # (name, environment, folder) of each extra Modelgate server
    for spec in args.variant:
        name, _, assignments = spec.partition(":")
        extra = dict(a.split("=", 1) for a in assignments.split(",") if a)
        extras.append((name, extra, ROOT))
    for spec in args.tree:
        name, _, path = spec.partition("=")
        tree = Path(path).resolve()
        if not (tree / "config" / "gunicorn.py").is_file():
            sys.exit(f"--tree {spec}: no Modelgate checkout at {tree}")
        # run from the tree: python -m puts its folder first on sys.path
        extras.append((name, {}, tree))
    for i, (name, extra, folder) in enumerate(extras):
        port = 8118 + i
        servers.append(
            Server(
                name,
                port,
                predict,
                auth,
                gunicorn,
                {**mg_env, **extra, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                cwd=folder,
            )
        )
    if args.only:
        servers = [s for s in servers if s.name in args.only.split(",")]
    payloads = {rows: body(rows) for rows in row_counts}
    results: dict[tuple[str, int, int], Cell] = {}
    load_before = os.getloadavg()
    try:
        for server in servers:
            server.start(tmp)
        for server in servers:
            wait_ready(server, payloads[row_counts[0]])
            print(f"{server.name} ready on :{server.port}", flush=True)
        scripts = {
            (s.name, rows): lua_script(tmp, payloads[rows], s.headers)
            for s in servers
            for rows in row_counts
        }
        for server in servers:  # warm every path once
            for rows in row_counts:
                wrk(server.port, server.path, scripts[(server.name, rows)], 8, 2)
        for round_no in range(args.rounds):
            order = (
                servers[round_no % len(servers) :] + servers[: round_no % len(servers)]
            )
            for rows in row_counts:
                for conc in levels:
                    for server in order:
                        out = wrk(
                            server.port,
                            server.path,
                            scripts[(server.name, rows)],
                            conc,
                            args.duration,
                        )
                        cell = results.setdefault((server.name, rows, conc), Cell())
                        cell.rps.append(out["rps"])
                        cell.p50.append(out["p50"])
                        cell.p99.append(out["p99"])
                        cell.errors += out["errors"]
                        print(
                            f"round {round_no + 1} rows={rows:<3} c={conc:<2} "
                            f"{server.name:<16} {out['rps']:8.1f} req/s  "
                            f"p50 {out['p50']:7.2f} ms  p99 {out['p99']:7.2f} ms"
                            + (f"  errors {out['errors']}" if out["errors"] else ""),
                            flush=True,
                        )
    finally:
        for server in servers:
            server.stop()
    load_after = os.getloadavg()
    report(results, servers, row_counts, levels, args, load_before, load_after, tmp)


def report(results, servers, row_counts, levels, args, load_before, load_after, tmp):
    def med(values):
        return statistics.median(values)

    lines = [
        f"\nModelgate ({args.workers} gunicorn {args.worker_class} workers"
        f"{', one per CPU' if args.cpu_affinity else ''}, "
        f"PostgreSQL) vs mlflow models serve; {args.rounds} rounds x "
        f"{args.duration} s per cell, medians; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} (1 min), "
        f"{os.cpu_count()} CPUs",
        "",
        "| rows | conc | server | req/s | p50 ms | p99 ms | errors |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    summary = []
    names = {s.name for s in servers}
    mlflows = [n for n in ("mlflow-w1", "mlflow-w2") if n in names]
    for rows in row_counts:
        for conc in levels:
            for server in servers:
                cell = results[(server.name, rows, conc)]
                lines.append(
                    f"| {rows} | {conc} | {server.name} | {med(cell.rps):.1f} | "
                    f"{med(cell.p50):.2f} | {med(cell.p99):.2f} | {cell.errors} |"
                )
            if not mlflows or not {"modelgate", "modelgate-nolog"} <= names:
                continue  # a tuning run (--only) without the summary's servers
            mg = results[("modelgate", rows, conc)]
            nolog = results[("modelgate-nolog", rows, conc)]
            best_name = max(mlflows, key=lambda n: med(results[(n, rows, conc)].rps))
            best = results[(best_name, rows, conc)]
            summary.append(
                {
                    "rows": rows,
                    "concurrency": conc,
                    "modelgate_rps": med(mg.rps),
                    "best_mlflow": best_name,
                    "best_mlflow_rps": med(best.rps),
                    "ratio": med(mg.rps) / med(best.rps),
                    "modelgate_p99": med(mg.p99),
                    "best_mlflow_p99": med(best.p99),
                    "logging_cost": 1 - med(mg.rps) / med(nolog.rps),
                }
            )
    if summary:
        lines += [
            "",
            "| rows | conc | Modelgate / best MLflow (req/s) | p99 Modelgate vs "
            "MLflow | logging cost |",
            "|---:|---:|---|---|---:|",
        ]
    for s in summary:
        lines.append(
            f"| {s['rows']} | {s['concurrency']} | {s['ratio']:.2f}x "
            f"({s['modelgate_rps']:.0f} vs {s['best_mlflow_rps']:.0f}, "
            f"{s['best_mlflow']}) | {s['modelgate_p99']:.1f} vs "
            f"{s['best_mlflow_p99']:.1f} ms | {s['logging_cost'] * 100:.1f} % |"
        )
    extras = [
        s.name
        for s in servers
        if s.name not in ("modelgate", "modelgate-nolog", "mlflow-w1", "mlflow-w2")
    ]
    if extras and "modelgate" in names:
        lines += [
            "",
            "| rows | conc | server | modelgate / server (medians of req/s) | "
            "median of the rounds' ratios | each round | p99 modelgate vs server |",
            "|---:|---:|---|---|---:|---|---|",
        ]
        for rows in row_counts:
            for conc in levels:
                mg = results[("modelgate", rows, conc)]
                for name in extras:
                    other = results[(name, rows, conc)]
                    # the same round's cells ran minutes apart at most: their
                    # ratio is less moved by the machine's drift over a run
                    paired = [a / b for a, b in zip(mg.rps, other.rps, strict=True)]
                    lines.append(
                        f"| {rows} | {conc} | {name} | "
                        f"{med(mg.rps) / med(other.rps):.3f} "
                        f"({med(mg.rps):.0f} vs {med(other.rps):.0f}) | "
                        f"{med(paired):.3f} | "
                        f"{', '.join(f'{r:.2f}' for r in paired)} | "
                        f"{med(mg.p99):.1f} vs {med(other.p99):.1f} ms |"
                    )
    text = "\n".join(lines)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "summary": summary,
                    "cells": {
                        f"{k[0]}|{k[1]}|{k[2]}": vars(v) for k, v in results.items()
                    },
                    "load_average": [load_before, load_after],
                    "cpu_affinity": args.cpu_affinity,
                    "markdown": text,
                },
                indent=2,
            )
        )
    print(f"\nserver logs: {tmp}")


if __name__ == "__main__":
    main()

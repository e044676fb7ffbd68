"""Edge latency benchmark: a prediction in the browser (onnxruntime-web on
the edge page) against a round trip to the server's predict API on loopback,
from the same page, side by side in one run.

Serves Modelgate as bench/hybrid.py does (gunicorn, production settings,
PostgreSQL, prediction log on, static files collected), opens
``/models/<name>/edge`` in headless Chromium (Playwright, Debian's
``/usr/bin/chromium``, as the edge browser test drives it), signs in, waits
for the page to load the production model, then runs in the page, one at a
time, alternating blocks of each:

- ``edge run``: ``session.run`` of onnxruntime-web for one message, timed
  with ``performance.now()`` around the call (the latency the page shows);
- ``edge total``: building the input tensor, the run and reading the label
  and probabilities out (what a page script pays per prediction);
- ``server``: ``fetch`` of ``POST /api/v1/models/<name>/predict`` with the
  same message (one row, token auth, the log on), from the request until the
  JSON answer is parsed.

Each mode sees the same messages in the same order; the labels of the two
are compared. Prints p50, p90, p99 and mean per mode and the ratio server /
edge.

Usage (from the project folder, after `make setup` trained the model, with
Debian's chromium installed)::

    .venv/bin/python bench/edge_latency.py              # 400 predictions each
    .venv/bin/python bench/edge_latency.py -n 1000 --json out.json

Needs: Chromium at /usr/bin/chromium, the Python package playwright, a
PostgreSQL server (``--pg-url``; a database ``bench_edge`` is dropped and
created there), port 8125.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import PY, ROOT, Server, messages, run, wait_ready  # noqa: E402

PORT = 8125
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-edge-" + os.urandom(6).hex()

# Runs in the page: alternating blocks of edge predictions and server round
# trips, each timed with performance.now(); returns the timings in ms and the
# labels.
IN_PAGE = """
async ({texts, n, block, url, token}) => {
  const s = window.modelgateEdge.state;
  const specs = s.meta.inputs;
  const feedsOf = (text) => {
    const feeds = {};
    for (const spec of specs) {
      feeds[spec.name] = spec.type === 'string'
        ? new ort.Tensor('string', [text], [1, 1])
        : new ort.Tensor('float32', Float32Array.of(Number(text)), [1, 1]);
    }
    return feeds;
  };
  const out = {run: [], total: [], server: [], edgeLabels: [], serverLabels: []};
  const edge = async (text) => {
    const t0 = performance.now();
    const feeds = feedsOf(text);
    const t1 = performance.now();
    const result = await s.session.run(feeds);
    const t2 = performance.now();
    const label = String(result.label.data[0]);
    const probabilities = Array.from(result.probabilities.data);
    const t3 = performance.now();
    out.run.push(t2 - t1);
    out.total.push(t3 - t0);
    out.edgeLabels.push(label);
    return probabilities;
  };
  const server = async (text) => {
    const t0 = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Authorization': 'Token ' + token,
      },
      body: JSON.stringify({inputs: [{[specs[0].name]: text}]}),
    });
    const body = await response.json();
    out.server.push(performance.now() - t0);
    if (!response.ok) throw new Error('predict answered ' + response.status);
    out.serverLabels.push(String(body.predictions[0].label));
  };
  // warm both paths
  for (let i = 0; i < 20; i++) {
    await edge(texts[i % texts.length]);
    await server(texts[i % texts.length]);
  }
  for (const key of Object.keys(out)) out[key] = [];
  for (let start = 0; start < n; start += block) {
    const end = Math.min(n, start + block);
    for (let i = start; i < end; i++) await edge(texts[i % texts.length]);
    for (let i = start; i < end; i++) await server(texts[i % texts.length]);
  }
  return out;
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400, help="predictions per mode")
    parser.add_argument("--block", type=int, default=50, help="alternation block")
    parser.add_argument("--model", default="sms-spam")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--pg-url", default="postgres://postgres@127.0.0.1:5432/bench_edge"
    )
    parser.add_argument("--mlflow-uri", default=None, help="default: the local store")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="modelgate-bench-edge-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GUNICORN_", "INFERENCE_"))
    }
    mlflow_uri = args.mlflow_uri or f"sqlite:///{ROOT / 'var' / 'mlflow' / 'mlflow.db'}"
    import psycopg

    admin_url, _, db_name = args.pg_url.rpartition("/")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "bench-" + os.urandom(24).hex(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DJANGO_STATIC_ROOT": str(tmp / "static"),
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
            "GUNICORN_ACCESSLOG": "/dev/null",
            "GUNICORN_KEEPALIVE": "5",
            "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        }
    )
    run([PY, "manage.py", "migrate", "--no-input", "-v", "0"], env)
    run([PY, "manage.py", "collectstatic", "--no-input", "-v", "0"], env)
    token = (
        run(
            [
                PY,
                "-c",
                (
                    "import django; django.setup(); "
                    "from django.contrib.auth import get_user_model; "
                    "from django.contrib.auth.models import Group; "
                    "from rest_framework.authtoken.models import Token; "
                    "from governance.services.serving import alias_move_record; "
                    f"alias_move_record(name={args.model!r}, alias='production', "
                    f"version={args.version}, actor='bench', "
                    "reason='benchmark setup (bench/edge_latency.py)'); "
                    "user = get_user_model().objects.create_user("
                    f"'bench-edge', password={PASSWORD!r}); "
                    "user.groups.set([Group.objects.get_or_create("
                    "name='api_clients')[0]]); "
                    "print(Token.objects.create(user=user).key)"
                ),
            ],
            env,
        )
        .strip()
        .splitlines()[-1]
    )
    path = f"/api/v1/models/{args.model}/predict"
    auth = {"Authorization": f"Token {token}"}
    server = Server(
        "modelgate",
        PORT,
        path,
        auth,
        [PY, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"],
        env,
    )
    texts = messages(200)
    base = f"http://127.0.0.1:{PORT}"
    load_before = os.getloadavg()
    try:
        server.start(tmp)
        wait_ready(server, json.dumps({"inputs": [{"message": texts[0]}]}))
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
                headless=True,
            )
            page = browser.new_context().new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{base}/accounts/login/?next=/models/{args.model}/edge")
            page.fill("input[name=username]", "bench-edge")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/models/{args.model}/edge")
            page.wait_for_selector(f"body[data-edge-ready='{args.version}']")
            version = page.evaluate("navigator.userAgent")
            out = page.evaluate(
                IN_PAGE,
                {
                    "texts": texts,
                    "n": args.n,
                    "block": args.block,
                    "url": path,
                    "token": token,
                },
            )
            browser.close()
    finally:
        server.stop()
    load_after = os.getloadavg()
    report(out, args, version, load_before, load_after)
    print(f"\nserver log: {tmp}")


def report(out: dict, args, browser: str, load_before, load_after) -> None:
    rows = {
        "edge run (onnxruntime-web session.run)": summary(out["run"]),
        "edge total (tensor + run + read out)": summary(out["total"]),
        "server round trip (fetch, 1 row, log on)": summary(out["server"]),
    }
    server = rows["server round trip (fetch, 1 row, log on)"]
    agree = sum(
        a == b for a, b in zip(out["edgeLabels"], out["serverLabels"], strict=True)
    )
    chrome = next((part for part in browser.split() if "Chrome/" in part), browser)
    lines = [
        f"\n{args.model} v{args.version}: {args.n} predictions per mode, one at a "
        f"time, alternating blocks of {args.block}, in headless {chrome} on "
        f"loopback; Modelgate: {args.workers} gunicorn gthread workers x "
        f"{args.threads} threads, PostgreSQL, log on; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f} (1 min), "
        f"{os.cpu_count()} CPUs; labels equal in {agree} of {len(out['edgeLabels'])}",
        "",
        "| mode | p50 ms | p90 ms | p99 ms | mean ms | server p50 / this p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, cell in rows.items():
        lines.append(
            f"| {name} | {cell['p50']:.3f} | {cell['p90']:.3f} | {cell['p99']:.3f} "
            f"| {cell['mean']:.3f} | {server['p50'] / cell['p50']:.1f}x |"
        )
    text = "\n".join(lines)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "summary": rows,
                    "labels_equal": agree,
                    "n": args.n,
                    "browser": browser,
                    "load_average": [load_before, load_after],
                    "markdown": text,
                    "raw": out,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()

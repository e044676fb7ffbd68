"""Memory per loaded model version: what one more entry of a serving
process's model cache costs, to size ``INFERENCE_MAX_LOADED_VERSIONS``.

In one fresh process per model, loads the version its production alias
serves (through the model cache, as a web worker does), then builds the
served model again ``--copies`` times from the same local copy (each build
unpickles the model anew, as a second version would) and reads the process's
resident memory (RSS) after each; then drops the extra copies as the cache
does on eviction and reads it again. Prints, per model: the process before
any model, after the first load (imports included), the median cost of one
more loaded version, and what dropping them gave back.

Usage (from the project folder, after `make setup` trained the models)::

    .venv/bin/python bench/model_memory.py
    .venv/bin/python bench/model_memory.py --models sms-spam --copies 8 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def measure(model: str, copies: int) -> dict:
    """In this process: the figures of one model (Django set up here)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from inference.serving import model_cache
    from inference.serving.served import served_model_build

    gc.collect()
    start = rss()
    cache = model_cache()
    served = cache.get(name=model)
    gc.collect()
    first = rss()
    folder = cache.copies.ensure(model, served.version)
    held, steps = [], []
    for _ in range(copies):
        before = rss()
        held.append(served_model_build(folder))
        gc.collect()
        steps.append(rss() - before)
    loaded = rss()
    held.clear()
    gc.collect()
    dropped = rss()
    return {
        "model": model,
        "version": served.version,
        "process_mb": round(start / MB, 1),
        "first_load_mb": round((first - start) / MB, 1),
        "per_version_mb": round(statistics.median(steps) / MB, 1),
        "per_version_max_mb": round(max(steps) / MB, 1),
        "copies": copies,
        "given_back_mb": round((loaded - dropped) / MB, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="sms-spam,breast-cancer")
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child's model
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.copies)))
        return
    results = []
    for model in args.models.split(","):
        # a fresh process per model: imports and allocator state of one
        # model must not lower the figures of the next
        out = subprocess.run(
            [sys.executable, __file__, "--one", model, "--copies", str(args.copies)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {model}", file=sys.stderr, flush=True)
    header = (
        f"{'model':<16}{'version':>8}{'process':>10}{'1st load':>10}"
        f"{'+1 version':>12}{'max':>8}{'freed':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['model']:<16}{r['version']:>8}{r['process_mb']:>9.0f}M"
            f"{r['first_load_mb']:>9.0f}M{r['per_version_mb']:>11.1f}M"
            f"{r['per_version_max_mb']:>7.1f}M{r['given_back_mb']:>7.1f}M"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

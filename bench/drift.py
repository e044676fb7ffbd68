"""Drift computation: Evidently's DataDriftPreset vs Modelgate's report
computation, on the same synthetic data, in one run.

Data: 20 numeric + 5 categorical columns + a prediction column, 5 of them
drifted (num_1, num_7, num_15, cat_0, cat_3), reference and current of N
rows each. Methods pinned on both sides: Wasserstein (normed) 0.1 for numeric,
Jensen-Shannon 0.1 for categorical.

Each side runs in a forked child process of this one run, so both start from
the same memory state and their peak RSS (VmHWM, reset at the start of the
child) is measured the same way; time is wall-clock of the computation only.
Prints time, peak memory, the ratio and per-column verdict agreement.

    .venv/bin/python bench/drift.py                 # 10k, 100k, 1M rows
    .venv/bin/python bench/drift.py --rows 10000    # one size
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitoring.calculations.methods import CAT, NUM, TEXT  # noqa: E402
from monitoring.calculations.report import (  # noqa: E402
    ReportConfig,
    report_compute,
    synthetic_frames,
)

DRIFTED = ("num_1", "num_7", "num_15", "cat_0", "cat_3")
METHODS = {NUM: ("wasserstein", 0.1), CAT: ("jensenshannon", 0.1)}


def _memory_reset() -> None:
    # "5" resets the peak resident set size (VmHWM) of this process
    Path("/proc/self/clear_refs").write_text("5")


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def run_evidently(reference, current, kinds) -> dict[str, bool]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == NUM],
        categorical_columns=[c for c, k in kinds.items() if k == CAT] + ["prediction"],
    )
    preset = DataDriftPreset(
        num_method=METHODS[NUM][0],
        num_threshold=METHODS[NUM][1],
        cat_method=METHODS[CAT][0],
        cat_threshold=METHODS[CAT][1],
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    out = {}
    for test in snapshot.dict()["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type", "").endswith("ValueDrift"):
            out[params["column"]] = test["status"] == "FAIL"
    return out


def run_modelgate(reference, current, kinds) -> dict[str, bool]:
    config = ReportConfig(
        feature_kinds=kinds,
        methods={**METHODS, TEXT: ("abs_text_content_drift", 0.55)},
        min_rows=1,
        task="classification",
    )
    summary = report_compute(reference, current, config)
    return {
        c["column"]: c["drifted"] for c in summary["columns"] if c["group"] != "label"
    }


def _child(which: str, frames, queue) -> None:
    reference, current, kinds = frames
    if which == "evidently":  # import cost is not part of the computation
        import evidently.presets  # noqa: F401
    _memory_reset()
    base = _status_kb("VmRSS")
    started = time.perf_counter()
    fn = run_evidently if which == "evidently" else run_modelgate
    verdicts = fn(reference, current, kinds)
    seconds = time.perf_counter() - started
    queue.put(
        {
            "seconds": seconds,
            "peak_mb": _status_kb("VmHWM") / 1024,
            "extra_mb": (_status_kb("VmHWM") - base) / 1024,
            "verdicts": verdicts,
        }
    )


def measure(which: str, frames) -> dict:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(which, frames, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}")
    header = (
        f"{'rows':>9} | {'Evidently s':>11} | {'Modelgate s':>11} | {'speed-up':>8} | "
        f"{'Evidently peak MB':>17} | {'Modelgate peak MB':>17} | verdicts"
    )
    print(header)
    print("-" * len(header))
    results = []
    for rows in args.rows:
        frames = synthetic_frames(rows, drifted=DRIFTED, seed=0)
        ours = measure("modelgate", frames)
        theirs = measure("evidently", frames)
        columns = sorted(theirs["verdicts"])
        agree = sum(ours["verdicts"].get(c) == theirs["verdicts"][c] for c in columns)
        flagged = sorted(c for c in columns if ours["verdicts"].get(c))
        row = {
            "rows": rows,
            "evidently_seconds": theirs["seconds"],
            "modelgate_seconds": ours["seconds"],
            "speedup": theirs["seconds"] / ours["seconds"],
            "evidently_peak_mb": theirs["peak_mb"],
            "modelgate_peak_mb": ours["peak_mb"],
            "evidently_extra_mb": theirs["extra_mb"],
            "modelgate_extra_mb": ours["extra_mb"],
            "columns": len(columns),
            "agreeing": agree,
            "modelgate_flagged": flagged,
        }
        results.append(row)
        print(
            f"{rows:>9,} | {row['evidently_seconds']:>11.2f} | "
            f"{row['modelgate_seconds']:>11.2f} | {row['speedup']:>7.1f}x | "
            f"{row['evidently_peak_mb']:>17.0f} | {row['modelgate_peak_mb']:>17.0f} | "
            f"{agree}/{len(columns)} agree; flagged {', '.join(flagged)}",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps({"load_end": load, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()

"""bench/hybrid.py's report: the ratio of each round is taken within the
round, where the modes ran back to back, and reported beside the ratio of
the medians."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.bench import bench_module


def test_each_rounds_ratio_is_taken_within_the_round():
    bench = bench_module("hybrid")
    # a machine twice as fast in round 2: the medians' ratio mixes rounds,
    # each round's own ratio does not
    assert bench.round_ratios([200.0, 400.0, 210.0], [100.0, 200.0, 100.0]) == [
        2.0,
        2.0,
        2.1,
    ]
    with pytest.raises(ValueError, match="shorter"):
        bench.round_ratios([1.0, 2.0], [1.0])


def test_the_report_gives_both_ratios_per_cell(tmp_path, capsys):
    bench = bench_module("hybrid")
    cell = bench.Cell
    results = {
        ("online", 100, 8): cell(
            rps=[100.0, 150.0, 120.0], p50=[50.0] * 3, p99=[90.0] * 3
        ),
        ("keyed", 100, 8): cell(
            rps=[190.0, 330.0, 250.0], p50=[25.0] * 3, p99=[60.0] * 3
        ),
        ("keyed+inputs", 100, 8): cell(
            rps=[150.0, 240.0, 200.0], p50=[30.0] * 3, p99=[70.0] * 3
        ),
    }
    out = tmp_path / "out.json"
    args = SimpleNamespace(
        workers=2, threads=4, rounds=3, duration=6, json=str(out), store_rows=1000
    )
    bench.report(results, [100], [8], args, (0.5, 0.5, 0.5), (6.0, 4.0, 2.0))

    keyed = next(
        r for r in json.loads(out.read_text())["summary"] if r["mode"] == "keyed"
    )
    assert keyed["vs_online"] == pytest.approx(250 / 120)
    assert keyed["vs_online_rounds"] == pytest.approx([1.9, 2.2, 250 / 120])
    assert json.loads(out.read_text())["store_rows"] == 1000
    assert "| 100 | 8 | keyed | 250.0 |" in capsys.readouterr().out

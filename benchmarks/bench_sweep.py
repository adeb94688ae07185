"""Overhead of the sweep service on a local cluster (2 worker processes by default).

(a) 400 points of the trivial ``probe`` model (no work): wall time per point from the
    first submission to the last result -- everything but the cluster start -- and
    points per second;
(b) 40 points of 1 s of busy work each: total wall time against the ideal
    40 x 1 s / workers.

    python benchmarks/bench_sweep.py [--workers 2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from epmsweep.sweep import runner
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.spec import build_spec


def timed_sweep(n_points: int, work: float, workers: int, path: Path) -> tuple[float, float]:
    """(seconds from submission to last result, seconds including cluster start)."""
    spec = build_spec("probe", {"x": f"0:1:{n_points}"}, {"work": work}, {}, 1, 0, f"bench-{n_points}")
    marks = {}
    original = runner._run_on_cluster

    def instrumented(*args, **kwargs):
        marks["start"] = time.perf_counter()
        original(*args, **kwargs)
        marks["end"] = time.perf_counter()

    runner._run_on_cluster = instrumented
    try:
        start = time.perf_counter()
        outcome = runner.run_sweep(spec, path, ClusterOptions(workers=workers, dashboard=False), progress=False)
        total = time.perf_counter() - start
    finally:
        runner._run_on_cluster = original
    assert outcome.done == n_points, outcome
    return marks["end"] - marks["start"], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep_a, total_a = timed_sweep(400, 0.0, args.workers, Path(tmp) / "a.zarr")
        sweep_b, total_b = timed_sweep(40, 1.0, args.workers, Path(tmp) / "b.zarr")
    ideal = 40 * 1.0 / args.workers
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"{datetime.date.today().isoformat()}, commit {commit}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {args.workers} workers\n")
    print("| measurement | result | target |")
    print("|---|---|---|")
    print(f"| 400 trivial points: overhead per point | {1000 * sweep_a / 400:.1f} ms ({400 / sweep_a:.0f} points/s); "
          f"with cluster start {1000 * total_a / 400:.1f} ms | <= 25 ms |")
    print(f"| 40 points of 1 s: wall time | {sweep_b:.2f} s = {sweep_b / ideal:.3f} x ideal {ideal:.0f} s; "
          f"with cluster start {total_b:.2f} s = {total_b / ideal:.3f} x | <= 1.15 x ideal |")


if __name__ == "__main__":
    main()

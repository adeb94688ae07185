"""Overhead of the sweep service on a local cluster (2 worker processes by default).

(a) 400 points of the trivial ``probe`` model (no work): wall time per point from the
    first submission to the last result -- everything but the cluster start -- and
    points per second;
(b) 40 points of 1 s of busy work each: total wall time against the ideal
    40 x 1 s / workers;
(c) 10^5 trivial points: overhead per point, files per point, the store's size,
    ``store.summary`` (what ``epmsweep status`` computes) and ``xr.open_zarr`` + counting
    done points, and the client's peak memory;
(d) validation of an axis of 10^7 values (refused above the size limit) and of 64,000
    values with one duplicate;
(e) 10^6 points, plan and layout only (spec, store creation, the batches to submit).

    python benchmarks/bench_sweep.py [--workers 2] [--skip-large]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

from epmsweep.model import InvalidInput
from epmsweep.sweep import runner, store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.shard_io import geometry, load_status, open_group
from epmsweep.sweep.spec import build_spec


def timed_sweep(n_points: int, work: float, workers: int, path: Path, replicas: int = 1) -> tuple[float, float]:
    """(seconds from submission to last result, seconds including cluster start)."""
    spec = build_spec("probe", {"x": f"0:1:{n_points // replicas}"}, {"work": work}, {}, replicas, 0,
                      f"bench-{n_points}")
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


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def large_sweep(workers: int, path: Path) -> list[str]:
    """Rows of (c): 10^5 trivial points."""
    n = 100_000
    sweep, total = timed_sweep(n, 0.0, workers, path, replicas=2)
    files = sum(1 for p in path.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    t_status, _ = seconds(lambda: store.summary(path))
    t_open, done = seconds(lambda: int((xr.open_zarr(path).status == 1).sum()))
    assert done == n
    t_cli, _ = seconds(lambda: subprocess.run([sys.executable, "-m", "epmsweep", "status", str(path)],
                                                  capture_output=True))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [f"| 10^5 trivial points: overhead per point | {1000 * sweep / n:.3f} ms ({n / sweep:,.0f} points/s); "
            f"with cluster start {1000 * total / n:.3f} ms | <= 2 ms |",
            f"| 10^5 points: files, size | {files} files = 1 per {n / files:.0f} points, {size / 1e6:.1f} MB | "
            "<= 1 file per 100 points |",
            f"| 10^5 points: `store.summary` (`epmsweep status`) | {t_status:.2f} s (the command, with Python and "
            f"imports: {t_cli:.2f} s) | <= 1 s |",
            f"| 10^5 points: `xr.open_zarr` + counting done points | {t_open:.2f} s | <= 1 s |",
            f"| 10^5 points: client peak memory | {peak:.0f} MB | <= 1 GB |"]


def validation() -> list[str]:
    """Rows of (d)."""
    def refused(axes: dict) -> str:
        try:
            build_spec("probe", axes, {}, {}, 1, 0, "v")
        except InvalidInput as err:
            return str(err)
        raise AssertionError("not refused")

    t_big, message = seconds(lambda: refused({"x": "0:1:10000000"}))
    assert "--max-points" in message
    t_dup, message = seconds(lambda: refused({"x": [*range(64_000), 17]}))
    assert "duplicate values 17" in message
    return [f"| 10^7 axis values: refused above the limit | {t_big:.2f} s | seconds |",
            f"| 64,000 axis values, one duplicate: refused | {t_dup:.3f} s (before: 52 s) | O(n log n) |"]


def plan_million(path: Path) -> list[str]:
    """Rows of (e): 10^6 points, no runs."""
    t_spec, spec = seconds(lambda: build_spec("probe", {"x": "0:1:1000", "work": "0:1e-6:100"}, {}, {}, 10, 0, "m"))
    t_create, _ = seconds(lambda: store.create(path, spec))
    t_plan, batches = seconds(lambda: runner._Batches(spec, geometry(open_group(path)), load_status(path)[0] != 1))
    files = sum(1 for p in path.rglob("*") if p.is_file())
    return [f"| 10^6 points: spec + checks, store creation (seeds), batches | {t_spec:.2f} s + {t_create:.1f} s + "
            f"{t_plan:.2f} s; {len(batches.shards)} batches, {files} files before any run | plan only |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-large", action="store_true", help="only (a) and (b)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sweep_a, total_a = timed_sweep(400, 0.0, args.workers, Path(tmp) / "a.zarr")
        sweep_b, total_b = timed_sweep(40, 1.0, args.workers, Path(tmp) / "b.zarr")
        if not args.skip_large:
            rows = [*large_sweep(args.workers, Path(tmp) / "c.zarr"), *validation(), *plan_million(Path(tmp) / "e.zarr")]
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
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()

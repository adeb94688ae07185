"""Wall time of one low-temperature lattice point with tracers: this checkout against a baseline commit.

The point (paper 002's thermal rule): L = 256, T = 0.05, 500 tracers, ``sample_interval =
0.1``, ``dt = 0.025``, ``initial = "cold"``, ``burn_in = 0``, ``duration = 3000``, every
other setting at its default. Each code runs in its own process (a compiling run first,
then the timed ``get_model("lattice").run``), the two alternating ``--pairs`` times so that
a change of the machine's load hits both alike. The baseline is checked out with ``git
worktree`` into a temporary folder. Prints a Markdown table.

    python benchmarks/low_t_speedup.py [--baseline ac07885] [--pairs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import print_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARAMS = {"L": 256, "T": 0.05}
SETTINGS = {"n_tracers": 500, "sample_interval": 0.1, "dt": 0.025, "initial": "cold", "burn_in": 0.0,
            "duration": 3000.0}
TIMED = """
import json, sys, time
import epmsweep
from epmsweep.model import get_model
params, settings = json.loads(sys.argv[1]), json.loads(sys.argv[2])
model = get_model("lattice")
model.run({**params, "L": 16}, {**settings, "duration": 10.0}, seed=0)  # compiles (or loads) the kernels
start = time.perf_counter()
out = model.run(params, settings, seed=1)
print(json.dumps({"wall_s": time.perf_counter() - start, "activity": float(out["activity"]),
                  "source": epmsweep.__file__}))
"""


def timed_run(source: Path, cache: Path) -> dict:
    """One timed run of the point with the package at ``source``, numba's cache in ``cache``."""
    env = {**os.environ, "PYTHONPATH": str(source), "NUMBA_CACHE_DIR": str(cache), "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", TIMED, json.dumps(PARAMS), json.dumps(SETTINGS)], env=env,
                          cwd=source, capture_output=True, text=True, check=True)  # the source first on sys.path
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="ac07885")
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline = tmp / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                       check=True, capture_output=True)
        try:
            rows = []
            for pair in range(1, args.pairs + 1):
                before = timed_run(baseline, tmp / "cache-baseline")
                after = timed_run(ROOT, tmp / "cache-this")
                if Path(before["source"]).parent.parent != baseline.resolve():
                    raise RuntimeError(f"the baseline imported {before['source']}, not the checkout of {args.baseline}")
                rows.append(f"| {pair} | {before['wall_s']:.1f} | {after['wall_s']:.1f} | "
                            f"{before['wall_s'] / after['wall_s']:.2f}x | {1e3 * after['wall_s'] / SETTINGS['duration']:.2f} | "
                            f"{before['activity']:.4g} / {after['activity']:.4g} |")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=True)
    print_table(["pair", f"{args.baseline} wall s", "this checkout wall s", "ratio", "ms per tau (this)",
                 "activity (before / this)"], rows, f", L = 256, T = 0.05, {SETTINGS}")


if __name__ == "__main__":
    main()

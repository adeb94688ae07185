"""Wall time of the README's quickstart command (and of other example specs), cold and warm.

Cold: numba's cache directory is empty (a first run after installing: every worker
compiles the model's kernels). Warm: the same cache, filled by the cold run (every later
run). Each run writes a new store, with the default local cluster, from the repository
root. Usage: python benchmarks/quickstart_times.py [SPEC.toml ...] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(spec: str, cache: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "epmsweep", "run", spec, "--no-progress", "--out", str(out)], cwd=ROOT,
                   check=True, capture_output=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=["examples/quickstart.toml"], help="spec files (repository-relative)")
    parser.add_argument("--repeat", type=int, default=2, help="warm runs (the best is reported)")
    args = parser.parse_args()
    for spec in args.specs:
        with tempfile.TemporaryDirectory() as scratch:
            cache = os.path.join(scratch, "numba-cache")
            os.mkdir(cache)
            cold = timed_run(spec, cache, Path(scratch) / "cold.zarr")
            warm = min(timed_run(spec, cache, Path(scratch) / f"warm{i}.zarr") for i in range(args.repeat))
        print(f"{spec}: cold {cold:.1f} s (compiling), warm {warm:.1f} s (best of {args.repeat})")


if __name__ == "__main__":
    main()

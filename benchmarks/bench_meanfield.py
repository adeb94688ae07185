"""Events per second of the mean-field simulation on one core, N = 1000 and 10000, T = 1, 0.2, 0.05 (and 0.03).

(i) the plain-NumPy per-event baseline (benchmarks/numpy_baseline.py), (ii) the O(N)
numba kernel (``method="direct"``), (iii) the fast algorithm (``method="auto"``:
thinning with lazy kicks, switching to direct at low activity), and, for reference,
pure thinning. T = 0.03 (activity sum(nu) < 1.5 at N = 1000) shows ``auto`` switching to
the direct method. Every method starts from the same equilibrated state (alpha = 0.11) and
is timed over enough events to take >= ``--seconds``. Prints a Markdown table.

    python benchmarks/bench_meanfield.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy_baseline  # noqa: E402
from timing import per_second  # noqa: E402

from epmsweep.model import events  # noqa: E402
from epmsweep.model.histogram import UniformBins  # noqa: E402
from epmsweep.model.meanfield.simulation import SWITCH_ACTIVITY  # noqa: E402
from epmsweep.model.rules import Paper000Rule  # noqa: E402

ALPHA = 0.11


def kernel_runner(sigma0: np.ndarray, T: float, method: int, seed: int = 0):
    """Closure advancing a copy of sigma0 by a given number of events with the event engine."""
    n = sigma0.size
    rule = Paper000Rule(T=T, a=1.5, sigma_c=1.0, sigma_0=1.0, K=1.0, tau=1.0)
    engine = events.EngineParams(method, SWITCH_ACTIVITY, 2.0 * ALPHA / n, UniformBins(-1.5, 20.0, 60))
    state = events.new_state(sigma0.copy(), engine)
    rng = np.random.default_rng(seed)

    def advance(count: int) -> None:
        e_stop = state.counters[events.EVENTS] + count
        events.advance(None, state, rule, engine, rng, np.inf, e_stop, True)

    return advance, state


def equilibrated(n: int, T: float, sweeps: float = 100.0) -> np.ndarray:
    advance, state = kernel_runner(np.random.default_rng(1).standard_normal(n), T, events.AUTO, seed=2)
    advance(int(sweeps * n))
    pending = state.counters[events.EVENTS] - state.last  # lazy kicks not yet applied
    return state.sigma + np.sqrt(2 * ALPHA * pending / n) * np.random.default_rng(3).standard_normal(n)


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timed duration per measurement")
    args = parser.parse_args()
    rows = []
    for n in (1000, 10000):
        for T in (1.0, 0.2, 0.05, 0.03):
            sigma0 = equilibrated(n, T)
            rng = np.random.default_rng(4)
            sigma_np = sigma0.copy()
            numpy_rate = per_second(lambda k: numpy_baseline.run_events(sigma_np, T, ALPHA, k, rng), args.seconds)
            rates = {m: per_second(kernel_runner(sigma0, T, code)[0], args.seconds)
                     for m, code in (("direct", events.DIRECT), ("auto", events.AUTO), ("thinning", events.THINNING))}
            best_ref = max(numpy_rate, rates["direct"])
            rows.append(f"| {n} | {T} | {numpy_rate:,.0f} | {rates['direct']:,.0f} | {rates['auto']:,.0f} | "
                        f"{rates['thinning']:,.0f} | {rates['auto'] / numpy_rate:,.0f}x | {rates['auto'] / best_ref:.2f} |")
            print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"\n{datetime.date.today().isoformat()}, commit {commit}, {machine()}\n")
    print("| N | T | (i) NumPy ev/s | (ii) numba direct ev/s | (iii) auto ev/s | thinning only ev/s | (iii)/(i) | (iii)/max((i),(ii)) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

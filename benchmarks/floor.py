"""The floor of the time-stepped lattice's cost: one O(L^2) update of one field per switch.

A change of the active set (a *switch*: an activation or a deactivation) must at least add
the switching site's shifted real-space kernel to one L x L field, sigma_rate(r) += c G(r -
r_a): every site's stress rate changes. This script times that update alone, written by
hand (:func:`add_shifted`, also the kernel update of the activity-only baseline engine,
``activity_engine.py``), and the model's cost per switch at a stationary point without
tracers or probes (``get_model("lattice").run`` from a handed-over steady state, fixed
duration, the difference of two lengths over the difference of their switches), and prints
the ratio floor / model. The floor and the model run alternately, best of ``--repeats``.

    python benchmarks/floor.py [--sizes 128,256] [--temperature 0.05] [--duration 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from timing import print_table  # noqa: E402
from epmsweep.model import get_model  # noqa: E402


@njit(cache=True)
def add_shifted(field, kernel, sites, coeffs, n):
    """field[r] += sum_a coeffs[a] kernel[r - r_a] over the first n ``sites`` (periodic L x L)."""
    L = field.shape[0]
    for a in range(n):
        xa, ya, c = sites[a] // L, sites[a] % L, coeffs[a]
        for x in range(L):
            dx = x - xa
            if dx < 0:
                dx += L
            row, dst = kernel[dx], field[x]
            for y in range(ya, L):
                dst[y] += c * row[y - ya]
            for y in range(ya):
                dst[y] += c * row[y + L - ya]


def floor_seconds(L: int, repeats: int) -> float:
    """Seconds of one shifted-kernel update of an L x L field (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    field, kernel = rng.standard_normal((L, L)), rng.standard_normal((L, L))
    n = max(64, 2**22 // (L * L))
    sites, coeffs = rng.integers(0, L * L, n), rng.choice([-1.0, 1.0], n)
    add_shifted(field, kernel, sites, coeffs, 1)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        add_shifted(field, kernel, sites, coeffs, n)
        best = min(best, (time.perf_counter() - start) / n)
    return best


ACTIVITY_ONLY = {"n_tracers": 0, "n_probes": 1, "lag_levels": 1, "p_sigma_interval": 1000.0, "burn_in": 0.0}


def model_seconds_per_switch(L: int, T: float, duration: float, state: dict) -> tuple[float, float]:
    """(seconds per switch, switches per unit time) of the model at a stationary point."""
    model = get_model("lattice")
    walls, switches = [], []
    for length in (0.1 * duration, 1.1 * duration):
        start = time.perf_counter()
        out = model.run({"T": T, "L": L}, {**ACTIVITY_ONLY, "duration": length, "n_windows": 4}, seed=2, start=state)
        walls.append(time.perf_counter() - start)
        switches.append(2.0 * out["events"])
    return (walls[1] - walls[0]) / (switches[1] - switches[0]), switches[1] / (1.1 * duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--duration", type=float, default=2000.0)
    parser.add_argument("--burn-in", type=float, default=20000.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = get_model("lattice")
    rows = []
    for L in map(int, args.sizes.split(",")):
        T = args.temperature
        _, state = model.run({"T": T, "L": L}, {**ACTIVITY_ONLY, "burn_in": args.burn_in, "duration": 10.0,
                                                "n_windows": 4}, seed=1, hand_over=True)
        floor, per_switch, rate = np.inf, np.inf, 0.0
        for _ in range(args.repeats):
            floor = min(floor, floor_seconds(L, 1))
            cost, rate = model_seconds_per_switch(L, T, args.duration, state)
            per_switch = min(per_switch, cost)
        rows.append(f"| {L} | {T} | {rate:.3g} | {1e6 * floor:.1f} | {1e6 * per_switch:.1f} | {floor / per_switch:.0%} |")
        print(rows[-1], flush=True)
    print_table(["L", "T", "switches per tau", "floor us/switch", "model us/switch", "floor/model"], rows)


if __name__ == "__main__":
    main()

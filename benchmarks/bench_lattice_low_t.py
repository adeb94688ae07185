"""Wall time per simulated tau of the lattice model at low temperature, through the public API.

For each L, T and tracer count: ``get_model("lattice").run`` with its default observables
(C_sigma probes, P(sigma), psi, and with tracers MSD, S(q, t), C_u, P(u)), cold start,
a fixed burn-in long enough to be near the steady state, then two measurements of
different lengths with the same seed; the difference of their wall times over the
difference of their lengths is the cost per tau of measuring. The baseline is the
activity-only exact engine of ``benchmarks/activity_engine.py`` (thinning with a global
bound and real-space kernel updates every step, no observables), timed from the model's
final state (handed over) for at least ``--engine-seconds``. Prints a Markdown table.

    python benchmarks/bench_lattice_low_t.py [--dt 0.025] [--sizes 128,256] [--temperatures 0.2,0.1,0.07,0.05,0.04]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


import activity_engine  # noqa: E402
from timing import print_table  # noqa: E402
from epmsweep.model import get_model  # noqa: E402
from epmsweep.model.lattice.propagator import eshelby  # noqa: E402

#: Burn-in (tau) per temperature, from a cold start: several relaxation times 1/nu down to
#: T = 0.07; at T <= 0.05 (1/nu ~ 1e4 tau and more) the state is still heating up, so the
#: activity of each row is printed with it.
BURN_IN = {0.2: 50.0, 0.1: 500.0, 0.075: 2000.0, 0.07: 2500.0, 0.05: 5000.0, 0.04: 5000.0}


def model_cost(L: int, T: float, tracers: int, dt: float, lengths: tuple[float, float],
               burn_in: float) -> tuple[float, float, dict]:
    """(wall seconds per tau of measurement, activity of the longer run, its final state)."""
    model = get_model("lattice")
    settings = {"dt": dt, "burn_in": burn_in, "n_tracers": tracers}
    walls, out, state = [], None, None
    for duration in lengths:
        start = time.perf_counter()
        out, state = model.run({"T": T, "L": L}, {**settings, "duration": duration}, seed=1, hand_over=True)
        walls.append(time.perf_counter() - start)
    return (walls[1] - walls[0]) / (lengths[1] - lengths[0]), float(out["activity"]), state


def engine_cost(L: int, T: float, dt: float, state: dict, seconds: float) -> tuple[float, float]:
    """(wall seconds per tau, activity) of the activity-only engine from the model's state."""
    kernel = 2.0 * 0.5 * dt * eshelby(L).g_r  # 2 mu eps_step G, eps_step = eps0 dt / (2 tau)
    sigma, active, sign = state["sigma"].copy(), state["active"].copy(), state["sign"].copy()
    steps, elapsed, a = 1, 0.0, math.nan
    while elapsed < seconds:
        steps *= 2
        start = time.perf_counter()
        a = activity_engine.run(sigma, active, sign, kernel, T, dt, steps, steps)
        elapsed = time.perf_counter() - start
    return elapsed / (steps * dt), a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt", type=float, default=0.025)
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--temperatures", default="0.2,0.1,0.07,0.05,0.04")
    parser.add_argument("--tracers", default="0,1000")
    parser.add_argument("--duration", type=float, default=200.0, help="measured tau per row (the longer run's extra)")
    parser.add_argument("--burn-in", type=float, default=None, help="one burn-in for every T (default: BURN_IN)")
    parser.add_argument("--engine-seconds", type=float, default=2.0, help="least wall time of an engine measurement")
    args = parser.parse_args()
    _, _, state = model_cost(32, 0.2, 0, args.dt, (2.0, 4.0), 1.0)  # compile
    engine_cost(32, 0.2, args.dt, state, 0.0)
    rows = []
    for L in map(int, args.sizes.split(",")):
        for T in map(float, args.temperatures.split(",")):
            burn = BURN_IN[T] if args.burn_in is None else args.burn_in
            engine = a_engine = None
            for tracers in map(int, args.tracers.split(",")):
                cost, a, state = model_cost(L, T, tracers, args.dt, (10.0, 10.0 + args.duration), burn)
                if engine is None:
                    engine, a_engine = engine_cost(L, T, args.dt, state, args.engine_seconds)
                rows.append(f"| {L} | {T} | {tracers} | {a:.2e} | {1e3 * cost:.2f} | {1 / cost:,.0f} | "
                            f"{a_engine:.2e} | {1 / engine:,.3g} | {engine / cost:.2f}x |")
                print(rows[-1], flush=True)
    print_table(["L", "T", "tracers", "activity a", "model ms/tau", "model tau/s", "engine activity", "engine tau/s",
                 "model/engine"], rows, f", dt = {args.dt}")

if __name__ == "__main__":
    main()

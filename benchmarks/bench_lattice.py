"""Speed of the lattice model on one core.

Steps per second of paper 002's thermal rule (dt = 0.025) at L = 128, 256, 512 and
T = 0.2, 0.05, with and without 1000 tracers, for (a) the stepper of
``epmsweep.model.lattice`` as the model runs it (rate field kept by real-space kernels
per change of the active set, or by FFT when many sites change; binned candidate
thinning; 4 steps, then the tracers' update, per sample), (a') the same with the rate field
recomputed by FFT at every change ("forced FFT"), (b) the plain FFT-every-step
baseline in ``benchmarks/fft_baseline.py``, and (c) the bare FFT cost of one step (one
rfft2 + irfft2, plus two irfft2 for the tracer displacements). Also events per second of
paper 000's event-driven rule at L = 64 and 128. Every measurement starts from a state
equilibrated by the fast stepper. Prints Markdown tables.

    python benchmarks/bench_lattice.py [--seconds 2]
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
import scipy.fft  # noqa: E402

import fft_baseline  # noqa: E402
from timing import per_second, print_table  # noqa: E402
from epmsweep.model import get_model  # noqa: E402
from epmsweep.model.lattice.activation import ThermalOneChannel  # noqa: E402
from epmsweep.model.lattice.stepped import TimeSteppedLattice, dynamics, initial_stresses  # noqa: E402
from epmsweep.model.lattice.tracers import update_tracers  # noqa: E402
from epmsweep.model.histogram import log_edges  # noqa: E402
from epmsweep.model.lattice.propagator import eshelby  # noqa: E402

DT, EPS_STEP = 0.025, 0.0125  # dt and eps0 dt / (2 tau) with eps0 = tau = 1
STEPS_PER_SAMPLE = 4  # sample_interval 0.1 / dt: the model's stepping is called once per sample


def equilibrated(L: int, T: float) -> TimeSteppedLattice:
    prop = eshelby(L)
    rng = np.random.default_rng(1)
    sim = TimeSteppedLattice(prop, ThermalOneChannel(T, 1.0, 1.0), dynamics({"L": L, "tau_res": 1.0},
                                                                            {"dt": DT, "stop_at_zero": False}),
                             rng, initial_stresses(prop, "gaussian", 0.3, rng), log_edges(0.05, 1e5, 40), 2.0, EPS_STEP)
    sim.advance(int(30 / DT))
    return sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    rows = []
    for L in (128, 256, 512):
        prop = eshelby(L)
        field = np.random.default_rng(0).standard_normal((L, L))
        for T in (0.2, 0.05):
            for n_tracers in (0, 1000):
                sim = equilibrated(L, T)
                tracers = sim.tracers_at(np.random.default_rng(3).random((n_tracers, 2)) * L)
                active_fraction = sim.n_active / L**2
                sites = sim.sites

                def fast_cycle(k):  # the model's loop: 4 steps (one sample interval), then the tracers' update
                    for _ in range(k):
                        sim.advance(STEPS_PER_SAMPLE, True, tracers)
                        if n_tracers:
                            update_tracers(tracers, sites.act, sites.n_act[0], sites.sign, sites.since, sites.clock[0])

                fast = STEPS_PER_SAMPLE * per_second(fast_cycle, args.seconds)
                state = (sim.sigma.copy(), sim.sites.active.astype(bool), sim.sites.sign.astype(float),
                         tracers.pos.copy())
                rng = np.random.default_rng(2)
                base = per_second(lambda k: fft_baseline.run_steps(prop, *state, k, rng, T, DT, EPS_STEP), args.seconds)

                def bare(k):
                    for _ in range(k):
                        f = scipy.fft.rfft2(field)
                        scipy.fft.irfft2(f, s=(L, L))
                        if n_tracers:
                            scipy.fft.irfft2(f, s=(L, L))
                            scipy.fft.irfft2(f, s=(L, L))

                fft_cost = per_second(bare, args.seconds)
                dyn, sim.dyn = sim.dyn, sim.dyn._replace(max_changes=0)  # the rate field by FFT at every change
                forced = STEPS_PER_SAMPLE * per_second(fast_cycle, args.seconds)
                sim.dyn = dyn
                rows.append(f"| {L} | {T} | {n_tracers} | {active_fraction:.4f} | {fast:,.0f} | {forced:,.0f} | {base:,.0f} | "
                            f"{fft_cost:,.0f} | {fast / base:.1f}x | {fft_cost / forced:.2f} |")
                print(rows[-1], flush=True)
    model = get_model("lattice")
    event_rows = []
    for L in (64, 128):
        for T in (0.3, 0.1):
            settings = {"rules": "baron-biroli", "burn_in": 20.0, "duration": 20.0, "n_windows": 4}
            model.run({"T": T, "L": L}, settings, seed=0)  # compile
            start = time.perf_counter()
            out = model.run({"T": T, "L": L}, {**settings, "duration": 100.0}, seed=1)
            elapsed = time.perf_counter() - start
            event_rows.append(f"| {L} | {T} | {out['gamma']:.4f} | {out['events'] / elapsed:,.0f} |")
            print(event_rows[-1], flush=True)
    print_table(["L", "T", "tracers", "active fraction", "fast steps/s", "forced-FFT steps/s", "baseline steps/s",
                 "bare FFT /s", "fast/baseline", "forced-FFT cost / bare FFT cost"], rows)
    print("\n| L | T | Gamma | paper 000 rule events/s (burn-in 20, 100 time units, incl. set-up) |\n|---|---|---|---|")
    print("\n".join(event_rows))


if __name__ == "__main__":
    main()

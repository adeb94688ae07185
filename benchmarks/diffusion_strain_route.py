"""D_inf of the lattice two ways: the model's tracers, and the plastic strain's frozen modes.

The independent route needs no tracers. The displacement field is u(q) = K(q) eps(q), with
|K|^2 = 4/q^2 on the axes (Eshelby's displacement of a shear eigenstrain, continuum kernel);
the axis modes are the ones where G(q) = 0, so their strain is not pulled back by the stress
and grows without bound, while every other mode stays bounded. The Eulerian mean square
displacement of a random point therefore grows as 4 D_E t with D_E the slope of
(1/N^2) sum_axis |K|^2 (2 + cos q)/3 |eps(q, t0 + t) - eps(q, t0)|^2 (the factor (2 + cos q)/3
is a mode's mean square under bilinear interpolation, as the tracers see it), over lags
[l, 10 l] in independent windows of 10 l. A tracer moves, and the bounded but fluctuating
modes decorrelate along its path: that adds a diffusive part, so D_E is a lower bound of
the tracers' D_inf, equal when the displacement over a stress relaxation is small against
the wavelengths that matter.

    python benchmarks/diffusion_strain_route.py --L 16 --T 0.2 [--replicas 12] [--duration 40000]
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

from epmsweep.model import get_model  # noqa: E402
from epmsweep.model.histogram import log_edges  # noqa: E402
from epmsweep.model.lattice.activation import ThermalOneChannel  # noqa: E402
from epmsweep.model.lattice.propagator import eshelby  # noqa: E402
from epmsweep.model.lattice.stepped import TimeSteppedLattice, dynamics  # noqa: E402

DT, EPS_STEP = 0.025, 0.0125  # the defaults: dt, and eps0 dt / (strain_divisor tau)


def axis_weights(L: int) -> np.ndarray:
    """(1/N^2) |K(q)|^2 (2 + cos q)/3 on the axis modes of the fft2 grid, 0 elsewhere and at
    the Nyquist mode."""
    q = 2 * np.pi * np.fft.fftfreq(L)
    w = np.zeros((L, L))
    for i in range(1, L):
        if 2 * i != L:
            w[i, 0] = w[0, i] = 4.0 / q[i] ** 2 * (2 + np.cos(q[i])) / 3
    return w / (L * L) ** 2


def strain_modes(L: int, T: float, seed: int, burn_in: float, duration: float, every: float) -> np.ndarray:
    """fft2 of the plastic strain (units of eps0) every ``every`` tau after a cold start and
    ``burn_in``, paper 002's thermal rule at the model's defaults."""
    prop = eshelby(L)
    sim = TimeSteppedLattice(prop, ThermalOneChannel(T, 1.0, 1.0), dynamics({"L": L, "tau_res": 1.0},
                                                                            {"dt": DT, "stop_at_zero": False}),
                             np.random.default_rng(seed), np.zeros((L, L)), log_edges(0.05, 1e5, 40), 2.0, EPS_STEP)
    sim.advance(int(burn_in / DT))
    snaps = []
    for _ in range(int(duration / every) + 1):
        snaps.append(sim.plastic_strain * EPS_STEP)
        sim.advance(int(every / DT))
    return np.fft.fft2(np.array(snaps))


def eulerian_d(modes: np.ndarray, weights: np.ndarray, every: float, start: float) -> tuple[float, float]:
    """D_E from the slope of the axis modes' MSD over lags [start, 10 start] in independent
    windows of 10 start: mean and standard error over the windows."""
    s, e = int(round(start / every)), int(round(10 * start / every))
    windows = (modes.shape[0] - 1) // e

    def msd(lag: int) -> np.ndarray:
        per_origin = (weights * np.abs(modes[lag:] - modes[:-lag]) ** 2).sum(axis=(1, 2))
        return np.array([per_origin[i * e:(i + 1) * e - lag + 1].mean() for i in range(windows)])

    slopes = (msd(e) - msd(s)) / (4 * (e - s) * every)
    return float(slopes.mean()), float(slopes.std(ddof=1) / np.sqrt(windows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=16)
    parser.add_argument("--T", type=float, default=0.2)
    parser.add_argument("--replicas", type=int, default=12)
    parser.add_argument("--duration", type=float, default=40000.0, help="strain route: tau per replica")
    parser.add_argument("--every", type=float, default=1.0, help="strain route: tau between snapshots")
    parser.add_argument("--burn-in", type=float, default=2000.0)
    args = parser.parse_args()
    model = get_model("lattice")
    values, errors = [], []
    for seed in range(1, args.replicas + 1):
        out = model.run({"L": args.L, "T": args.T}, {}, seed=seed)
        values.append(float(out["diffusion_inf"]))
        errors.append(float(out["diffusion_inf_err"]))
        print(f"tracers, seed {seed}: D_inf = {values[-1]:.5g} +- {errors[-1]:.2g}, lag {float(out['diffusion_inf_lag']):.3g}, "
              f"reached {int(out['diffusion_inf_reached'])}", flush=True)
    values = np.array(values)
    print(f"tracers: D_inf = {values.mean():.5g} +- {values.std(ddof=1) / np.sqrt(values.size):.2g} over "
          f"{values.size} replicas (scatter / rms quoted error {values.std(ddof=1) / np.sqrt(np.mean(np.square(errors))):.2f})")
    weights = axis_weights(args.L)
    starts = [s for s in (3, 10, 30, 100, 300, 1000) if args.duration / (10 * s) >= 10]
    per_start = {s: [] for s in starts}
    for seed in range(args.replicas):
        t0 = time.perf_counter()
        modes = strain_modes(args.L, args.T, 100 + seed, args.burn_in, args.duration, args.every)
        for s in starts:
            per_start[s].append(eulerian_d(modes, weights, args.every, s))
        print(f"strain route, seed {seed}: " + ", ".join(f"[{s}, {10 * s}] {per_start[s][-1][0]:.5g}" for s in starts)
              + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    for s in starts:
        d = np.array([v for v, _ in per_start[s]])
        print(f"strain route, lags [{s}, {10 * s}] tau: D_E = {d.mean():.5g} +- {d.std(ddof=1) / np.sqrt(d.size):.2g}")


if __name__ == "__main__":
    main()

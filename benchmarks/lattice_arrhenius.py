"""Stationary activity a(T) of paper 002's thermal rule with the model's defaults, and its
Arrhenius fit a = A exp(-E/T), for mu = 1 and mu = 2 (paper 002 does not state its mu).

Every point: cold start, auto burn-in and duration (run lengths chosen by the run, target
relative error 1%), replicas with different seeds. Stationarity is checked three ways:
each point's own flag (burn-in trend test and agreement of the halves of its
measurement), the spread of the replicas against their errors, and a Gaussian (hot)
start at the lowest temperature compared with the cold ones. Runs on a local cluster
through ``run_sweep``; prints a Markdown table and the fits.

    python benchmarks/lattice_arrhenius.py [--L 64] [--replicas 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from epmsweep.model import get_model
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

TEMPERATURES = "0.05,0.06,0.07,0.085,0.1"


def arrhenius(T: np.ndarray, a: np.ndarray, err: np.ndarray) -> tuple[float, float, float, float]:
    """Weighted least squares of ln a = ln A - E/T: (A, E, error of E, chi^2/dof)."""
    y, w = np.log(a), (a / err) ** 2
    X = np.stack([np.ones_like(T), -1.0 / T], axis=1)
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    coef = cov @ (X.T @ (w * y))
    chi2 = float(((y - X @ coef) ** 2 * w).sum() / max(T.size - 2, 1))
    return math.exp(coef[0]), float(coef[1]), math.sqrt(cov[1, 1]), chi2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=64)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spec = build_spec("lattice", {"T": TEMPERATURES, "mu": "1,2"}, {"L": args.L}, {"n_tracers": 0},
                          args.replicas, 7, "arrhenius")
        run_sweep(spec, Path(tmp) / "a.zarr", ClusterOptions(kind="local", workers=args.workers), progress=False)
        ds = xr.open_zarr(Path(tmp) / "a.zarr").load()
    wall = time.perf_counter() - start
    print(f"{datetime.date.today().isoformat()}, L = {args.L}, {args.replicas} replicas, wall {wall:.0f} s on "
          f"{args.workers} workers\n")
    print("| mu | T | a (mean +- s.e.) | replica scatter chi^2/dof | stationary | burn-in used (tau) | duration used (tau) |")
    print("|---|---|---|---|---|---|---|")
    for mu in (1.0, 2.0):
        sub = ds.sel(mu=mu)
        T, a, err = sub["T"].values, sub.activity.values, sub.activity_err.values
        mean = (a / err**2).sum(1) / (1 / err**2).sum(1)
        mean_err = 1 / np.sqrt((1 / err**2).sum(1))
        scatter = ((a - mean[:, None]) ** 2 / err**2).sum(1) / max(args.replicas - 1, 1)
        for k, t in enumerate(T):
            print(f"| {mu:g} | {t:g} | {mean[k]:.4e} +- {mean_err[k]:.1e} | {scatter[k]:.2f} | "
                  f"{int(sub.stationary.values[k].sum())}/{args.replicas} | "
                  f"{sub.burn_in_used.values[k].mean():.3g} | {sub.duration_used.values[k].mean():.3g} |")
        A, E, dE, chi2 = arrhenius(T, mean, mean_err)
        print(f"\nmu = {mu:g}: a = {A:.2f} exp(-{E:.4f} +- {dE:.4f} / T), chi^2/dof = {chi2:.2f}\n")
    lattice = get_model("lattice")
    hot = lattice.run({"T": float(TEMPERATURES.split(",")[0]), "L": args.L},
                      {"n_tracers": 0, "initial": "gaussian"}, seed=99)
    print(f"Gaussian start at T = {TEMPERATURES.split(',')[0]}, mu = 1: a = {hot['activity']:.4e} +- "
          f"{hot['activity_err']:.1e}, stationary = {int(hot['stationary'])}")


if __name__ == "__main__":
    main()

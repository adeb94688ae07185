"""Are the lattice's error bars honest? The scatter of independent replicas over their quoted errors.

Runs ``--replicas`` seeds of paper 002's thermal rule at each (L, T), every setting at its
default unless given, and for the activity and D_inf prints the ratio
std(values) / rms(quoted errors): 1 for honest errors. Its own 68% range follows from the
chi-squared law of a sample variance with replicas - 1 degrees of freedom (about +-12% for
32 replicas). Results are appended to a JSON file as they come, so an interrupted run
resumes where it stopped.

    python benchmarks/replica_scatter.py --sizes 32,64 --temperatures 0.1,0.07 --replicas 32 \
        [--workers 2] [--setting n_tracers=128] [--results replica_scatter.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from scipy.stats import chi2  # noqa: E402

from timing import print_table  # noqa: E402

QUANTITIES = ("activity", "diffusion_inf")
KEPT = ("activity", "activity_err", "diffusion_inf", "diffusion_inf_err", "diffusion_inf_reached",
        "diffusion_inf_lag", "duration_used", "stationary")


def one_replica(L: int, T: float, seed: int, settings: dict) -> dict:
    """One point's outputs that the comparison needs, and its wall time."""
    from epmsweep.model import get_model

    start = time.perf_counter()
    out = get_model("lattice").run({"L": L, "T": T}, settings, seed=seed)
    return {"L": L, "T": T, "seed": seed, "wall_s": time.perf_counter() - start,
            **{k: float(out[k]) for k in KEPT}}


def scatter_ratio(values: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """std(values) / rms(errors) and the ratio's 68% range if the errors are honest."""
    n = values.size
    ratio = float(values.std(ddof=1) / math.sqrt(np.mean(errors**2)))
    low, high = (math.sqrt(chi2.ppf(p, n - 1) / (n - 1)) for p in (0.16, 0.84))
    return ratio, low, high


def parse_settings(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs as a settings mapping, each value read as JSON where it is JSON."""
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64")
    parser.add_argument("--temperatures", default="0.1,0.07")
    parser.add_argument("--replicas", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--setting", action="append", default=[], help="KEY=VALUE, a model setting")
    parser.add_argument("--results", type=Path, default=Path("replica_scatter.json"))
    args = parser.parse_args()
    settings = parse_settings(args.setting)
    done = json.loads(args.results.read_text()) if args.results.exists() else []
    have = {(r["L"], r["T"], r["seed"]) for r in done}
    points = [(int(L), float(T), seed) for L in args.sizes.split(",") for T in args.temperatures.split(",")
              for seed in range(1, args.replicas + 1)]
    todo = [p for p in points if p not in have]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one_replica, *p, settings) for p in todo]
        for future in as_completed(futures):
            done.append(future.result())
            args.results.write_text(json.dumps(done, indent=1))
            r = done[-1]
            print(f"L={r['L']} T={r['T']} seed={r['seed']}: a={r['activity']:.5g}({r['activity_err']:.2g}) "
                  f"D={r['diffusion_inf']:.4g}({r['diffusion_inf_err']:.2g}) reached={r['diffusion_inf_reached']:.0f} "
                  f"{r['duration_used']:.4g} tau in {r['wall_s']:.0f} s", flush=True)
    rows = []
    for L in sorted({p[0] for p in points}):
        for T in sorted({p[1] for p in points}, reverse=True):
            runs = [r for r in done if r["L"] == L and r["T"] == T and r["seed"] <= args.replicas]
            for q in QUANTITIES:
                ok = [r for r in runs if q == "activity" or r["diffusion_inf_reached"] == 1]
                values = np.array([r[q] for r in ok])
                errors = np.array([r[f"{q}_err"] for r in ok])
                ratio, low, high = scatter_ratio(values, errors)
                rows.append(f"| {L} | {T} | {q} | {len(ok)}/{len(runs)} | {values.mean():.5g} | "
                            f"{values.std(ddof=1):.3g} | {math.sqrt(np.mean(errors**2)):.3g} | {ratio:.2f} | "
                            f"{low:.2f}-{high:.2f} | {np.median([r['duration_used'] for r in runs]):.3g} | "
                            f"{np.median([r['wall_s'] for r in runs]):.0f} |")
    print_table(["L", "T", "quantity", "replicas used", "mean", "scatter", "rms quoted error", "ratio",
                 "honest 68% range", "median run (tau)", "median wall s"], rows, f", settings {settings or 'default'}")


if __name__ == "__main__":
    main()

"""Wall time and run-length outputs of one lattice point, after a compiling run.

    python benchmarks/one_point.py --L 256 --T 0.05 --set measure_until=activity --set n_tracers=0

Prints one JSON line: the activity with its error, the run lengths the point chose, its
stationarity and observable flags, D_inf where measured, and the wall seconds of the point.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from replica_scatter import parse_settings  # noqa: E402
from epmsweep.model import get_model  # noqa: E402

REPORTED = ("activity", "activity_err", "correlation_time", "burn_in_used", "duration_used", "stationary", "drift",
            "diffusion_inf", "diffusion_inf_err", "diffusion_inf_lag", "diffusion_inf_reached", "c_sigma_reached",
            "psi_reached")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=256)
    parser.add_argument("--T", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE, a model setting")
    args = parser.parse_args()
    settings = parse_settings(args.set)
    model = get_model("lattice")
    model.run({"L": 16, "T": 0.2}, {**settings, "burn_in": 10.0, "duration": 10.0}, seed=0)  # compiles the kernels
    start = time.perf_counter()
    out = model.run({"L": args.L, "T": args.T}, settings, seed=args.seed)
    wall = time.perf_counter() - start
    print(json.dumps({"L": args.L, "T": args.T, "settings": settings, "wall_s": round(wall, 1),
                      **{k: float(out[k]) for k in REPORTED if k in out}}))


if __name__ == "__main__":
    main()

"""Bitwise fingerprints of every model's outputs for a fixed set of specs and seeds.

A refactor that must not change results (new layout, new kernel interface) is checked by
recording the fingerprints before it and comparing after it:

    python benchmarks/bitwise.py --write benchmarks/bitwise_reference.json   # before
    python benchmarks/bitwise.py --check benchmarks/bitwise_reference.json   # after

The checked-in reference was written on 2026-12-02 (AMD EPYC, numpy 2.4, numba 0.68.1)
after the Fokker-Planck solvers moved to one batched tridiagonal kernel (stationary Gamma
within 4e-12 of the former LAPACK solves, xi within 2e-9, its finite differences amplifying
the round-off) and to fully implicit time steps (Gamma(t) within 5e-5 of the former lagged
D, the lag's own error at rtol = 1e-5), with the spatially coupled model's cases added, and
after the lattice's time correlations took their samples in blocks (c_sigma and c_u within
4e-15: the variances' sums in another order; every other output identical); rewritten on
2026-12-07 after the run lengths' errors moved to integrated autocorrelation times (other
automatic durations, so other results for every stochastic model) and the lattice's new
engine (other random streams) and activity length estimator; on
other builds a few outputs differ in the last bits, so write a reference on your own
machine before a refactor.

Each case runs ``get_model(name).run(params, settings, seed)`` (exactly what a sweep
worker writes into the store) and hashes the raw bytes, dtype and shape of every output.
The cases cover the mean-field simulation in each method (auto switching both ways,
thinning, direct; sweep and time units), the Fokker-Planck solver (stationary and
relaxing, exact and approximate rates), its spatially coupled version (a pinned chain, a
heated grid in time), the lattice with each rule (real-space and FFT
rate-field paths, stop-at-zero, both starts, tracers, the event-driven rule in each
method) and the probe. Fingerprints are exact: they hold on one machine and library
build, not necessarily across CPUs or numba/numpy versions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from epmsweep.model import get_model

MF = {"T": 0.3, "N": 200}
LAT = {"L": 16}
LAT_SHORT = {"burn_in": 5.0, "duration": 10.0, "n_tracers": 50, "n_probes": 32, "q_modes": 4, "lag_levels": 2}
BB_SHORT = {"rules": "baron-biroli", "burn_in": 5.0, "duration": 10.0, "n_probes": 32, "lag_levels": 2}

CASES: dict[str, tuple[str, dict, dict, int]] = {
    "meanfield-auto-hot": ("meanfield", {"T": 0.5, "N": 300}, {"burn_in": 5, "duration": 20}, 1),
    "meanfield-auto-switching": ("meanfield", {"T": 0.08, "N": 100}, {"burn_in": 2, "duration": 10}, 2),
    "meanfield-thinning": ("meanfield", MF, {"method": "thinning", "burn_in": 5, "duration": 20}, 3),
    "meanfield-direct": ("meanfield", MF, {"method": "direct", "burn_in": 5, "duration": 20}, 4),
    "meanfield-time-units-y": ("meanfield", MF, {"unit": "time", "burn_in": 5.0, "duration": 30.0, "initial": "y"}, 5),
    "meanfield-fp-exact": ("meanfield-fp", {"T": 0.3}, {"n_times": 5, "t_max": 50.0}, 0),
    "meanfield-fp-mct": ("meanfield-fp", {"T": 0.4}, {"rate": "mct", "n_times": 0}, 0),
    "meanfield-fp-high-T": ("meanfield-fp", {"T": 1.0}, {"rate": "high-T", "n_times": 3, "initial": "y"}, 0),
    "meanfield-fp-low-T": ("meanfield-fp", {"T": 0.05}, {"rate": "low-T", "n_times": 0}, 0),
    "lattice-thermal-low-activity": ("lattice", {**LAT, "T": 0.07}, LAT_SHORT, 6),
    "lattice-thermal-high-activity": ("lattice", {**LAT, "T": 0.3}, LAT_SHORT, 7),
    "lattice-thermal-fft": ("lattice", {"L": 32, "T": 0.5}, {**LAT_SHORT, "propagator": "lattice"}, 8),
    "lattice-thermal-stop-at-zero": ("lattice", {**LAT, "T": 0.15}, {**LAT_SHORT, "stop_at_zero": True}, 9),
    "lattice-thermal-gaussian-start": ("lattice", {**LAT, "T": 0.4}, {**LAT_SHORT, "initial": "gaussian"}, 17),
    "lattice-thermal-conserved-no-tracers": ("lattice", {**LAT, "T": 0.1},
                                             {**LAT_SHORT, "q0_mode": "conserved", "n_tracers": 0}, 10),
    "lattice-random": ("lattice", {**LAT, "target_activity": 0.02}, {**LAT_SHORT, "rules": "ferrero-random"}, 11),
    "lattice-random-busy": ("lattice", {**LAT, "target_activity": 0.3}, {**LAT_SHORT, "rules": "ferrero-random"}, 12),
    "lattice-baron-biroli-auto": ("lattice", {**LAT, "T": 0.1}, BB_SHORT, 13),
    "lattice-baron-biroli-thinning": ("lattice", {**LAT, "T": 0.3}, {**BB_SHORT, "event_method": "thinning"}, 14),
    "lattice-baron-biroli-direct": ("lattice", {**LAT, "T": 0.3}, {**BB_SHORT, "event_method": "direct"}, 15),
    "meanfield-fp-spatial-pinned": ("meanfield-fp-spatial", {"T": 0.3}, {"n_sites": 64}, 0),
    "meanfield-fp-spatial-square-heated": ("meanfield-fp-spatial", {"T": 0.3, "T_region": 0.3006},
                                           {"geometry": "square", "perturbation": "hot-region", "region": 2,
                                            "n_sites": 8, "spacing": 0.25, "n_times": 2, "t_max": 10.0}, 0),
    "probe": ("probe", {"x": 1.5}, {"k_samples": 5}, 16),
}


def fingerprint(outputs: dict[str, np.ndarray]) -> dict[str, str]:
    """SHA-256 of each output's dtype, shape and bytes."""
    out = {}
    for key in sorted(outputs):
        arr = np.ascontiguousarray(outputs[key])
        h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
        out[key] = h.hexdigest()[:16]
    return out


def run_all() -> dict[str, dict[str, str]]:
    return {name: fingerprint(get_model(model).run(params, settings, seed))
            for name, (model, params, settings, seed) in CASES.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="write the fingerprints to this JSON file")
    group.add_argument("--check", type=Path, help="compare with the fingerprints in this JSON file")
    args = parser.parse_args()
    current = run_all()
    if args.write:
        args.write.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(current)} cases to {args.write}")
        return 0
    reference = json.loads(args.check.read_text())
    changed = [f"{case}.{key}" for case in sorted(set(reference) | set(current))
               for key in sorted(set(reference.get(case, {})) | set(current.get(case, {})))
               if reference.get(case, {}).get(key) != current.get(case, {}).get(key)]
    for item in changed:
        print(f"changed: {item}")
    print(f"{len(current)} cases, {sum(map(len, current.values()))} outputs: "
          f"{'all bitwise identical' if not changed else f'{len(changed)} changed'}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Peak memory of one point against the model's declared estimate (``Model.memory_bytes``).

Each case runs in a fresh process: a tiny point first (imports, compiled kernels), then
the measured point in a fork of it; the increase of the fork's peak resident memory over
its memory at the fork is the point's own memory. The estimate must not be below it (a sweep is refused when the estimate of
its largest point exceeds a worker's memory) and should not be far above.

    python benchmarks/memory_per_point.py
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys

CASES = [
    ("meanfield", {"N": 1_000_000}, {"burn_in": 0.01, "duration": 0.05, "n_windows": 4}),
    ("meanfield", {"N": 4_000_000}, {"burn_in": 0.01, "duration": 0.05, "n_windows": 4}),
    ("lattice", {"L": 512, "T": 0.2}, {"burn_in": 0.05, "duration": 0.8, "n_windows": 4, "n_tracers": 0}),
    ("lattice", {"L": 1024, "T": 0.2}, {"burn_in": 0.05, "duration": 0.8, "n_windows": 4, "n_tracers": 0}),
    ("lattice", {"L": 64, "T": 0.2}, {"burn_in": 0.05, "duration": 0.8, "n_windows": 4, "n_tracers": 1_000_000}),
    ("lattice", {"L": 256, "T": 0.2}, {"burn_in": 0.05, "duration": 0.8, "n_windows": 4, "n_tracers": 300_000}),
    ("lattice", {"L": 64, "T": 0.2}, {"burn_in": 0.05, "duration": 200.0, "n_windows": 4, "n_tracers": 100_000,
                                      "lag_levels": 4}),
]

CHILD = """
import json, os, resource, sys
from epmsweep.model import get_model
name, params, settings = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
model = get_model(name)
small = {**settings, "n_tracers": 10} if "n_tracers" in settings else settings
model.run({k: v for k, v in params.items() if k not in ("N", "L")}, small, 1)
pid = os.fork()  # the child's peak starts at the memory in use now, not at the compile-time peak
if pid == 0:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.run(params, settings, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    s, p = model.resolve_settings(settings), model.resolve_params(params)
    print(json.dumps({"measured": (peak - base) * 1024, "estimate": model.memory_bytes(p, s)}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def measure(name: str, params: dict, settings: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(params), json.dumps(settings)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{datetime.date.today().isoformat()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| model | parameters | settings | measured peak | estimate | estimate / measured |")
    print("|---|---|---|---|---|---|")
    for name, params, settings in CASES:
        r = measure(name, params, settings)
        print(f"| {name} | {params} | {settings} | {r['measured'] / 1e6:.0f} MB | {r['estimate'] / 1e6:.0f} MB | "
              f"{r['estimate'] / max(r['measured'], 1):.2f} |")


if __name__ == "__main__":
    main()

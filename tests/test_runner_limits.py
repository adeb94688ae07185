"""Limits the runner enforces before and while points run: memory per point, workers per
core, a per-point timeout, and stopping at once."""

import json
import math
import subprocess
import sys

import pytest
from distributed.system import MEMORY_LIMIT

from epmsweep.model import InvalidInput, get_model
from epmsweep.sweep import cluster
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

MEASURE = """
import json, os, resource, sys
from epmsweep.model import get_model
name, params, settings = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
model = get_model(name)
model.run({k: v for k, v in params.items() if k not in ("N", "L")}, settings, 1)
pid = os.fork()  # the child's peak starts at the memory in use now, not at the compile-time peak
if pid == 0:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.run(params, settings, 2)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.parametrize(("name", "params", "settings"), [
    ("meanfield", {"N": 2_000_000}, {"burn_in": 0.01, "duration": 0.05, "n_windows": 4}),
    ("lattice", {"L": 512, "T": 0.2}, {"burn_in": 0.05, "duration": 0.8, "n_windows": 4, "n_tracers": 0}),
])
def test_the_memory_estimate_covers_the_measured_peak_of_a_point(name, params, settings):
    """The estimate is checked against the peak resident memory a point adds to a fresh
    process (an independent measurement); it may exceed it by at most 2x."""
    out = subprocess.run([sys.executable, "-c", MEASURE, name, json.dumps(params), json.dumps(settings)],
                         capture_output=True, text=True, timeout=300, check=True)
    measured = float(out.stdout.split()[-1])
    model = get_model(name)
    estimate = model.memory_bytes(model.resolve_params(params), model.resolve_settings(settings))
    assert measured <= estimate <= 2 * measured


def test_a_sweep_whose_largest_point_does_not_fit_a_worker_is_refused_before_anything_is_written(tmp_path):
    """Before: meanfield N = 10^9 passed 6 GB with no estimate first."""
    too_many = math.ceil(1.5 * MEMORY_LIMIT / 20)
    spec = build_spec("meanfield", {"N": f"1000,{too_many}"}, {}, {"burn_in": 1, "duration": 1, "n_windows": 4}, 1,
                      0, "big")
    with pytest.raises(InvalidInput, match=rf"largest point \(N = {too_many}\) needs about .* more than a worker has"):
        run_sweep(spec, tmp_path / "s.zarr", ClusterOptions(kind="sync"), progress=False)
    assert not (tmp_path / "s.zarr").exists()


def test_more_workers_than_cores_need_a_flag():
    many = cluster.available_cores() + 1
    with pytest.raises(InvalidInput, match=f"workers = {many} is more than the .* cores.* --oversubscribe"):
        cluster.validate(ClusterOptions(workers=many))
    cluster.validate(ClusterOptions(workers=many, oversubscribe=True))

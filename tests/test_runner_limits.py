"""Limits the runner enforces before and while points run: memory per point, workers per
core, a per-point timeout, and stopping at once."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import xarray as xr
from distributed.system import MEMORY_LIMIT

from epmsweep import stopping
from epmsweep.model import InvalidInput, get_model
from epmsweep.sweep import cluster, lock
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


# ---- timeout and stopping ------------------------------------------------------
CLI = [sys.executable, "-m", "epmsweep"]


def test_a_point_past_its_timeout_is_stopped_and_recorded_as_failed(tmp_path):
    """Before: no per-point timeout, a point that ran forever held its worker forever."""
    spec = build_spec("probe", {"work": "0,60"}, {"x": 3.0}, {}, 1, 0, "t")
    start = time.monotonic()
    outcome = run_sweep(spec, tmp_path / "s.zarr", ClusterOptions(kind="sync"), progress=False, timeout=4.0)
    assert time.monotonic() - start < 30
    assert (outcome.done, outcome.failed) == (1, 1)
    ds = xr.open_zarr(tmp_path / "s.zarr").load()
    assert ds.y.sel(work=0.0).item() == 9.0
    assert ds.error.sel(work=60.0).item().startswith("PointTimeout: the point ran longer than timeout = 4 s")
    failing = build_spec("probe", {"x": "1,2"}, {}, {"fail_at": "2"}, 1, 0, "f")  # errors still come back whole
    run_sweep(failing, tmp_path / "f.zarr", ClusterOptions(kind="sync"), progress=False, timeout=30.0)
    error = xr.open_zarr(tmp_path / "f.zarr").load().error.sel(x=2.0).item()
    assert error.startswith("RuntimeError: probe asked to fail at x = 2") and "Traceback" in error


def _wait(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def test_a_second_ctrl_c_exits_at_once_without_tracebacks_and_the_sweep_resumes(tmp_path):
    """Before: a second Ctrl-C while the cluster closed printed walls of tracebacks."""
    args = ["run", "probe", "--x", "0:1:6", "--set", "work=2", "--out", "s.zarr", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: (tmp_path / "s.zarr" / "status").exists())
    time.sleep(2.0)  # workers are up and busy
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - start < 5
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "stopping at once (a second stop signal)" in " ".join(stderr.split())
    assert not (tmp_path / "s.zarr" / lock.LOCK_NAME).exists()
    assert subprocess.run([*CLI, *args[:-4], "--cluster", "sync", "--set", "work=0", "--out", "s.zarr"],
                          cwd=tmp_path, capture_output=True, timeout=120).returncode == 2  # another spec: refused
    again = subprocess.run([*CLI, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


SPINNER = """
import os, pathlib, sys
from numba import njit
from epmsweep.cli import app
from epmsweep.model.core import Field, Model, Output, OutputSpec, register

@njit(nogil=True)
def spin(n):
    x = 0.0
    for i in range(n):
        x = x * 0.999999999 + 1e-9
    return x

@register
class Spinner(Model):
    name = "spinner"
    description = "one compiled loop of about a minute"
    parameters = {"x": Field(0.0, "unused", "1")}
    settings = {}

    def outputs(self, settings):
        return OutputSpec({"y": Output((), "float64", "1", "the loop's result")})

    def _run(self, params, settings, rng):
        spin(10)
        pathlib.Path(os.environ["IN_KERNEL"]).touch()
        return {"y": spin(10**11)}

sys.argv = ["epmsweep", "run", "spinner", "--x", "1", "--cluster", "sync", "--no-progress", "--out", "s.zarr"]
app()
"""


def test_ctrl_c_stops_an_in_process_sweep_while_a_compiled_kernel_runs(tmp_path):
    """--cluster sync, one Ctrl-C while a compiled loop of a minute holds the main thread: the
    process exits within the grace time (before: only once the kernel returned, which for
    large points meant minutes and a SIGKILL)."""
    marker = tmp_path / "in-kernel"
    proc = subprocess.Popen([sys.executable, "-c", SPINNER], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "IN_KERNEL": str(marker)})
    try:
        _wait(marker.exists)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - start < stopping.GRACE_SECONDS + 3
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "did not stop within" in " ".join(stderr.split())
    assert not (tmp_path / "s.zarr" / lock.LOCK_NAME).exists()


def test_every_compiled_kernel_of_the_package_releases_the_gil():
    """What lets the stop watchdog run while a kernel holds the main thread."""
    import importlib
    import pkgutil

    import numba

    import epmsweep

    kernels = []
    for info in pkgutil.walk_packages(epmsweep.__path__, "epmsweep."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == info.name:
                kernels.append((info.name, name, obj.targetoptions))
    assert len(kernels) > 20
    held = [(m, n) for m, n, options in kernels if options.get("inline") != "always" and not options.get("nogil")]
    assert not held


def test_kernel_cache_keys_cover_the_source_of_the_numerics(tmp_path):
    """numba keys a cache by the kernel's own file: the event engine's cached ``advance`` would
    keep running a model's old ``relax`` overload after that model's module changed (it did,
    while this was written: a stale overload counted drops in the wrong slot and the run never
    ended). The key now carries a hash of every source file of ``epmsweep.model``, which changes
    with any file's content."""
    import shutil

    from epmsweep.model import events
    from epmsweep.model.jit import source_hash

    for version, text in (("v1", "x = 1\n"), ("v2", "x = 2\n")):
        (tmp_path / version / "sub").mkdir(parents=True)
        (tmp_path / version / "sub" / "a.py").write_text(text)
        shutil.copy(__file__, tmp_path / version / "b.py")
    assert source_hash(tmp_path / "v1") != source_hash(tmp_path / "v2")
    key = events.advance._cache._index_key((), events.advance.targetctx.codegen())
    assert key[-1] == source_hash()

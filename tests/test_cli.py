"""The command line end to end, as a user runs it: subprocesses, kills, exit codes."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import xarray as xr

from epmsweep.sweep import store

CLI = [sys.executable, "-m", "epmsweep"]
ENV = {**os.environ, "COLUMNS": "200"}  # wide tables, so table cells are not wrapped


def epmsweep(*args, cwd, timeout=120):
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)


def wait_for(condition, timeout=60.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every)
    raise TimeoutError("condition not reached")


def done_count(path: Path) -> int:
    try:
        return int((store.read_status(path) == store.DONE).sum())
    except Exception:
        return 0


def outputs_bytes(path: Path, names=("y", "samples", "count")) -> dict:
    ds = xr.open_zarr(path).load()
    return {n: ds[n].values.tobytes() for n in names}


# ---- help, models, show, status --------------------------------------------
HEAVY = ("dask", "distributed", "xarray", "zarr", "numba", "scipy", "matplotlib", "pandas")


def test_help_and_version_import_nothing_heavy(tmp_path):
    """`--help` took ~3 s (dask, xarray, zarr imported eagerly); now the command line imports
    them only in the commands that use them (measured: 0.3 s for --help on 2 cores)."""
    probe = ("import sys\nfrom epmsweep.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (HEAVY,))
    for args in (["--help"], ["run", "--help"], ["--version"], ["-h"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "[]", (args, result.stdout[-300:])
    # before: completion disabled. The shell is detected from the calling process (a user's
    # shell), so it is called from bash here, not from whatever runs the tests ("; true": no exec)
    command = " ".join(map(shlex.quote, [*CLI, "--show-completion"])) + "; true"
    completion = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                env=ENV)
    assert completion.returncode == 0 and "complete " in completion.stdout and "epmsweep" in completion.stdout, (
        completion.stderr)
def test_every_command_has_help_with_examples(tmp_path):
    for command in ("run", "status", "show", "models"):
        result = epmsweep(command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Example" in result.stdout, command


def test_models_lists_parameters_bounds_units_and_meanings(tmp_path):
    result = epmsweep("models", cwd=tmp_path)
    assert result.returncode == 0
    for piece in ("meanfield", "meanfield-fp", "probe", "alpha", "stress^2", "(0, inf)", "temperature"):
        assert piece in result.stdout, piece


# ---- bad input: exit 2 within seconds, nothing written or changed -----------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--T", "0.1"], "unknown model 'nosuch'"),
        (["meanfield", "--Q", "0.1"], "axis Q: not a parameter"),
        (["meanfield", "--T", "-1"], "T = -1"),
        (["meanfield", "--T", ""], "axis T: empty"),
        (["meanfield", "--T", "0.1:1:x"], "cannot parse range"),
        (["meanfield", "--T", "0.1", "--set", "zeta=1"], "'zeta' is neither a parameter nor a setting"),
        (["probe", "--x", "0:1:3000000"], "3,000,000 points (3000000 values of x, 1 replicas), more than the limit "
                                          "of 1,000,000; pass --max-points 3000000"),
    ],
)
def test_bad_input_exits_2_fast_and_writes_nothing(tmp_path, args, message):
    start = time.monotonic()
    result = epmsweep("run", *args, "--out", "s.zarr", cwd=tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split()), result.stderr
    assert time.monotonic() - start < 20
    assert not (tmp_path / "s.zarr").exists()


def test_existing_file_or_other_sweep_is_refused_unchanged(tmp_path):
    (tmp_path / "f.zarr").write_text("not a store")
    result = epmsweep("run", "probe", "--x", "1,2", "--out", "f.zarr", "--cluster", "sync", cwd=tmp_path)
    assert result.returncode == 2 and "existing file" in result.stderr
    assert (tmp_path / "f.zarr").read_text() == "not a store"

    assert epmsweep("run", "probe", "--x", "1,2", "--out", "s.zarr", "--cluster", "sync", cwd=tmp_path).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "s.zarr").rglob("*")}
    result = epmsweep("run", "probe", "--x", "1,3", "--out", "s.zarr", "--cluster", "sync", cwd=tmp_path)
    assert result.returncode == 2 and "different sweep" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "s.zarr").rglob("*")} == before
    result = epmsweep("run", "probe", "--x", "1,3", "--out", "s.zarr", "--cluster", "sync", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0


# ---- failures ----------------------------------------------------------------
def test_failing_point_gives_exit_1_and_status_lists_it(tmp_path):
    args = ["run", "probe", "--x", "0,1,2,3", "--set", "fail_at=1", "--out", "s.zarr", "--workers", "2", "--no-progress"]
    result = epmsweep(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    status = epmsweep("status", "s.zarr", cwd=tmp_path)
    assert status.returncode == 1
    assert "done 3" in status.stdout and "failed 1" in status.stdout
    assert "RuntimeError: probe asked to fail at x = 1" in status.stdout
    rerun = epmsweep(*args, cwd=tmp_path)
    assert "resuming, 3 of 4 points done, 1 to run" in " ".join(rerun.stderr.split())
    assert rerun.returncode == 1


# ---- kills -------------------------------------------------------------------
def test_sigkill_half_way_then_rerun_completes_bitwise_equal(tmp_path):
    """Kill the whole client (SIGKILL to its process group) half-way; the same command
    resumes with only the remaining points; the result equals, bit for bit, an
    uninterrupted run and a run with another number of workers (both with work = 0: a point's
    seed depends only on the swept values, and the batches are then cut differently)."""
    args = ["run", "probe", "--x", "0:1:16", "--replicas", "2", "--set", "work=0.25", "--set", "k_samples=5",
            "--seed", "11", "--out", "s.zarr", "--workers", "2", "--no-progress"]
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: done_count(path) >= 10, timeout=90)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = store.read_status(path) == store.DONE
    n_before = int(done_before.sum())
    assert 10 <= n_before < 32
    walls_before = xr.open_zarr(path).wall_seconds.values[done_before]

    rerun = epmsweep(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming, {n_before} of 32 points done, {32 - n_before} to run" in " ".join(rerun.stderr.split())
    after = xr.open_zarr(path)
    np.testing.assert_array_equal(after.wall_seconds.values[done_before], walls_before)  # not rerun
    assert (after.status == 1).all()

    args = [a if a != "work=0.25" else "work=0" for a in args]
    clean = [a if a != "s.zarr" else "clean.zarr" for a in args]
    assert epmsweep(*clean, cwd=tmp_path).returncode == 0
    one = [a if a != "s.zarr" else "one.zarr" for a in args]
    one[one.index("--workers"):one.index("--workers") + 2] = ["--cluster", "sync"]  # one point at a time, here
    assert epmsweep(*one, cwd=tmp_path).returncode == 0
    resumed = outputs_bytes(path)
    assert resumed == outputs_bytes(tmp_path / "clean.zarr")
    assert resumed == outputs_bytes(tmp_path / "one.zarr")


def test_worker_killed_mid_task_its_point_runs_elsewhere(tmp_path):
    args = ["run", "probe", "--x", "0:1:8", "--set", "work=1.0", "--out", "s.zarr", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = psutil.Process(proc.pid)

    def workers():
        return [c for c in client.children() if "spawn_main" in " ".join(c.cmdline())]

    wait_for(lambda: len(workers()) == 2 and done_count(tmp_path / "s.zarr") >= 1, timeout=90)
    time.sleep(0.5)  # both workers are now half-way through a 1-s point
    victim = workers()[0]
    victim.send_signal(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    ds = xr.open_zarr(tmp_path / "s.zarr")
    assert (ds.status == 1).all()
    assert ds.y.values.ravel().tolist() == pytest.approx([x * x for x in np.linspace(0, 1, 8)])


@pytest.mark.parametrize(("sig", "code", "where"), [(signal.SIGINT, 130, ["--workers", "2", "--set", "work=0.5"]),
                                                   (signal.SIGTERM, 143, ["--cluster", "sync", "--set", "work=0.3"]),
                                                   (signal.SIGHUP, 129, ["--cluster", "sync", "--set", "work=0.3"])])
def test_ctrl_c_sigterm_and_sighup_stop_cleanly_and_the_same_command_resumes(tmp_path, sig, code, where):
    """Batch systems stop jobs with SIGTERM, a closed terminal sends SIGHUP: both act as
    Ctrl-C (before: killed with no message, exit -15 / -1). The signals are handled in the
    command's own process: SIGINT with a local cluster to stop, the others in-process."""
    args = ["run", "probe", "--x", "0:1:12", "--out", "s.zarr", *where, "--no-progress"]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: done_count(tmp_path / "s.zarr") >= 2, timeout=90)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "run the same command again to resume" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    if sig != signal.SIGINT:
        assert f"stopped by {sig.name}" in stderr
    status = store.read_status(tmp_path / "s.zarr")
    assert set(np.unique(status)) <= {store.PENDING, store.DONE} and (status == store.PENDING).any()
    assert epmsweep(*args, cwd=tmp_path).returncode == 0
    assert (store.read_status(tmp_path / "s.zarr") == store.DONE).all()


# ---- plain xarray -------------------------------------------------------------
READER = """
import sys, xarray as xr
ds = xr.open_zarr(sys.argv[1])
v = ds.y.sel(x=0.5, method="nearest").sel(replica=0)
assert "epmsweep" not in sys.modules
print(float(v), ds.y.attrs["units"], int((ds.status == 1).sum()))
"""


def test_store_opens_with_plain_xarray_while_running_and_after(tmp_path):
    args = ["run", "probe", "--x", "0:1:21", "--set", "work=0.5", "--out", "s.zarr", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: 1 <= done_count(tmp_path / "s.zarr"), timeout=90)
    during = subprocess.run([sys.executable, "-c", READER, "s.zarr"], cwd=tmp_path, capture_output=True, text=True)
    assert during.returncode == 0, during.stderr
    assert int(during.stdout.split()[-1]) < 21  # read while the sweep was still going
    proc.communicate(timeout=120)
    after = subprocess.run([sys.executable, "-c", READER, "s.zarr"], cwd=tmp_path, capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
    value, units, done = after.stdout.split()
    assert float(value) == pytest.approx(0.25) and units == "1" and int(done) == 21


def test_meanfield_store_selects_by_physical_coordinates(tmp_path):
    result = epmsweep("run", "meanfield", "--T", "0.2,0.5", "--alpha", "0.05,0.11", "--replicas", "2", "--set", "N=50",
                      "--set", "duration=20", "--out", "m.zarr", "--cluster", "sync", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "store:" in result.stdout and "m.zarr" in result.stdout
    ds = xr.open_zarr(tmp_path / "m.zarr")
    g = ds.gamma.sel(T=0.5, alpha=0.11).mean("replica")
    assert 0.3 < float(g) < 0.8
    assert ds.gamma.attrs["reduced_units"] == "1/time" and ds.T.attrs["reduced_units"] == "energy"
    assert ds.p_sigma.sel(T=0.2, alpha=0.05, replica=0).sizes == {"sigma": 60}
    assert json.loads(ds.attrs["spec"])["parameters"]["N"] == 50
    shown = epmsweep("show", "m.zarr", cwd=tmp_path)
    assert shown.returncode == 0 and "gamma" in shown.stdout and "1/time" in shown.stdout

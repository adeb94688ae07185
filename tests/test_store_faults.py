"""The store under faults: one writer at a time, damage found and run again, atomic
creation, readers that see only finished points, kills at random moments."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import xarray as xr
from rich.console import Console

import epmsweep
from epmsweep.sweep import lock, runner, shards, store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

CLI = [sys.executable, "-m", "epmsweep"]
SYNC = ClusterOptions(kind="sync")
COMPARED = ("y", "samples", "count", "status", "seed")


def probe_spec(n=24, work=0.0, k=4, name="sweep"):
    return build_spec("probe", {"x": f"0:1:{n}"}, {"work": work}, {"k_samples": k}, 2, 5, name)


def contents(path) -> dict[str, bytes]:
    """The bytes of every result and of the bookkeeping that must not depend on how the run went."""
    ds = xr.open_zarr(path).load()
    return {name: ds[name].values.tobytes() for name in COMPARED}


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def files(path) -> list:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*") if p.name != lock.LOCK_NAME)


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of at most 8 points, so that a small sweep has several shards."""
    monkeypatch.setattr(shards, "MAX_BATCH_POINTS", 8)


# ---- one writer -------------------------------------------------------------------
def test_a_store_held_by_a_running_process_refuses_every_other_run_and_changes_nothing(tmp_path):
    """Before: no lock; a second run of the same spec did the work twice, one of another
    spec could label the store with one spec and the other's values, and --overwrite
    destroyed a store being written."""
    path = tmp_path / "s.zarr"
    run_sweep(probe_spec(), path, SYNC, progress=False, console=quiet())
    before = files(path)
    lock.acquire(path)  # held by this (running) process
    try:
        for spec, overwrite in ((probe_spec(), False), (probe_spec(n=6), False), (probe_spec(n=6), True)):
            with pytest.raises(lock.StoreLocked, match=f"in use by another run \\(process {os.getpid()} on host"):
                run_sweep(spec, path, SYNC, overwrite, progress=False, console=quiet())
        cli = subprocess.run([*CLI, "run", "probe", "--x", "0:1:6", "--out", str(path), "--overwrite", "--cluster",
                              "sync"], capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2 and "in use by another run" in " ".join(cli.stderr.split())
        assert "Traceback" not in cli.stderr
    finally:
        lock.release(path)
    assert files(path) == before


@pytest.mark.parametrize("start", ["dead", "reused"])
def test_a_lock_left_by_a_process_that_is_gone_is_taken_over_with_a_message(tmp_path, start):
    """A killed run leaves its lock; the next run on the same host sees that the process is
    gone (no such pid, or the pid now belongs to a process started at another time) and
    takes the lock over, saying so."""
    path = tmp_path / "s.zarr"
    run_sweep(probe_spec(), path, SYNC, progress=False, console=quiet())
    if start == "dead":
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        holder = lock.Holder(socket.gethostname(), gone.pid, "1", "2026-01-01T00:00:00+00:00")
    else:
        holder = lock.Holder(socket.gethostname(), os.getpid(), "0", "2026-01-01T00:00:00+00:00")
    (path / lock.LOCK_NAME).write_text(json.dumps(holder.__dict__))
    console = quiet()
    outcome = run_sweep(probe_spec(), path, SYNC, progress=False, console=console)
    assert outcome.done == outcome.total
    assert f"took over the lock of process {holder.pid}" in console.file.getvalue()
    assert not (path / lock.LOCK_NAME).exists()


def test_a_lock_from_another_host_is_respected_and_the_message_says_how_to_clear_it(tmp_path):
    path = tmp_path / "s.zarr"
    run_sweep(probe_spec(), path, SYNC, progress=False, console=quiet())
    holder = lock.Holder("elsewhere.example", 4242, "7", "2026-01-01T00:00:00+00:00")
    (path / lock.LOCK_NAME).write_text(json.dumps(holder.__dict__))
    with pytest.raises(lock.StoreLocked, match="process 4242 on host 'elsewhere.example'.*delete"):
        run_sweep(probe_spec(), path, SYNC, progress=False, console=quiet())


def test_two_runs_of_different_sweeps_started_together_on_one_new_path(tmp_path):
    """Exactly one wins; the other is refused (exit 2) and the store holds the winner's spec
    and values (before: both exited 0, the store labelled with one spec and holding the other's)."""
    common = ["--set", "work=0.05", "--out", "s.zarr", "--cluster", "sync", "--no-progress"]
    runs = [subprocess.Popen([*CLI, "run", "probe", "--x", xs, *common], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for xs in ("0:1:12", "2:3:10")]
    errors = [p.communicate(timeout=120)[1] for p in runs]
    assert sorted(p.returncode for p in runs) == [0, 2], errors
    assert any("in use by another run" in " ".join(e.split()) or "at the same moment" in e for e in errors)
    ds = xr.open_zarr(tmp_path / "s.zarr")
    spec = store.read_spec(tmp_path / "s.zarr")
    assert ds.x.values.tolist() == spec.axes["x"] and (ds.status == 1).all()
    np.testing.assert_array_equal(ds.y.values[:, 0], ds.x.values**2)


# ---- damage -----------------------------------------------------------------------
def _shard_files(path, name):
    return sorted(p for p in (path / name / "c").rglob("*") if p.is_file())


def test_damaged_chunks_are_reported_by_verify_and_status_and_run_again_on_resume(tmp_path, small_batches):
    """A deleted output shard, a flipped byte, a truncated output shard and a truncated status
    shard (before: read as NaN / inf with status done; resume crashed or reported nothing
    to run; every command crashed on the truncated status chunk)."""
    spec = probe_spec()
    clean, path = tmp_path / "clean.zarr", tmp_path / "s.zarr"
    for p in (clean, path):
        run_sweep(spec, p, SYNC, progress=False, console=quiet())
    assert len(_shard_files(path, "y")) == 6  # 48 points in batches of 8
    _shard_files(path, "y")[0].unlink()
    flipped = _shard_files(path, "samples")[1]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 3] ^= 0x40
    flipped.write_bytes(bytes(data))
    for name, k in (("count", 2), ("status", 3)):
        victim = _shard_files(path, name)[k]
        victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])

    report = store.verify(path)
    assert report["unreadable"] == 8 and report["damaged"] == 24  # 3 output shards of 8 done points
    status = subprocess.run([*CLI, "status", str(path)], capture_output=True, text=True, timeout=120)
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert "8 points with an unreadable status" in " ".join(status.stdout.split())
    show = subprocess.run([*CLI, "show", str(path)], capture_output=True, text=True, timeout=120)
    assert show.returncode == 0 and "Traceback" not in show.stderr
    verify = subprocess.run([*CLI, "verify", str(path)], capture_output=True, text=True, timeout=120)
    assert verify.returncode == 1 and "32 points damaged" in " ".join(verify.stdout.split()), verify.stdout

    console = quiet()
    outcome = run_sweep(spec, path, SYNC, progress=False, console=console)
    assert outcome.ran == 32 and outcome.done == 48
    assert "32 points have damaged or unreadable results" in " ".join(console.file.getvalue().split())
    assert contents(path) == contents(clean)
    assert store.verify(path)["damaged"] == 0


# ---- creation ---------------------------------------------------------------------
def test_a_creation_killed_half_way_leaves_nothing_at_the_path_and_its_leftover_is_cleared(tmp_path):
    """Before: a kill -9 during creation left a path that neither resume nor --overwrite accepted."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    leftover = tmp_path / f".s.zarr.epmsweep-staging-{socket.gethostname()}-{gone.pid}-0badc0de"
    leftover.mkdir()
    (leftover / "zarr.json").write_text("{")  # half-written
    outcome = run_sweep(probe_spec(), tmp_path / "s.zarr", SYNC, progress=False, console=quiet())
    assert outcome.done == outcome.total and not leftover.exists()


def test_kill_9_at_random_moments_always_resumes_to_the_uninterrupted_result(tmp_path):
    """Ten runs killed with SIGKILL (three while the store is being created, seven at a random
    moment of the run), each resumed: every store equals, byte for byte, an uninterrupted run."""
    spec = probe_spec(n=60, work=0.005)
    reference = tmp_path / "reference.zarr"
    run_sweep(spec, reference, SYNC, progress=False, console=quiet())
    expected = contents(reference)
    rng = np.random.default_rng(2026)
    args = ["run", "probe", "--x", "0:1:60", "--replicas", "2", "--seed", "5", "--set", "work=0.005", "--set",
            "k_samples=4", "--cluster", "sync", "--no-progress"]
    stages = []
    for trial in range(10):
        path = tmp_path / f"t{trial}.zarr"
        proc = subprocess.Popen([*CLI, *args, "--out", path.name], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 60
        while time.monotonic() < end and not path.exists() and not any(tmp_path.glob(f".{path.name}.epmsweep-*")):
            time.sleep(0.001)
        if trial >= 3:
            time.sleep(rng.uniform(0.0, 1.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stages.append("none" if not path.exists() else int((store.read_status(path) == store.DONE).sum()))
        outcome = run_sweep(spec, path, SYNC, progress=False, console=quiet())
        assert outcome.done == spec.n_points, (trial, stages)
        assert contents(path) == expected, (trial, stages)
        assert not list(tmp_path.glob(f".{path.name}.epmsweep-*"))
    assert "none" in stages and any(isinstance(s, int) and s > 0 for s in stages), stages


# ---- readers ----------------------------------------------------------------------
def test_readers_of_a_running_sweep_never_see_a_done_point_without_its_results(tmp_path, monkeypatch):
    """open_store, and the README's plain-xarray recipe (status first, then outputs), read a
    store while a batch rewrites it after every point (before: 4 of 32 loads saw a done
    point with NaN outputs)."""
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.0)
    spec = probe_spec(n=60, work=0.001)
    path = tmp_path / "s.zarr"
    writer = threading.Thread(target=run_sweep, args=(spec, path, SYNC), kwargs={"progress": False, "console": quiet()})
    writer.start()
    partial = 0
    try:
        while writer.is_alive():
            if not (path / "zarr.json").exists():
                time.sleep(0.01)
                continue
            ds = store.open_store(path)
            done = ds.status.values == store.DONE
            assert np.isfinite(ds.y.values[done]).all() and np.isfinite(ds.samples.values[done]).all()
            assert np.isnan(ds.y.values[~done]).all()
            plain = xr.open_zarr(path)
            done_plain = plain.status.load() == store.DONE
            y = plain.y.where(done_plain).load()
            assert np.isfinite(y.values[done_plain.values]).all()
            partial += 0 < done.sum() < spec.n_points
    finally:
        writer.join()
    assert partial >= 3


def test_replacing_a_store_with_other_output_shapes_on_a_running_scheduler(tmp_path):
    """The workers of a cluster that outlives one sweep (--scheduler) write the replaced store
    with its own shapes (before: they kept the old store's metadata and failed with
    'cannot reshape array of size 3 into shape (1,1,5)')."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") as cl:
        options = ClusterOptions(scheduler=cl.scheduler_address, dashboard=False)
        path = tmp_path / "s.zarr"
        for k in (3, 5):
            outcome = run_sweep(probe_spec(n=6, k=k), path, options, overwrite=True, progress=False, console=quiet())
            assert outcome.done == outcome.total
    ds = xr.open_zarr(path)
    assert ds.samples.shape == (6, 2, 5) and np.isfinite(ds.samples.values).all()


def test_the_readme_query_example_runs_on_a_store_with_plain_xarray(tmp_path, monkeypatch):
    """The first Python block of the README, as printed there, on a small quickstart store."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "xr.open_zarr(\"quickstart.zarr\")" in example
    spec = build_spec("meanfield", {"T": "0.05,0.2", "alpha": "0.11"}, {"N": 20},
                      {"burn_in": 2, "duration": 10, "n_windows": 4, "p_sigma_bins": 12}, 2, 3, "quickstart")
    monkeypatch.chdir(tmp_path)
    run_sweep(spec, "quickstart.zarr", SYNC, progress=False, console=quiet())
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    np.testing.assert_allclose(namespace["gamma"].values, xr.open_zarr("quickstart.zarr").gamma.sel(alpha=0.11)
                               .mean("replica").values)
    masked = epmsweep.open_store("quickstart.zarr")
    assert (masked.status == 1).all() and np.isfinite(masked.gamma).all()


def test_the_progress_bar_prints_a_sweep_name_with_brackets_as_is(tmp_path):
    """The bar's label is user text (model and sweep name): never rich markup."""
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    outcome = run_sweep(probe_spec(name="[bold]x[red]"), tmp_path / "s.zarr", SYNC, progress=True, console=terminal)
    assert outcome.done == outcome.total and "probe [bold]x[red]" in terminal.file.getvalue()

"""Annealing chains: each point of a chain starts from the previous point's final state (the
T values from high to low); the state is stored per point, so a chain killed in the middle
resumes bitwise as if it had never stopped; annealed and independent points agree."""

import math
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

from epmsweep.model import InvalidInput, get_model
from epmsweep.sweep import store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import _Batches, _sequences, run_sweep
from epmsweep.sweep.store import new_geometry
from epmsweep.sweep.spec import build_spec, load_spec_file

LATTICE = get_model("lattice")
SHORT = {"burn_in": 20.0, "duration": 20.0, "n_tracers": 10, "q_modes": 4, "lag_levels": 2, "n_probes": 16}


def _annealed(path, replicas=2, cluster=ClusterOptions(kind="sync")):
    spec = build_spec("lattice", {"T": "0.1,0.15,0.2"}, {"L": 16}, SHORT, replicas, 9, "chain", anneal="T")
    outcome = run_sweep(spec, path, cluster, progress=False)
    assert outcome.done == spec.n_points
    return spec


def test_chains_run_the_annealed_axis_from_high_to_low():
    spec = build_spec("lattice", {"eps0": "0.5,1", "T": "0.1,0.2,0.15"}, {"L": 16}, SHORT, 2, 9, "c", anneal="T")
    geometry = new_geometry(spec)
    assert geometry.shard[1] == 3  # a batch holds whole chains
    runs = _sequences(spec, tuple(slice(0, n) for n in geometry.grid), np.arange(spec.n_points))
    assert len(runs) == 2 * 2  # eps0 values x replicas
    for run in runs:
        assert [spec.axes["T"][p[1]] for p in run] == [0.2, 0.15, 0.1]
        assert len({(p[0], p[2]) for p in run}) == 1
    todo = np.zeros(geometry.grid, dtype=bool)
    todo[0, 2, 0] = True  # T = 0.15 of one chain must run again: so must T = 0.1 after it, not T = 0.2
    assert _Batches(spec, geometry, todo).todo[0, :, 0].tolist() == [True, False, True]


def test_each_point_starts_from_the_previous_points_final_state(tmp_path):
    """The stored state of the T = 0.2 point, handed to T = 0.15 by hand, reproduces the
    chain's T = 0.15 point bitwise; started cold instead, the point differs."""
    spec = _annealed(tmp_path / "a.zarr", replicas=1)
    ds = xr.open_zarr(tmp_path / "a.zarr")
    first = ds.sel(T=0.2, replica=0)
    state = {name: first[f"state_{name}"].values for name in ("sigma", "active", "sign")}
    params = {**spec.parameters, "T": 0.15}
    seed = int(ds.seed.sel(T=0.15, replica=0))
    again = LATTICE.run(params, spec.settings, seed, start=state)
    stored = ds.sel(T=0.15, replica=0)
    for name, value in again.items():
        np.testing.assert_array_equal(value, stored[name].values, err_msg=name)
    cold = LATTICE.run(params, spec.settings, seed)
    assert cold["events"] != int(stored["events"])


def test_a_chain_killed_in_the_middle_resumes_bitwise(tmp_path):
    """A run killed after the first point of each chain leaves the later points pending
    (status is written last); the same command then continues each chain from the stored
    state of its last done point, and every output and state equals the uninterrupted run
    (made on a local cluster of two workers: chains are tasks there)."""
    whole = tmp_path / "whole.zarr"
    _annealed(whole, cluster=ClusterOptions(kind="local", workers=2, dashboard=False))
    killed = tmp_path / "killed.zarr"
    spec = _annealed(killed)
    status = zarr.open_array(killed / "status", mode="r+")
    t_index = {t: i for i, t in enumerate(spec.axes["T"])}
    for t in (0.15, 0.1):  # the chain runs 0.2, 0.15, 0.1: keep only its first point
        status[t_index[t], :] = store.PENDING
    outcome = run_sweep(spec, killed, ClusterOptions(kind="sync"), progress=False)
    assert outcome.ran == 4 and outcome.done == 6
    a, b = xr.open_zarr(whole).load(), xr.open_zarr(killed).load()
    for name in a.data_vars:
        if name not in ("wall_seconds", "host"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_annealed_and_independent_points_agree():
    """L = 32, auto run lengths (target 2%): the activity at T = 0.2, 0.1, 0.07 from an
    annealed chain and from independent cold starts agree within 3.5 standard errors of
    their difference (errors from each point's batch means)."""
    settings = {"n_tracers": 0, "target_rel_err": 0.02}
    T = (0.2, 0.1, 0.07)
    params = {"L": 32}
    state = None
    for k, t in enumerate(T):
        annealed, state = LATTICE.run({**params, "T": t}, settings, seed=10 + k, start=state, hand_over=True)
        independent = LATTICE.run({**params, "T": t}, settings, seed=20 + k)
        assert annealed["stationary"] == 1 and independent["stationary"] == 1
        err = math.hypot(annealed["activity_err"], independent["activity_err"])
        assert abs(annealed["activity"] - independent["activity"]) < 3.5 * err, t


def test_anneal_is_refused_where_it_cannot_work(tmp_path):
    with pytest.raises(InvalidInput, match="anneal: 'alpha' is not an axis"):
        build_spec("lattice", {"T": "0.1,0.2"}, {"L": 16}, SHORT, anneal="alpha")
    with pytest.raises(InvalidInput, match="cannot start from a given state"):
        build_spec("meanfield", {"T": "0.1,0.2"}, {}, {}, anneal="T")
    with pytest.raises(InvalidInput, match="L"):
        build_spec("lattice", {"T": "0.1,0.2", "L": "16,32"}, {}, SHORT, anneal="T")
    with pytest.raises(InvalidInput, match="cannot start from a given state"):
        build_spec("lattice", {"T": "0.1,0.2"}, {"L": 16}, {**SHORT, "rules": "baron-biroli"}, anneal="T")


def test_anneal_from_a_spec_file_and_the_command_line(tmp_path):
    f = tmp_path / "a.toml"
    f.write_text('model = "lattice"\nanneal = "T"\n[axes]\nT = [0.1, 0.2]\n[parameters]\nL = 16\n[settings]\nq_modes = 4\n')
    assert load_spec_file(f).anneal == "T"
    args = ["run", "lattice", "--T", "0.15,0.3", "--anneal", "T", "--set", "L=16", "--set", "burn_in=5",
            "--set", "duration=10", "--set", "n_tracers=0", "--set", "q_modes=4", "--cluster", "sync", "--out", "c.zarr"]
    result = subprocess.run([sys.executable, "-m", "epmsweep", *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    ds = xr.open_zarr(tmp_path / "c.zarr")
    assert store.read_spec(tmp_path / "c.zarr").anneal == "T" and "state_sigma" in ds
    plain = [a for a in args if a not in ("--anneal", "T")]
    refused = subprocess.run([sys.executable, "-m", "epmsweep", *plain], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "anneal: store 'T', now None" in " ".join(refused.stderr.split())

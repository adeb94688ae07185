"""Store layout, refusal of bad output paths, concurrent writers and determinism across workers."""

import json
import socket

import numpy as np
import pytest
import xarray as xr
import zarr

from epmsweep.model import InvalidInput, get_model
from epmsweep.sweep import store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.plan import expand
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

TINY = {"N": 20}
TINY_SETTINGS = {"burn_in": 2, "duration": 10, "n_windows": 4, "p_sigma_bins": 12}


def prepare(path, spec, overwrite=False):
    """Create or accept the store as a run would, without running: whether it was created."""
    with store.claim(path, spec, overwrite) as (created, _, _):
        return created


def tiny_spec(T="0.1,0.3", alpha="0.05,0.11", replicas=2, seed=1):
    return build_spec("meanfield", {"T": T, "alpha": alpha}, TINY, TINY_SETTINGS, replicas, seed, "tiny")


def test_layout_dims_chunks_fill_values_and_attributes(tmp_path):
    spec = tiny_spec()
    path = tmp_path / "s.zarr"
    assert prepare(path, spec)
    group = zarr.open_group(path, mode="r")
    assert group["gamma"].shards == (2, 2, 2)  # cheap points: one batch, one file per variable
    assert group["p_sigma"].shards == (2, 2, 2, 12) and group["p_sigma"].chunks[3] == 12
    assert any(type(c).__name__ == "Crc32cCodec" for c in group["gamma"].compressors)
    assert np.isnan(group["gamma"].fill_value) and group["status"].fill_value == 0
    assert group["events"].fill_value == np.iinfo(np.int64).min
    ds = xr.open_zarr(path)
    assert ds.gamma.dims == ("T", "alpha", "replica")
    assert ds.p_sigma.dims == ("T", "alpha", "replica", "sigma")
    for name in ("T", "alpha", "replica", "sigma", "window", "gamma", "p_sigma", "events", "status", "seed", "wall_seconds"):
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"], name
    assert (ds.status == store.PENDING).all()
    assert np.isnan(ds.gamma).all() and np.isnan(ds.events).all()  # no data yet: fill values, masked
    assert json.loads(ds.attrs["spec"])["axes"] == {"T": [0.1, 0.3], "alpha": [0.05, 0.11]}
    assert ds.attrs["model"] == "meanfield" and ds.attrs["epmsweep_version"] and ds.attrs["created"]
    expected = np.array([p.seed for p in expand(spec)], dtype=np.uint64).reshape(2, 2, 2)
    np.testing.assert_array_equal(ds.seed.values, expected)


def test_prepare_refuses_files_foreign_directories_and_other_specs(tmp_path):
    spec = tiny_spec()
    a_file = tmp_path / "f.zarr"
    a_file.write_text("precious")
    with pytest.raises(InvalidInput, match="existing file"):
        prepare(a_file, spec, overwrite=True)
    assert a_file.read_text() == "precious"
    foreign = tmp_path / "d"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(InvalidInput, match="not a Zarr store"):
        prepare(foreign, spec, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep"

    path = tmp_path / "s.zarr"
    prepare(path, spec)
    before = sorted((p.relative_to(path), p.stat().st_mtime_ns) for p in path.rglob("*"))
    with pytest.raises(InvalidInput, match=r"different sweep \(axes.T: store \[0.1, 0.3\], now \[0.1, 0.4\]\)"):
        prepare(path, tiny_spec(T="0.1,0.4"))
    assert sorted((p.relative_to(path), p.stat().st_mtime_ns) for p in path.rglob("*")) == before
    assert not prepare(path, tiny_spec())  # same spec: resume
    assert prepare(path, tiny_spec(T="0.1,0.4"), overwrite=True)
    assert xr.open_zarr(path).T.values.tolist() == [0.1, 0.4]


def test_overwrite_keeps_the_directory_and_its_permissions_and_never_deletes_the_working_directory(tmp_path,
                                                                                                  monkeypatch):
    """A private (0700) output directory stays private when the store is created in it and
    when --overwrite replaces the store (before: recreated 0755); --overwrite run from
    inside the store is refused and deletes nothing (before: it emptied the current
    directory, then failed)."""
    path = tmp_path / "s.zarr"
    path.mkdir(mode=0o700)
    prepare(path, tiny_spec())
    assert path.stat().st_mode & 0o777 == 0o700
    prepare(path, tiny_spec(T="0.1,0.4"), overwrite=True)
    assert path.stat().st_mode & 0o777 == 0o700 and xr.open_zarr(path).T.values.tolist() == [0.1, 0.4]
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    monkeypatch.chdir(path / "status")
    with pytest.raises(InvalidInput, match="holds the current directory"):
        prepare(path, tiny_spec(), overwrite=True)
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before


def test_failed_point_is_recorded_and_rerun_retries_only_failures(tmp_path):
    spec = build_spec("probe", {"x": "0,1,2,3"}, {}, {"fail_at": "2"}, 1, 0, "p")
    path = tmp_path / "p.zarr"
    first = run_sweep(spec, path, ClusterOptions(kind="sync"), progress=False)
    assert (first.done, first.failed, first.pending, first.ran) == (3, 1, 0, 4)
    ds = xr.open_zarr(path)
    assert ds.status.values.ravel().tolist() == [1, 1, -1, 1]
    assert ds.error.values.ravel()[2].startswith("RuntimeError: probe asked to fail at x = 2")
    assert "Traceback" in ds.error.values.ravel()[2]
    assert np.isnan(ds.y.values.ravel()[2]) and ds.y.values.ravel()[3] == 9.0
    walls = ds.wall_seconds.values.copy()
    again = run_sweep(spec, path, ClusterOptions(kind="sync"), progress=False)
    assert again.ran == 1 and again.failed == 1
    after = xr.open_zarr(path).wall_seconds.values
    np.testing.assert_array_equal(np.delete(after.ravel(), 2), np.delete(walls.ravel(), 2))  # done points untouched


def test_resuming_with_the_axes_in_another_order_writes_every_result_to_its_own_point(tmp_path):
    """A 2 x 3 grid made with --x first, two points lost, resumed with --work first: every
    point holds y = x^2 of its own x (before, the resume indexed the store in the new
    order: wrong points on a square grid, an IndexError on this one)."""
    first = build_spec("probe", {"x": "2,3", "work": "0,0.001,0.002"}, {}, {}, 1, 0, "p")
    path = tmp_path / "p.zarr"
    run_sweep(first, path, ClusterOptions(kind="sync"), progress=False)
    status = zarr.open_array(path / "status", mode="r+")
    y = zarr.open_array(path / "y", mode="r+")
    for index in ((0, 2, 0), (1, 0, 0)):
        status[index] = store.PENDING
        y[index] = np.nan
    swapped = build_spec("probe", {"work": "0,0.001,0.002", "x": "2,3"}, {}, {}, 1, 0, "p")
    again = run_sweep(swapped, path, ClusterOptions(kind="sync"), progress=False)
    assert again.ran == 2 and again.done == 6
    ds = xr.open_zarr(path)
    assert ds.y.dims[:2] == ("x", "work")
    np.testing.assert_array_equal(ds.y.values[..., 0], np.broadcast_to((ds.x.values**2)[:, None], (2, 3)))


def test_two_workers_write_200_points_concurrently_and_match_serial_results(tmp_path):
    """>= 200 points written by 2 worker processes; every point readable and bitwise equal to
    its serial (in-process) result -- so results depend on the seed only, not on workers."""
    spec = build_spec("meanfield", {"T": "0.1:1:10", "alpha": "0.02:0.2:5"}, TINY, TINY_SETTINGS, 4, 7, "conc")
    assert spec.n_points == 200
    parallel, serial = tmp_path / "par.zarr", tmp_path / "ser.zarr"
    outcome = run_sweep(spec, parallel, ClusterOptions(workers=2, dashboard=False), progress=False)
    assert outcome.done == 200
    run_sweep(spec, serial, ClusterOptions(kind="sync"), progress=False)
    a, b = xr.open_zarr(parallel).load(), xr.open_zarr(serial).load()
    assert (a.status == 1).all()
    assert set(a.host.values.ravel()) == {socket.gethostname()}  # every point records its worker's host
    model = get_model("meanfield")
    for name in model.outputs(spec.settings).variables:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
    # and each point is what the model gives for its stored seed
    p = next(iter(expand(spec)))
    direct = model.run(p.params, spec.settings, int(a.seed.values[p.index]))
    assert direct["gamma"] == a.gamma.values[p.index]

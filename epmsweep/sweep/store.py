"""The sweep's Zarr store: layout, atomic creation, one writer at a time, resume, reading.

One Zarr (format 3) store per sweep, readable with nothing but ``xarray.open_zarr``:

* dims: the sweep axes in spec order, then ``replica``, then each output's own dims;
  coordinates and variables carry CF ``units`` and ``long_name`` (reduced units as "1",
  named in ``long_name`` and ``reduced_units``: :mod:`epmsweep.sweep.cf`);
* every per-point variable is sharded by batch (:mod:`epmsweep.sweep.shards`): one file
  per batch and variable, a few hundred points per checksummed inner chunk inside it.
  Each batch owns its shards, so workers write concurrently without locks, and a
  10⁵-point sweep is a few hundred files;
* bookkeeping per point: ``status`` (0 pending -- the fill value, 1 done, -1 failed),
  ``seed``, ``wall_seconds``, ``host``, and ``error`` (the traceback of a failed point);
* explicit fill values: NaN for float outputs, the dtype's minimum for integer ones,
  both declared as ``_FillValue`` so readers see NaN where a point has no result;
  ``status`` has fill 0 and no ``_FillValue``, so pending reads as 0;
* attributes: the spec (canonical JSON), model, package version, creation time;
  consolidated metadata, so opening a large store is one read.

A point is done only when its ``status`` is 1, and ``status`` is written after all
its outputs. Nothing is ever inferred from the data: NaN can be a legitimate result.

A store is created complete under a temporary name next to its path and renamed into
place, so an interrupted creation leaves nothing at the path; a run holds the store's
lock (:mod:`epmsweep.sweep.lock`) from before creation to its end.

Format 3 rather than 2: zarr-python >= 3 and xarray read and write it natively, and
its ``dimension_names`` make the layout self-describing; readers need zarr-python >= 3.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

import epmsweep
from epmsweep.model import InvalidInput
from epmsweep.model.core import Value
from epmsweep.sweep import lock, provenance
from epmsweep.sweep.cf import unit_attrs
from epmsweep.sweep.plan import grid_shape, seed_grid
from epmsweep.sweep.shard_io import (
    DONE,
    FAILED,
    PENDING,
    STATE_PREFIX,
    consolidated_metadata_ok,
    find_damage,
    load_status,
    open_group,
    read_whole,
)
from epmsweep.sweep.shards import Geometry, inner_chunk, points_per_batch, tile
from epmsweep.sweep.spec import SweepSpec

__all__ = ["DONE", "FAILED", "PENDING", "STATE_PREFIX", "StoreError", "claim", "create", "layout", "open_store",
           "read_spec", "read_status", "summary", "verify"]

#: Sample of points at which the model's cost per point is evaluated (its median sets the batch size).
_COST_SAMPLE = 64
#: Bytes per point assumed for the variable-length text variables when sizing their chunks.
_TEXT_BYTES = {"host": 32, "error": 256}


class StoreError(InvalidInput):
    """The output path cannot hold this sweep (not a store, or a store of another spec)."""


# ---- layout -----------------------------------------------------------------
def _fill_value(dtype: np.dtype) -> Value:
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if np.issubdtype(dtype, np.integer):
        return np.iinfo(dtype).min
    raise ValueError(f"unsupported output dtype {dtype}")


def seconds_per_point(spec: SweepSpec) -> float:
    """The model's declared wall time per point, median over up to 64 points spread over the grid."""
    model = spec.model_instance()
    names, sizes = list(spec.axes), [len(v) for v in spec.axes.values()]
    n = int(np.prod(sizes))
    costs = []
    for flat in np.unique(np.linspace(0, n - 1, min(n, _COST_SAMPLE)).astype(np.int64)):
        index = np.unravel_index(flat, sizes)
        params = {**spec.parameters, **{a: spec.axes[a][int(i)] for a, i in zip(names, index)}}
        costs.append(model.seconds_per_point(params, spec.settings))
    return float(np.median(costs))


def new_geometry(spec: SweepSpec) -> Geometry:
    """Batches of a new store: about BATCH_SECONDS of work each; an annealed axis whole."""
    grid = grid_shape(spec)
    whole = (list(spec.axes).index(spec.anneal),) if spec.anneal is not None else ()
    return Geometry(grid, tile(grid, points_per_batch(seconds_per_point(spec)), whole))


def _encoding(shard: tuple[int, ...], own: tuple[int, ...], bytes_per_point: int) -> dict:
    return {"shards": shard + own, "chunks": inner_chunk(shard, bytes_per_point) + own,
            "compressors": [ZstdCodec(), Crc32cCodec()]}


def layout(spec: SweepSpec, command: str | None = None) -> tuple[xr.Dataset, dict]:
    """The empty dataset of a sweep (lazy, nothing computed) and its Zarr encoding;
    ``command``: what created it, for the provenance attributes (default: this process's
    command line)."""
    model = spec.model_instance()
    outputs = model.outputs(spec.settings)
    point_dims = (*spec.axes, "replica")
    shape = grid_shape(spec)
    shard = new_geometry(spec).shard
    clash = set(outputs.coords) & set(point_dims)
    if clash:
        raise StoreError(f"model {model.name!r} has output dims {sorted(clash)} that clash with the sweep axes")

    coords: dict = {}
    for axis, values in spec.axes.items():
        f = model.parameters[axis]
        coords[axis] = (axis, np.asarray(values, dtype=np.int64 if f.kind is int else np.float64),
                        unit_attrs(f.units, f.doc))
    coords["replica"] = ("replica", np.arange(spec.replicas), {"units": "1", "long_name": "independent replica (own seed)"})

    data, encoding = {}, {}
    per_point = [("", outputs)]
    if spec.anneal is not None:  # the state each point hands on along its chain
        per_point.append((STATE_PREFIX, model.handover(spec.first_point(), spec.settings)))
    for prefix, declared in per_point:
        for name, c in declared.coords.items():
            coords[name] = (name, c.values, unit_attrs(c.units, c.long_name))
        for name, out in declared.variables.items():
            dtype = np.dtype(out.dtype)
            fill = _fill_value(dtype)
            own = tuple(len(declared.coords[d].values) for d in out.dims)
            data[prefix + name] = ((*point_dims, *out.dims), da.full(shape + own, fill, dtype=dtype, chunks=-1),
                                   unit_attrs(out.units, out.long_name, out.cell_methods))
            blocks = tuple(max(n, 1) for n in own)  # an empty output dim (e.g. n_times = 0) still needs a chunk size
            encoding[prefix + name] = {**_encoding(shard, blocks, dtype.itemsize * int(np.prod(blocks))),
                                       "fill_value": fill, "_FillValue": fill}

    string = np.dtypes.StringDType()
    data["status"] = (point_dims, da.zeros(shape, dtype=np.int8, chunks=-1),
                      {"long_name": "point status", "flag_values": [FAILED, PENDING, DONE],
                       "flag_meanings": "failed pending done", "units": "1"})
    data["seed"] = (point_dims, seed_grid(spec), {"long_name": "64-bit seed given to the model for this point", "units": "1"})
    data["wall_seconds"] = (point_dims, da.full(shape, np.nan, chunks=-1), {"long_name": "wall time of the point", "units": "s"})
    data["host"] = (point_dims, da.full(shape, "", dtype=string, chunks=-1), {"long_name": "host that ran the point"})
    data["error"] = (point_dims, da.full(shape, "", dtype=string, chunks=-1),
                     {"long_name": "traceback of a failed point (empty otherwise)"})
    encoding["status"] = {**_encoding(shard, (), 1), "fill_value": 0}
    encoding["seed"] = {"chunks": shape, "compressors": [ZstdCodec(), Crc32cCodec()]}
    encoding["wall_seconds"] = {**_encoding(shard, (), 8), "fill_value": np.nan, "_FillValue": np.nan}
    encoding["host"] = _encoding(shard, (), _TEXT_BYTES["host"])
    encoding["error"] = _encoding(shard, (), _TEXT_BYTES["error"])

    attrs = {
        "title": spec.name,
        "model": spec.model,
        "spec": spec.to_json(),
        "epmsweep_version": epmsweep.__version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
        **provenance.creation_attributes(command or provenance.command_line()),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs), encoding


def create(path: str | Path, spec: SweepSpec, command: str | None = None) -> None:
    """Write a new store's metadata, coordinates and seeds (no point data) at ``path``,
    which must not exist."""
    ds, encoding = layout(spec, command)
    with consolidated_metadata_ok():
        ds.to_zarr(Path(path), mode="w-", compute=False, encoding=encoding, zarr_format=3, consolidated=True)


# ---- creation, locking and resume ---------------------------------------------
_STAGING = ".epmsweep-staging"


def _staging_dir(path: Path) -> Path:
    """A fresh sibling directory to build a store in, named after host and pid so that
    leftovers of a killed creation can be recognised and removed."""
    return path.parent / f".{path.name}{_STAGING}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _remove_dead_staging(path: Path) -> None:
    """Staging directories of ``path`` left by killed processes of this host."""
    prefix = f".{path.name}{_STAGING}-{socket.gethostname()}-"
    for leftover in path.parent.glob(f"{prefix}*"):
        pid = leftover.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(leftover, ignore_errors=True)


def _build(path: Path, spec: SweepSpec, command: str | None) -> Path:
    """A complete new store, locked by this process, in a staging directory next to ``path``."""
    staging = _staging_dir(path)
    try:
        create(staging, spec, command)
        lock.acquire(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def read_spec(path: str | Path) -> SweepSpec:
    """The spec an existing epmsweep store was created with (StoreError otherwise)."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"store {str(path)!r} does not exist")
    try:
        group = open_group(path) if path.is_dir() else None
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        group = None
    if group is None:
        raise StoreError(f"{str(path)!r} is not a Zarr store")
    if "spec" not in group.attrs or "epmsweep_version" not in group.attrs:
        raise StoreError(f"{str(path)!r} is a Zarr store that was not written by epmsweep")
    return SweepSpec.from_json(group.attrs["spec"])


def read_status(path: str | Path) -> np.ndarray:
    """Per-point status array (PENDING, DONE, FAILED) of an existing store; points whose
    status chunk is damaged read as PENDING."""
    return load_status(path)[0]


@contextlib.contextmanager
def claim(path: str | Path, spec: SweepSpec, overwrite: bool = False,
          command: str | None = None) -> Iterator[tuple[bool, SweepSpec, str]]:
    """Hold ``path`` for a run of ``spec``: create the store, or accept an existing store of
    the same spec (resume), under the store's lock until the block ends. Yields whether it
    was created, the spec to run (on resume the stored one, which equals ``spec`` up to the
    order of its axes and is the order of the store's dimensions) and a note for the user
    ('' or the takeover of a stale lock).

    Refuses, changing nothing, when the path is a file or a non-store directory, a store of
    another spec (unless ``overwrite``; even then only an epmsweep store is ever replaced,
    never one holding the current directory) or a store another run holds. ``command`` (default:
    this process's command line) goes into the store's CF history: created, or resumed.
    """
    command = command or provenance.command_line()
    path = Path(path)
    _check_output_path(path)
    _remove_dead_staging(path)
    created, note = False, ""
    if path.is_dir() and any(path.iterdir()):
        existing = read_spec(path)  # raises for non-stores
        note = lock.acquire(path)
        try:
            if existing == spec:  # dicts compare without order: the axes may be listed differently
                spec = existing
                _append_history(path, provenance.history_line("resumed", command))
            else:
                _replace(path, spec, existing, overwrite, command)
                created = True
        except BaseException:
            lock.release(path)
            raise
    else:
        mode = path.stat().st_mode & 0o7777 if path.is_dir() else None
        try:
            staging = _build(path, spec, command)
        except OSError as err:
            raise StoreError(f"cannot create the store {str(path)!r}: {err.strerror or err}") from None
        try:
            staging.rename(path)  # onto nothing or an empty directory; fails if another run got there first
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            raise StoreError(f"another run created a store at {str(path)!r} at the same moment; run again to "
                             "resume it or choose another path") from None
        if mode is not None:
            path.chmod(mode)
        created = True
    try:
        yield created, spec, note
    finally:
        lock.release(path)


def _check_output_path(path: Path) -> None:
    """Refuse, before anything is written, an output path that cannot become a store: an
    existing file or device, or one whose parent cannot be made a directory."""
    if path.exists() and not path.is_dir():
        what = "an existing file" if path.is_file() else "not a directory (a device, pipe or socket)"
        raise StoreError(f"output {str(path)!r} is {what}, not a Zarr store; choose another path")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(f"cannot create the store {str(path)!r}: {str(ancestor)!r} is a file, not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the store {str(path)!r}: its directory {str(path.parent)!r} cannot be made "
                         f"({err.strerror or err})") from None


def _append_history(path: Path, line: str) -> None:
    """One more CF history line in the store's attributes (written by the lock's holder)."""
    with consolidated_metadata_ok():
        group = zarr.open_group(path, mode="r+", use_consolidated=True)
        history = group.attrs.get("history", "")
        group.attrs["history"] = f"{history}\n{line}" if history else line


def _replace(path: Path, spec: SweepSpec, existing: SweepSpec, overwrite: bool, command: str) -> None:
    """Replace the store at ``path`` (locked by this process) by a new one of ``spec``,
    keeping the directory's permissions; the old one is removed only once the new one is
    complete."""
    if not overwrite:
        raise StoreError(f"store {str(path)!r} holds a different sweep ({describe_difference(existing, spec)}); "
                         "rerun the original command to resume it, pass --overwrite to replace it, or choose "
                         "another output path")
    if Path.cwd().resolve().is_relative_to(path.resolve()):
        raise StoreError(f"--overwrite would delete the store {str(path)!r}, which holds the current directory; "
                         "run from outside it")
    if path.is_symlink():
        raise StoreError(f"--overwrite will not replace {str(path)!r}: it is a symbolic link; give the real path")
    mode = path.stat().st_mode & 0o7777
    staging = _build(path, spec, command)
    old = path.parent / f".{path.name}.epmsweep-old-{uuid.uuid4().hex[:8]}"
    path.rename(old)
    staging.rename(path)
    path.chmod(mode)
    shutil.rmtree(old)


def describe_difference(old: SweepSpec, new: SweepSpec) -> str:
    """Which parts of two specs differ, for error messages."""
    diffs = []
    for part in ("model", "name", "seed", "replicas", "anneal"):
        if getattr(old, part) != getattr(new, part):
            diffs.append(f"{part}: store {getattr(old, part)!r}, now {getattr(new, part)!r}")
    for part in ("axes", "parameters", "settings"):
        a, b = getattr(old, part), getattr(new, part)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                diffs.append(f"{part}.{key}: store {a.get(key)!r}, now {b.get(key)!r}")
    return "; ".join(diffs)


# ---- reading -------------------------------------------------------------------
def verify(path: str | Path, listed: int = 20) -> dict:
    """Read every done point of a store and check it: counts of points with an unreadable
    status and of done points with damaged results (see :func:`shard_io.find_damage`), and
    the coordinates of the first ``listed`` of them. A run of the sweep runs them again."""
    spec = read_spec(path)
    status, unreadable = load_status(path)
    damaged = find_damage(path, status)
    bad = np.argwhere(unreadable | damaged)
    return {"spec": spec, "done": int((status == DONE).sum()), "unreadable": int(unreadable.sum()),
            "damaged": int(damaged.sum()), "points": [spec.point_coords(i) for i in bad[:listed]], "total": len(bad)}


def open_store(path: str | Path, **kwargs) -> xr.Dataset:
    """The store, loaded, as a dataset with the outputs and wall times of every point that is
    not done masked (NaN, or the fill value of integer outputs), safe to read while a sweep
    still writes it: ``status`` is read before the outputs and again after them, and a point
    counts as done only if both reads say so (a point's outputs are written before its
    status). ``kwargs`` go to ``xarray.open_zarr``."""
    first = read_status(path)
    with consolidated_metadata_ok():
        ds = xr.open_zarr(Path(path), **kwargs).load()
    done = (first == DONE) & (read_status(path) == DONE)
    mask = xr.DataArray(done, dims=ds["status"].dims, coords=ds["status"].coords)
    per_point = [name for name in ds.data_vars
                 if ds[name].dims[:mask.ndim] == mask.dims and name not in ("status", "seed", "host", "error")]
    for name in per_point:
        ds[name] = ds[name].where(mask, ds[name].encoding.get("_FillValue", np.nan))
    ds["status"] = ds["status"].where(mask | (ds["status"] != DONE), PENDING)
    return ds


def flagged_points(group: zarr.Group, spec: SweepSpec, status: np.ndarray) -> list[tuple[dict, str]]:
    """Done points whose run says it is not to be trusted as it stands: not shown stationary
    (``stationary`` = 0: the burn-in trend test failed at max_burn_in, or the measurement's
    halves differ), with an automatic duration that stopped at max_duration short of
    target_rel_err, or with an observable its run did not measure (an output ``NAME_reached``
    = 0: the cap came before NAME's long-time regime). Each with its coordinates and the
    reasons."""
    if "stationary" not in group:
        return []
    stationary, drift, burn, rel_err = (read_whole(group[name], status.ndim)[0]
                                        for name in ("stationary", "drift", "burn_in_used", "rel_err"))
    reached = {name[:-len("_reached")]: read_whole(group[name], status.ndim)[0] for name in sorted(group.array_keys())
               if name.endswith("_reached") and group[name].ndim == status.ndim}
    target = float(spec.settings["target_rel_err"]) if spec.settings.get("duration") == "auto" else np.inf
    missed = np.zeros(status.shape, bool)
    for flag in reached.values():
        missed |= flag == 0
    out = []
    for idx in np.argwhere((status == DONE) & ((stationary == 0) | (rel_err > target) | missed)):
        i = tuple(idx)
        reasons = []
        if stationary[i] == 0:
            reasons.append(f"not shown stationary (drift {drift[i]:.2g} standard errors, burn-in {burn[i]:.4g})")
        if rel_err[i] > target:
            reasons.append(f"relative error {rel_err[i]:.2g} above target_rel_err = {target:g} at max_duration")
        unmeasured = [name for name, flag in reached.items() if flag[i] == 0]
        if unmeasured:
            reasons.append(f"{', '.join(unmeasured)} not measured by max_duration")
        out.append((spec.point_coords(idx), "; ".join(reasons)))
    return out


def summary(path: str | Path) -> dict:
    """Counts, wall-time statistics and failures of a store, for ``epmsweep status``."""
    spec = read_spec(path)
    group = open_group(path)
    status, unreadable = load_status(path)
    wall = read_whole(group["wall_seconds"], status.ndim)[0]
    failed_idx = np.argwhere(status == FAILED)
    errors = read_whole(group["error"], status.ndim)[0] if len(failed_idx) else None
    failures = []
    for idx in failed_idx:
        where = spec.point_coords(idx)
        text = str(errors[tuple(idx)])
        failures.append((where, text.strip().splitlines()[0] if text.strip() else "(no error text)"))
    done_wall = wall[status == DONE]
    return {
        "flagged": flagged_points(group, spec, status),
        "spec": spec,
        "total": int(status.size),
        "done": int((status == DONE).sum()),
        "failed": int((status == FAILED).sum()),
        "pending": int((status == PENDING).sum()),
        "unreadable": int(unreadable.sum()),
        "holder": lock.read_holder(Path(path)),
        "failures": failures,
        "wall": done_wall,
        "attrs": dict(group.attrs),
    }

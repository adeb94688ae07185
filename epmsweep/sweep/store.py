"""The sweep's Zarr store: layout, per-point writes, resume and validation.

One Zarr (format 3) store per sweep, readable with nothing but ``xarray.open_zarr``:

* dims: the sweep axes in spec order, then ``replica``, then each output's own dims;
  coordinates carry CF ``units`` and ``long_name``;
* every per-point variable is chunked 1 along every sweep dim and ``replica``, so two
  points never share a chunk: workers write concurrently without locks. (xarray's
  chunk-safety check does not see plain numpy region writes, so this layout is what
  keeps concurrent writers from losing data.) zarr writes each chunk atomically, so a
  worker killed mid-write leaves no torn chunk;
* bookkeeping per point: ``status`` (0 pending -- the fill value, 1 done, -1 failed),
  ``seed``, ``wall_seconds``, ``host``, and ``error`` (the traceback of a failed point);
* explicit fill values: NaN for float outputs, the dtype's minimum for integer ones,
  both declared as ``_FillValue`` so readers see NaN where a point has no result;
  ``status`` has fill 0 and no ``_FillValue``, so pending reads as 0;
* attributes: the spec (canonical JSON), model, package version, creation time;
  consolidated metadata, so opening a large store is one read.

A point is done only when its ``status`` is 1, and ``status`` is written after all
its outputs. Nothing is ever inferred from the data: zarr does not write chunks equal
to the fill value, and NaN can be a legitimate result.

Format 3 rather than 2: zarr-python >= 3 and xarray read and write it natively, and
its ``dimension_names`` make the layout self-describing; readers need zarr-python >= 3.
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
import zarr

import epmsweep
from epmsweep.model import InvalidInput
from epmsweep.model.core import Value
from epmsweep.sweep.plan import grid_shape, seed_grid
from epmsweep.sweep.spec import SweepSpec

PENDING, DONE, FAILED = 0, 1, -1
BOOKKEEPING = ("status", "seed", "wall_seconds", "host", "error")
#: Prefix of the variables holding the state each point of an annealing chain hands on.
STATE_PREFIX = "state_"



@contextlib.contextmanager
def _consolidated_metadata_ok() -> Iterator[None]:
    """zarr warns that consolidated metadata is not yet part of the v3 spec; we use it on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        yield


class StoreError(InvalidInput):
    """The output path cannot hold this sweep (not a store, or a store of another spec)."""


# ---- layout -----------------------------------------------------------------
def _fill_value(dtype: np.dtype) -> Value:
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if np.issubdtype(dtype, np.integer):
        return np.iinfo(dtype).min
    raise ValueError(f"unsupported output dtype {dtype}")


def layout(spec: SweepSpec) -> tuple[xr.Dataset, dict]:
    """The empty dataset of a sweep (lazy, nothing computed) and its Zarr encoding."""
    model = spec.model_instance()
    outputs = model.outputs(spec.settings)
    point_dims = (*spec.axes, "replica")
    shape = grid_shape(spec)
    point_chunks = (1,) * len(point_dims)
    clash = set(outputs.coords) & set(point_dims)
    if clash:
        raise StoreError(f"model {model.name!r} has output dims {sorted(clash)} that clash with the sweep axes")

    coords: dict = {}
    for axis, values in spec.axes.items():
        f = model.parameters[axis]
        coords[axis] = (axis, np.asarray(values, dtype=np.int64 if f.kind is int else np.float64),
                        {"units": f.units, "long_name": f.doc})
    coords["replica"] = ("replica", np.arange(spec.replicas), {"units": "1", "long_name": "independent replica (own seed)"})

    data, encoding = {}, {}
    per_point = [("", outputs)]
    if spec.anneal is not None:  # the state each point hands on along its chain
        per_point.append((STATE_PREFIX, model.handover(spec.first_point(), spec.settings)))
    for prefix, declared in per_point:
        for name, c in declared.coords.items():
            coords[name] = (name, c.values, {"units": c.units, "long_name": c.long_name})
        for name, out in declared.variables.items():
            dtype = np.dtype(out.dtype)
            fill = _fill_value(dtype)
            own = tuple(len(declared.coords[d].values) for d in out.dims)
            data[prefix + name] = ((*point_dims, *out.dims), da.full(shape + own, fill, dtype=dtype, chunks=-1),
                                   {"units": out.units, "long_name": out.long_name})
            encoding[prefix + name] = {"chunks": point_chunks + own, "fill_value": fill, "_FillValue": fill}

    string = np.dtypes.StringDType()
    data["status"] = (point_dims, da.zeros(shape, dtype=np.int8, chunks=-1),
                      {"long_name": "point status", "flag_values": [FAILED, PENDING, DONE],
                       "flag_meanings": "failed pending done", "units": "1"})
    data["seed"] = (point_dims, seed_grid(spec), {"long_name": "64-bit seed given to the model for this point", "units": "1"})
    data["wall_seconds"] = (point_dims, da.full(shape, np.nan, chunks=-1), {"long_name": "wall time of the point", "units": "s"})
    data["host"] = (point_dims, da.full(shape, "", dtype=string, chunks=-1), {"long_name": "host that ran the point"})
    data["error"] = (point_dims, da.full(shape, "", dtype=string, chunks=-1),
                     {"long_name": "traceback of a failed point (empty otherwise)"})
    encoding["status"] = {"chunks": point_chunks, "fill_value": 0}
    encoding["seed"] = {"chunks": shape}
    encoding["wall_seconds"] = {"chunks": point_chunks, "fill_value": np.nan, "_FillValue": np.nan}
    encoding["host"] = {"chunks": point_chunks}
    encoding["error"] = {"chunks": point_chunks}

    attrs = {
        "title": spec.name,
        "model": spec.model,
        "spec": spec.to_json(),
        "epmsweep_version": epmsweep.__version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "Conventions": "CF-1.10",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs), encoding


def create(path: str | Path, spec: SweepSpec) -> None:
    """Write the store's metadata, coordinates and seeds; no point data. An existing (empty)
    directory keeps its permissions (zarr's mode "w" recreates it with the umask's)."""
    path = Path(path)
    mode = path.stat().st_mode & 0o7777 if path.is_dir() else None
    ds, encoding = layout(spec)
    with _consolidated_metadata_ok():
        ds.to_zarr(path, mode="w", compute=False, encoding=encoding, zarr_format=3, consolidated=True)
    if mode is not None:
        path.chmod(mode)


# ---- opening and checking ---------------------------------------------------
def _open_group(path: Path) -> zarr.Group | None:
    try:
        return zarr.open_group(path, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return None


def read_spec(path: str | Path) -> SweepSpec:
    """The spec an existing epmsweep store was created with (StoreError otherwise)."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"store {str(path)!r} does not exist")
    group = _open_group(path) if path.is_dir() else None
    if group is None:
        raise StoreError(f"{str(path)!r} is not a Zarr store")
    if "spec" not in group.attrs or "epmsweep_version" not in group.attrs:
        raise StoreError(f"{str(path)!r} is a Zarr store that was not written by epmsweep")
    return SweepSpec.from_json(group.attrs["spec"])


def read_status(path: str | Path) -> np.ndarray:
    """Per-point status array (PENDING, DONE, FAILED) of an existing store."""
    return zarr.open_array(Path(path) / "status", mode="r")[...]


def prepare(path: str | Path, spec: SweepSpec, overwrite: bool = False) -> tuple[bool, SweepSpec]:
    """Make ``path`` ready for ``spec``: create the store, or accept an existing store of the
    same spec (resume). Returns whether it was created and the spec to run: on resume the
    stored one, which equals ``spec`` up to the order of its axes and is the order of the
    store's dimensions (so that every result lands on its own point whatever order the
    axes were given in). Refuses, changing nothing, when the path is a file or a non-store
    directory, or a store of another spec (unless ``overwrite``; even then only an
    epmsweep store is ever deleted)."""
    path = Path(path)
    if path.is_file():
        raise StoreError(f"output {str(path)!r} is an existing file, not a Zarr store; choose another path")
    if path.is_dir() and any(path.iterdir()):
        existing = read_spec(path)  # raises for non-stores
        if existing == spec:  # dicts compare without order: the axes may be listed differently
            return False, existing
        if not overwrite:
            raise StoreError(f"store {str(path)!r} holds a different sweep ({describe_difference(existing, spec)}); "
                             "rerun the original command to resume it, pass --overwrite to replace it, or choose "
                             "another output path")
        if Path.cwd().resolve().is_relative_to(path.resolve()):
            raise StoreError(f"--overwrite would delete the store {str(path)!r}, which holds the current directory; "
                             "run from outside it")
        for child in path.iterdir():  # the directory itself stays, with its permissions
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    create(path, spec)
    return True, spec


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


# ---- per-point writes (run on the workers) ------------------------------------
class PointWriter:
    """Writes the results of single points into an existing store; status last."""

    def __init__(self, path: str | Path):
        with _consolidated_metadata_ok():
            group = zarr.open_group(Path(path), mode="r+", use_consolidated=True)
        self.arrays = {name: arr for name, arr in group.arrays()}

    def done(self, index: tuple[int, ...], outputs: Mapping[str, np.ndarray], wall: float, host: str) -> None:
        for name, value in outputs.items():
            self.arrays[name][index] = value
        self._finish(index, DONE, wall, host, "")

    def state(self, index: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The state a done point of an annealing chain handed on."""
        n = len(STATE_PREFIX)
        return {name[n:]: arr[index] for name, arr in self.arrays.items() if name.startswith(STATE_PREFIX)}

    def failed(self, index: tuple[int, ...], error: str, wall: float, host: str) -> None:
        self._finish(index, FAILED, wall, host, error)

    def _finish(self, index: tuple[int, ...], status: int, wall: float, host: str, error: str) -> None:
        self.arrays["wall_seconds"][index] = wall
        self.arrays["host"][index] = host
        self.arrays["error"][index] = error
        self.arrays["status"][index] = status


_WRITERS: dict[str, PointWriter] = {}


def writer(path: str | Path) -> PointWriter:
    """A PointWriter per store and process, so array metadata is read once per worker."""
    key = str(Path(path).resolve())
    if key not in _WRITERS:
        _WRITERS[key] = PointWriter(key)
    return _WRITERS[key]


def flagged_points(group: zarr.Group, spec: SweepSpec, status: np.ndarray) -> list[tuple[dict, str]]:
    """Done points whose run says it is not to be trusted as it stands: not shown stationary
    (``stationary`` = 0: the burn-in trend test failed at max_burn_in, or the measurement's
    halves differ), or with an automatic duration that stopped at max_duration short of
    target_rel_err. Each with its coordinates and the reason."""
    if "stationary" not in group:
        return []
    stationary, drift = group["stationary"][...], group["drift"][...]
    burn, rel_err = group["burn_in_used"][...], group["rel_err"][...]
    target = float(spec.settings["target_rel_err"]) if spec.settings.get("duration") == "auto" else np.inf
    out = []
    for idx in np.argwhere((status == DONE) & ((stationary == 0) | (rel_err > target))):
        i = tuple(idx)
        reasons = []
        if stationary[i] == 0:
            reasons.append(f"not shown stationary (drift {drift[i]:.2g} standard errors, burn-in {burn[i]:.4g})")
        if rel_err[i] > target:
            reasons.append(f"relative error {rel_err[i]:.2g} above target_rel_err = {target:g} at max_duration")
        out.append((spec.point_coords(idx), "; ".join(reasons)))
    return out


def summary(path: str | Path) -> dict:
    """Counts, wall-time statistics and failures of a store, for ``epmsweep status``."""
    spec = read_spec(path)
    group = zarr.open_group(Path(path), mode="r")
    status = group["status"][...]
    wall = group["wall_seconds"][...]
    failed_idx = np.argwhere(status == FAILED)
    failures = []
    for idx in failed_idx:
        where = spec.point_coords(idx)
        text = str(group["error"][tuple(idx)])
        failures.append((where, text.strip().splitlines()[0] if text.strip() else "(no error text)"))
    done_wall = wall[status == DONE]
    return {
        "flagged": flagged_points(group, spec, status),
        "spec": spec,
        "total": int(status.size),
        "done": int((status == DONE).sum()),
        "failed": int((status == FAILED).sum()),
        "pending": int((status == PENDING).sum()),
        "failures": failures,
        "wall": done_wall,
        "attrs": dict(group.attrs),
    }

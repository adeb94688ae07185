"""A compact table of a store's scalar results: one row per grid point, replicas averaged,
as wide as the terminal allows."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from epmsweep.model.core import InvalidInput
from epmsweep.model.run_length import run_length_outputs
from epmsweep.sweep.cf import shown_units
from epmsweep.sweep.shard_io import BOOKKEEPING
from epmsweep.sweep.spec import SweepSpec

#: How long a point ran and whether it was stationary: after the physics, when there is room.
DIAGNOSTICS = tuple(run_length_outputs("time", "the observable"))
#: Suffix of an output that is the standard error of another (``gamma_err`` of ``gamma``):
#: shown as that output's ``±``, not as a column of its own.
ERROR_SUFFIX = "_err"


@dataclass(frozen=True)
class SummaryTable:
    header: list[str]
    rows: list[list[str]]
    n_points: int  # grid points (rows shown: at most max_rows)
    left_out: list[str]  # outputs without a column (too wide): `epmsweep show` lists them


def _cell(values: np.ndarray, errors: np.ndarray | None, integer: bool) -> str:
    """Mean over the done replicas; ``± standard error`` across them when there are several,
    else the point's own error estimate (``errors``) when the model gives one; no ``±`` for
    integer counts."""
    done = ~np.isnan(values)
    if not done.any():
        return "-"
    mean = values[done].mean()
    if integer:
        return f"{mean:.4g}"
    if done.sum() > 1:
        spread = values[done].std(ddof=1)
        return f"{mean:.4g} ± {spread / math.sqrt(done.sum()):.1g}" if spread > 0 else f"{mean:.4g}"
    if errors is not None and np.isfinite(errors[done][0]):
        return f"{mean:.4g} ± {errors[done][0]:.1g}"
    return f"{mean:.4g}"


def _declared_order(ds: xr.Dataset) -> dict[str, int]:
    """Each output's place in its model's declaration (the store lists its arrays
    alphabetically); empty when the store's model cannot be loaded here."""
    try:
        spec = SweepSpec.from_json(ds.attrs["spec"])
        return {name: i for i, name in enumerate(spec.model_instance().outputs(spec.settings).variables)}
    except (KeyError, InvalidInput):
        return {}


def scalar_table(path: str | Path, width: int = 80, max_rows: int = 40) -> SummaryTable:
    """Every grid point (at most ``max_rows``) with the scalar outputs that fit in ``width``
    columns, in the model's order (the main observable first), run-length diagnostics last;
    headers carry units."""
    ds = xr.open_zarr(path)
    axes = [d for d in ds.status.dims if d != "replica"]
    scalars = [v for v in ds.data_vars if ds[v].dims == ds.status.dims and v not in BOOKKEEPING]
    outputs = [v for v in scalars if not (v.endswith(ERROR_SUFFIX) and v[:-len(ERROR_SUFFIX)] in scalars)]
    declared = _declared_order(ds)
    outputs.sort(key=lambda v: (v in DIAGNOSTICS, declared.get(v, len(declared))))
    done = (ds.status == 1).load()
    n_done = done.sum("replica")
    sizes = [ds.sizes[a] for a in axes]
    points = [dict(zip(axes, idx)) for idx in itertools.islice(np.ndindex(*sizes), max_rows)]

    def label(name: str) -> str:
        unit = shown_units(ds[name].attrs)
        return f"{name} [{unit}]" if unit else name

    columns = {a: [f"{ds[a].values[i]:.4g}" for i in (p[a] for p in points)] for a in axes}
    columns["done"] = [f"{int(n_done.isel(p))}/{ds.sizes['replica']}" for p in points]
    labels = {a: label(a) for a in axes} | {"done": "done"}
    used = sum(max(len(labels[c]), *map(len, columns[c]), 1) + 3 for c in columns) + 1
    left_out = []
    for name in outputs:
        values = ds[name].where(done).load().values.astype(float)
        err_name = name + ERROR_SUFFIX
        errors = ds[err_name].where(done).load().values.astype(float) if err_name in ds else None
        integer = np.issubdtype(ds[name].encoding.get("dtype", ds[name].dtype), np.integer)  # read as float
        cells = [_cell(values[tuple(p.values())], None if errors is None else errors[tuple(p.values())], integer)
                 for p in points]
        need = max(len(label(name)), *map(len, cells), 1) + 3
        if used + need > width:
            left_out.append(name)
            continue
        columns[name], labels[name] = cells, label(name)
        used += need
    rows = [[columns[c][i] for c in columns] for i in range(len(points))]
    return SummaryTable([labels[c] for c in columns], rows, math.prod(sizes), left_out)

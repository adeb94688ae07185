"""Compact tables of a store's scalar results (mean over replicas, with the replica spread)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import xarray as xr

from epmsweep.sweep.shard_io import BOOKKEEPING


def scalar_table(path: str | Path, max_rows: int = 40) -> tuple[list[str], list[list[str]], int]:
    """Header and rows for every grid point (replicas averaged) of the scalar outputs.

    A value is the mean over the replicas that are done, followed by its standard error
    across replicas when there are several; points with no done replica show ``-``.
    Returns (header, rows, number of grid points); at most ``max_rows`` rows.
    """
    ds = xr.open_zarr(path)
    axes = [d for d in ds.status.dims if d != "replica"]
    outputs = [v for v in ds.data_vars if ds[v].dims == ds.status.dims and v not in BOOKKEEPING]
    done = (ds.status == 1).load()
    stacked = {v: ds[v].where(done).load() for v in outputs}
    n_done = done.sum("replica")
    header = [*axes, "done", *outputs]
    rows = []
    sizes = [ds.sizes[a] for a in axes]
    for idx in itertools.islice(np.ndindex(*sizes), max_rows):
        sel = dict(zip(axes, idx))
        row = [f"{ds[a].values[i]:.4g}" for a, i in sel.items()]
        k = int(n_done.isel(sel))
        row.append(f"{k}/{ds.sizes['replica']}")
        for v in outputs:
            vals = stacked[v].isel(sel).values.astype(float)
            vals = vals[~np.isnan(vals)]
            if vals.size == 0:
                row.append("-")
            elif vals.size == 1:
                row.append(f"{vals[0]:.4g}")
            else:
                row.append(f"{vals.mean():.4g} ± {vals.std(ddof=1) / np.sqrt(vals.size):.1g}")
        rows.append(row)
    return header, rows, math.prod(sizes)

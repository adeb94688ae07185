"""Slicing a sweep store for one figure or fit: fixed axes, done replicas, what is missing."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import xarray as xr

from epmsweep.model import InvalidInput
from epmsweep.sweep.spec import SweepSpec


#: Relative distance within which a --sel value names a stored coordinate (0.11 typed for a
#: stored 0.11000000000000001).
SEL_TOLERANCE = 1e-6


def checked_selection(ds: xr.Dataset, sel: Mapping[str, float]) -> dict[str, float]:
    """The stored value each ``--sel NAME=VALUE`` names: NAME a sweep axis of the store and
    VALUE one of its values within SEL_TOLERANCE; InvalidInput otherwise (no silent snapping)."""
    axes = [d for d in ds.status.dims if d != "replica"]
    out = {}
    for name, value in sel.items():
        if name not in axes:
            raise InvalidInput(f"--sel {name}: not a sweep axis of this store; axes: {', '.join(axes)}")
        values = ds[name].values.astype(float)
        k = int(np.argmin(np.abs(values - value))) if np.isfinite(value) else 0
        if not np.isfinite(value) or not np.isclose(values[k], value, rtol=SEL_TOLERANCE, atol=0.0):
            shown = ", ".join(f"{v:g}" for v in values[:12]) + (", ..." if values.size > 12 else "")
            raise InvalidInput(f"--sel {name}={value:g}: not a value of the store's {name} axis ({shown})")
        out[name] = float(values[k])
    return out


def select(ds: xr.Dataset, spec: SweepSpec, keep: tuple[str, ...], sel: Mapping[str, float]) -> tuple[xr.Dataset, str]:
    """Fix every sweep axis not in ``keep`` to the selection (nearest value) or its first value."""
    fixed = {}
    for axis in spec.axes:
        if axis in keep or axis not in ds.dims:  # kept, or already fixed by an earlier selection
            continue
        fixed[axis] = float(ds[axis].sel({axis: sel[axis]}, method="nearest")) if axis in sel else float(ds[axis][0])
    for axis, value in sel.items():
        if axis in keep and axis in ds.dims:
            ds = ds.sel({axis: [value]}, method="nearest")
    sub = (ds.sel(fixed) if fixed else ds).load()  # small: one slice of the sweep, computed once
    label = ", ".join(f"{k} = {v:g}" for k, v in fixed.items())
    return sub, label


def parameter(sub: xr.Dataset, spec: SweepSpec, name: str) -> float:
    """A model parameter's value on a slice from :func:`select`: the slice's coordinate if
    ``name`` is a sweep axis fixed there, else the sweep's fixed value."""
    if name in spec.axes:
        if sub[name].ndim:
            raise InvalidInput(f"{name} is a sweep axis with several values here: select one, e.g. --sel {name}=...")
        return float(sub[name])
    return float(spec.parameters[name])


def point_parameters(sub: xr.Dataset, spec: SweepSpec, **values: float) -> dict:
    """All model parameters on a slice (fixed axes from its coordinates), with ``values`` on top."""
    fixed = {a: float(sub[a]) for a in spec.axes if a in sub.coords and sub[a].ndim == 0}
    return {**spec.parameters, **fixed, **values}


def done_mean(da: xr.DataArray, status: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over done replicas and its standard error (NaN with fewer than two)."""
    good = da.where(status == 1)
    n = (status == 1).sum("replica")
    with warnings.catch_warnings():  # points with no done replica are NaN, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = good.mean("replica").compute()  # computed here: a lazy store would warn later
        err = (good.std("replica", ddof=1) / np.sqrt(n.where(n > 1))).compute()
    return mean, err


def longest_reliable_lag(point: xr.Dataset) -> float:
    """A tenth of the shortest done run (``duration_used``) of a grid point: lags up to it
    hold at least ten independent windows. Infinite for a store without run lengths."""
    if "duration_used" not in point:
        return np.inf
    return float(point.duration_used.where(point.status == 1).min()) / 10


def unsettled(sub: xr.Dataset) -> xr.DataArray:
    """Per grid point of the slice: whether a done replica is not shown stationary (its run
    stopped at max_burn_in unconverged, or its measurement's halves differ)."""
    if "stationary" not in sub:
        return xr.zeros_like(sub.status.isel(replica=0), dtype=bool)
    return ((sub.status == 1) & (sub.stationary == 0)).any("replica")


def grid_means(ds: xr.Dataset, variable: str) -> list[float]:
    """The mean of a scalar output over the done replicas of every grid point, in grid order
    (e.g. a thermal sweep's activities as the axis of a matching random-model sweep);
    refused unless every grid point has a done replica."""
    if variable not in ds or ds[variable].dims != ds.status.dims:
        raise InvalidInput(f"the store has no scalar output {variable!r}")
    mean, _ = done_mean(ds[variable], ds.status)
    missing = int(mean.isnull().sum())
    if missing:
        raise InvalidInput(f"{missing} grid points of the store have no done replica; finish the sweep first")
    return [float(v) for v in mean.values.ravel()]


def missing_note(sub: xr.Dataset) -> str:
    """What the figure lacks or should be read with care for: missing and unsettled points."""
    status = sub.status.values
    missing = int((status != 1).sum())
    notes = [f"{missing} of {status.size} points missing (pending or failed)"] if missing else []
    flagged = unsettled(sub)
    if bool(flagged.any()):
        where = "; ".join(", ".join(f"{d} = {float(sub[d][i]):g}" for d, i in zip(flagged.dims, idx))
                          for idx in np.argwhere(flagged.values)) if flagged.ndim else "this point"
        notes.append(f"not shown stationary: {where}")
    return "; ".join(notes)

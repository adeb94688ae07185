"""CF presentation of a store: UDUNITS-valid units, and a CF-clean NetCDF export.

The models work in reduced units (README, "Units"): stress in units of sigma_c, energy in
units of K (k_B = 1, so T is an energy), time in units of tau, counts of Monte Carlo sweeps.
UDUNITS knows none of these, so in the store such a quantity has ``units = "1"`` (a pure
number, as CF asks of reduced units), its unit is named in ``long_name`` ("..., in units of
1/tau"), and the model's own name for it is kept in ``reduced_units`` (for tables and labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from epmsweep.model import InvalidInput

#: The models' reduced units and how long_name names them.
REDUCED_UNITS = {
    "time": "tau", "1/time": "1/tau", "stress": "sigma_c", "1/stress": "1/sigma_c", "energy": "K (k_B = 1)",
    "stress^2": "sigma_c^2", "sweeps": "Monte Carlo sweeps",
}


def unit_attrs(units: str, long_name: str, cell_methods: str = "") -> dict[str, str]:
    """CF ``units`` and ``long_name`` of a declared quantity (see the module docstring), and its
    ``cell_methods`` when it is an average (``time: mean``: CF lets a standard name stand for
    an axis the variable does not have)."""
    methods = {"cell_methods": cell_methods} if cell_methods else {}
    if units in REDUCED_UNITS:
        return {"units": "1", "long_name": f"{long_name}, in units of {REDUCED_UNITS[units]}", "reduced_units": units,
                **methods}
    return {"units": units, "long_name": long_name, **methods}


def shown_units(attrs: dict) -> str:
    """The unit to show next to a quantity: the reduced unit, else the CF one ('' for "1")."""
    units = attrs.get("reduced_units") or attrs.get("units", "")
    return "" if units == "1" else units


def netcdf_engine() -> str:
    """The NetCDF-4 writer available here: netCDF4, else h5netcdf."""
    import importlib.util

    for engine, module in (("netcdf4", "netCDF4"), ("h5netcdf", "h5netcdf")):
        if importlib.util.find_spec(module) is not None:
            return engine
    raise InvalidInput("writing NetCDF needs the netCDF4 or the h5netcdf package: pip install netCDF4")


def to_netcdf(ds: xr.Dataset, out: str | Path) -> Path:
    """Write a store's dataset (from :func:`epmsweep.sweep.store.open_store`: points that are not
    done masked) as a CF-1.10 NetCDF-4 file. What xarray's plain ``to_netcdf`` would get wrong
    for CF is set here: coordinates without ``_FillValue``, ``flag_values`` of the flag
    variable's own type, and none of the Zarr encodings (shards, codecs) carried over."""
    out = Path(out)
    if out.suffix != ".nc":
        raise InvalidInput(f"output {str(out)!r}: expected a NetCDF file name ending in .nc")
    if not out.parent.is_dir():
        raise InvalidInput(f"output {str(out)!r}: the directory {str(out.parent)!r} does not exist")
    engine = netcdf_engine()
    ds = ds.copy()
    encoding: dict[str, dict] = {}
    for name, variable in ds.variables.items():
        fill = variable.encoding.get("_FillValue")
        variable.encoding = {}
        if name in ds.coords or variable.dtype.kind not in "fiu":
            encoding[name] = {"_FillValue": None}
        else:
            encoding[name] = {"_FillValue": fill if name != "status" else None}
    for name, variable in ds.data_vars.items():
        if "flag_values" in variable.attrs:
            variable.attrs["flag_values"] = np.asarray(variable.attrs["flag_values"], dtype=variable.dtype)
        if variable.dtype.kind in "OUT":  # text per point (host, error): NetCDF-4 variable-length strings
            ds[name] = variable.astype(object)
    ds.to_netcdf(out, engine=engine, encoding=encoding)
    return out

"""The Python API, for scripts and notebooks: run a sweep, open its store, draw and fit from
the dataset. Each function takes what a notebook has at hand (a dict, a Client, a Dataset);
the spec of a store travels in the dataset's ``spec`` attribute, so nothing is rebuilt by hand.

    import epmsweep
    ds = epmsweep.run({"model": "meanfield", "axes": {"T": "0.1:1:8:log", "alpha": 0.11},
                       "parameters": {"N": 500}, "settings": {"duration": 200}}, out="mf.zarr")
    epmsweep.figure(ds, "arrhenius")
    epmsweep.fit(ds, "arrhenius")
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epmsweep.model import InvalidInput

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from epmsweep.sweep.spec import SweepSpec


def run(spec: SweepSpec | Mapping[str, Any] | str | Path, out: str | Path | None = None, *, client: object = None,
        cluster: str = "local", workers: int | None = None, overwrite: bool = False, progress: bool = True,
        timeout: float | None = None, max_points: int | None = None) -> xr.Dataset:
    """Run a sweep (or resume it: only points that are not done run) and return its store,
    opened with :func:`open_store` (points that are not done masked).

    ``spec``: a :class:`~epmsweep.sweep.spec.SweepSpec`, a dict with the layout of a spec file
    (``{"model": "meanfield", "axes": {"T": "0.1:1:8:log"}, "parameters": {...}}``), or the
    path of a TOML spec file. ``out``: the store (default: the spec's ``out``, else NAME.zarr).
    ``client``: a ``distributed.Client`` to run on (left open), or a cluster object
    (``LocalCluster``, ``SLURMCluster``, ...: a client is made for the run and closed, the
    cluster is left running); None starts the cluster ``cluster`` names (``"local"`` with
    ``workers`` processes, ``"sync"`` in this process). A model defined with ``@register`` in
    the script or notebook itself is sent to the workers with each batch. Failed points are
    reported on stderr and masked; ``epmsweep status STORE`` lists their errors.
    """
    from epmsweep.sweep import cluster as clusters
    from epmsweep.sweep.runner import run_sweep
    from epmsweep.sweep.spec import MAX_POINTS, SweepSpec, load_spec_file, spec_from_dict

    limit = MAX_POINTS if max_points is None else max_points
    if isinstance(spec, SweepSpec):
        checked = spec
    elif isinstance(spec, str | Path):
        checked = load_spec_file(spec, max_points=limit)
    else:
        checked = spec_from_dict(spec, max_points=limit)
    path = Path(out if out is not None else checked.out or f"{checked.name}.zarr")
    options = clusters.ClusterOptions(kind=cluster, workers=workers)
    outcome = run_sweep(checked, path, options, overwrite, progress, timeout=timeout, client=client,
                        command=f"epmsweep.run(out={str(path)!r}, cluster={cluster!r})")
    if outcome.failed:
        warnings.warn(f"{outcome.failed} of {outcome.total} points failed (masked in the dataset); "
                      f"`epmsweep status {path}` lists their errors", RuntimeWarning, stacklevel=2)
    return open_store(path)


def open_store(path: str | Path, **kwargs: Any) -> xr.Dataset:
    """A sweep store as an xarray Dataset, loaded, with every point that is not done masked;
    safe while a sweep still writes it (see :func:`epmsweep.sweep.store.open_store`)."""
    from epmsweep.sweep.store import open_store as _open_store

    return _open_store(path, **kwargs)


def spec_of(ds: xr.Dataset) -> SweepSpec:
    """The sweep spec a store's dataset carries (its ``spec`` attribute)."""
    from epmsweep.sweep.spec import SweepSpec

    if "spec" not in ds.attrs:
        raise InvalidInput("this dataset carries no sweep spec (attribute 'spec'): open it with epmsweep.open_store "
                           "or xarray.open_zarr, and keep its attributes (keep_attrs) when transforming it")
    return SweepSpec.from_json(ds.attrs["spec"])


def figure_kinds(ds: xr.Dataset) -> list[str]:
    """The figure kinds :func:`figure` can draw from ``ds``."""
    from epmsweep.analysis.figures import supported

    return supported(ds, spec_of(ds))


def figure(ds: xr.Dataset, kind: str, sel: Mapping[str, float] | None = None,
           reference: xr.Dataset | None = None) -> Figure:
    """One figure of the papers from a store's dataset, theory overlaid. ``sel`` fixes other
    axes (``{"alpha": 0.11}``; each value one of the store's); ``reference``: another store's
    dataset overlaid where the figure supports it (the random model in ``diffusion``)."""
    from epmsweep.analysis import figures
    from epmsweep.analysis.selection import checked_selection

    kinds = figure_kinds(ds)
    if kind not in kinds:
        raise InvalidInput(f"figure {kind!r} does not apply to this dataset; available: {', '.join(kinds) or 'none'}")
    return figures.draw(kind, ds, spec_of(ds), checked_selection(ds, dict(sel or {})), reference)


def fit_kinds(ds: xr.Dataset) -> list[str]:
    """The fits :func:`fit` can make from ``ds``."""
    from epmsweep.analysis.store_fits import available_fits

    return available_fits(ds, spec_of(ds))


def fit(ds: xr.Dataset, kind: str, sel: Mapping[str, float] | None = None) -> xr.Dataset:
    """Fit a law to a store's dataset (``sel`` as in :func:`figure`): the fitted parameters with
    their standard errors, as a Dataset."""
    from epmsweep.analysis.selection import checked_selection
    from epmsweep.analysis.store_fits import fit_store

    return fit_store(kind, ds, spec_of(ds), checked_selection(ds, dict(sel or {})))


def to_netcdf(ds: xr.Dataset, out: str | Path) -> Path:
    """Write a store's dataset (from :func:`open_store` or :func:`run`) as a CF-1.10 NetCDF-4
    file; needs the netCDF4 or h5netcdf package."""
    from epmsweep.sweep.cf import to_netcdf as _to_netcdf

    return _to_netcdf(ds, out)

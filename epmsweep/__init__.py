"""epmsweep: parameter sweeps of thermal elastoplastic models of supercooled liquids.

The Python API (:mod:`epmsweep.api`) is available here: ``epmsweep.run``, ``open_store``,
``figure``, ``figure_kinds``, ``fit``, ``fit_kinds``, ``spec_of``, ``to_netcdf``; imported on first use, so
that ``import epmsweep`` (and the command line's ``--help``) stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("epmsweep")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_API = ("run", "open_store", "figure", "figure_kinds", "fit", "fit_kinds", "spec_of", "to_netcdf")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from epmsweep import api

        return getattr(api, name)
    raise AttributeError(f"module 'epmsweep' has no attribute {name!r}")

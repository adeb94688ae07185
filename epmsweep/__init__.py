"""epmsweep: parameter sweeps of thermal elastoplastic models of supercooled liquids."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("epmsweep")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def open_store(path, **kwargs):
    """A sweep store as an xarray Dataset, loaded, with every point that is not done masked;
    safe while a sweep still writes it (see :func:`epmsweep.sweep.store.open_store`)."""
    from epmsweep.sweep.store import open_store as _open_store

    return _open_store(path, **kwargs)

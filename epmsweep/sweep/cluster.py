"""Where the points of a sweep run.

* ``local`` (default): a ``distributed.LocalCluster`` on this machine with one
  single-threaded worker *process* per core (numba kernels hold the GIL-free work in
  one thread; processes avoid contention), ``NUMBA_NUM_THREADS=1`` and the BLAS
  thread variables set to 1 in every worker. Scheduler and dashboard bind to
  127.0.0.1: nothing listens on other interfaces.
* ``sync``: in this process, one point after another (debugging, tests, tiny sweeps).
* ``scheduler=ADDRESS``: connect to an already running cluster; its workers must see
  the store's path (a shared filesystem) and have epmsweep installed.

New backends (HPC batch systems) register a factory in ``_FACTORIES``: a context
manager taking :class:`ClusterOptions` and yielding a ``distributed`` cluster object.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from epmsweep.model import InvalidInput

#: Environment of every worker process: one thread per worker for numba and BLAS.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class ClusterOptions:
    kind: str = "local"
    workers: int | None = None  # local: worker processes (default: one per core)
    scheduler: str | None = None  # address of an existing scheduler, e.g. tcp://10.0.0.5:8786
    dashboard: bool = True


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _local(options: ClusterOptions) -> Iterator[object]:
    from distributed import LocalCluster

    n = options.workers or available_cores()
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:8787" if options.dashboard else None,
                      silence_logs=logging.ERROR, env=WORKER_ENV) as cluster:
        yield cluster


_FACTORIES: dict[str, Callable[[ClusterOptions], contextlib.AbstractContextManager]] = {"local": _local}
KINDS = ("local", "sync")


def validate(options: ClusterOptions) -> None:
    """Refuse impossible cluster options before anything is written."""
    if options.kind not in KINDS:
        raise InvalidInput(f"cluster = {options.kind!r} is not allowed: expected one of {', '.join(KINDS)}")
    if options.workers is not None and options.workers < 1:
        raise InvalidInput(f"workers = {options.workers} is not allowed: expected an integer >= 1")
    if options.scheduler is not None and options.kind == "sync":
        raise InvalidInput("--scheduler and --cluster sync exclude each other")


@contextlib.contextmanager
def connect(options: ClusterOptions) -> Iterator[object | None]:
    """A ``distributed.Client`` for the chosen cluster, or None for ``sync``."""
    validate(options)
    if options.kind == "sync" and options.scheduler is None:
        yield None
        return
    from distributed import Client

    if options.scheduler is not None:
        with Client(options.scheduler) as client:
            yield client
        return
    with _FACTORIES[options.kind](options) as cluster, Client(cluster) as client:
        yield client

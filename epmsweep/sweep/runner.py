"""Running the pending points of a sweep on a cluster, in batches, with progress and failure records.

Work goes out in batches: one batch is one shard of the store (:mod:`epmsweep.sweep.shards`,
about a second of work, one point for expensive models), run as one task that runs its
points in order and writes its shard itself (workers need the store's path: a local
disk for the local cluster, a shared filesystem on HPC) -- so results reach the disk as
soon as they exist and the client never holds them. A batch writes its shard whenever
:data:`FLUSH_SECONDS` have passed since its last write and at its end, so a killed batch
loses at most that much finished work. In an annealed sweep a batch holds whole chains
and runs each from its first point that is not done (see :func:`run_batch`).

A point whose model raises is recorded as failed with its traceback and the sweep goes
on; a task that dies with its worker is retried elsewhere (dask's ``retries`` and the
scheduler's ``allowed-failures``), and one that still cannot complete has its points
recorded as failed by the client. At most a few batches per worker thread are in
flight (a few hundred), so the client and the scheduler hold little at any time. Rerunning the same
command runs exactly the points that are not done -- failed ones included, and done
ones whose stored results fail their checksums.

Ctrl-C cancels what has not finished, closes the cluster and returns: every point is
either done (status written last) or still pending.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dask.utils import format_bytes
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from epmsweep.model import InvalidInput, Model
from epmsweep.model.jit import cached_kernels
from epmsweep.sweep import cluster, store
from epmsweep.sweep.isolated import PointFailed, error_text, run_isolated
from epmsweep.sweep.plan import point_seed
from epmsweep.sweep.shard_io import BatchWriter, find_damage, geometry, load_status, open_group
from epmsweep.sweep.shards import Geometry
from epmsweep.sweep.spec import SweepSpec

#: A batch writes its shard after a point once this many seconds have passed since its last write.
FLUSH_SECONDS = 2.0
#: Batches in flight: this many per worker thread present at the start, and at least
#: MIN_IN_FLIGHT, so that an adaptive batch cluster sees enough queued work to scale up.
IN_FLIGHT_PER_THREAD = 2
MIN_IN_FLIGHT = 256


@dataclass(frozen=True)
class Outcome:
    """State of the store after a run."""

    total: int
    done: int
    failed: int
    pending: int
    ran: int  # points run (or attempted) by this invocation
    interrupted: bool = False


def _sequences(spec: SweepSpec, region: tuple[slice, ...], todo: np.ndarray) -> list[list[tuple[int, ...]]]:
    """The points ``todo`` (flat indices in the shard) as runs: one point each, or in an
    annealed sweep one run per chain, in decreasing order of the annealed axis."""
    shape = tuple(s.stop - s.start for s in region)
    points = [tuple(int(i) for i in np.unravel_index(flat, shape)) for flat in todo]
    if spec.anneal is None:
        return [[p] for p in points]
    axis = list(spec.axes).index(spec.anneal)
    values = spec.axes[spec.anneal]
    runs: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for p in points:
        runs.setdefault(p[:axis] + p[axis + 1:], []).append(p)
    return [sorted(run, key=lambda p: -float(values[p[axis]])) for run in runs.values()]


def _previous_in_chain(spec: SweepSpec, point: tuple[int, ...]) -> tuple[int, ...] | None:
    """The point before ``point`` in its annealing chain (next higher value of the annealed axis)."""
    axis = list(spec.axes).index(spec.anneal)
    values = np.asarray(spec.axes[spec.anneal], dtype=float)
    higher = np.flatnonzero(values > values[point[axis]])
    if not len(higher):
        return None
    return point[:axis] + (int(higher[np.argmin(values[higher])]),) + point[axis + 1:]


def run_batch(path: str, spec_json: str, region: tuple[slice, ...], todo: np.ndarray,
              timeout: float | None = None, model_class: type[Model] | None = None) -> tuple[int, int]:
    """Run the points ``todo`` (flat indices in the shard ``region``) of a batch on a worker and
    write the shard. In an annealed sweep each chain starts from the stored state of the
    point before its first point to run (or the model's own initial state) and stops at a
    failed point: the rest of the chain stays pending, to run again with it. With a
    ``timeout`` each point runs in a child process killed after that many seconds
    (:mod:`epmsweep.sweep.isolated`). The model: ``model_class`` when given (a class the worker
    cannot import, see :func:`class_to_ship`), else found by name after the spec's ``imports``.
    Returns (points done, points failed)."""
    spec = SweepSpec.from_json(spec_json)
    model = model_class() if model_class is not None else spec.model_instance()
    writer = BatchWriter(path, region)
    names, chained = list(spec.axes), spec.anneal is not None
    host = socket.gethostname()
    done = failed = 0
    flushed = time.perf_counter()
    try:
        for run in _sequences(spec, region, todo):
            previous = _previous_in_chain(spec, run[0]) if chained else None
            state = writer.state(previous) if previous is not None else None
            for local in run:
                index = tuple(s.start + i for s, i in zip(region, local))
                swept = {name: spec.axes[name][i] for name, i in zip(names, index)}
                seed = point_seed(spec.seed, swept, index[-1])
                began = time.perf_counter()
                params = {**spec.parameters, **swept}
                try:
                    if timeout is None:
                        result = model.run(params, spec.settings, seed, start=state, hand_over=chained)
                    else:
                        result = run_isolated(model_class or spec.model, spec.imports, params, spec.settings, seed,
                                              state, chained, timeout)
                except Exception as err:  # the model failed for this point: record it, keep the sweep going
                    text = err.text if isinstance(err, PointFailed) else error_text(err)
                    writer.record(local, store.FAILED, {}, time.perf_counter() - began, host, text)
                    failed += 1
                    break  # a chain stops at a failed point
                outputs, state = result if chained else (result, None)
                stored = {store.STATE_PREFIX + k: v for k, v in state.items()} if chained else {}
                writer.record(local, store.DONE, {**outputs, **stored}, time.perf_counter() - began, host, "")
                done += 1
                if time.perf_counter() - flushed >= FLUSH_SECONDS:
                    writer.flush()
                    flushed = time.perf_counter()
    except KeyboardInterrupt:  # in this process (--cluster sync): keep what is finished
        writer.flush()
        raise
    writer.flush()
    return done, failed


def class_to_ship(spec: SweepSpec) -> type[Model] | None:
    """The model's class when it was defined in the client's ``__main__`` (a script or a
    notebook registering it with ``@register``): workers cannot import it by name, so it goes
    with each batch, by value (dask pickles task arguments with cloudpickle). None otherwise:
    workers import the model themselves (built in, entry point, or the spec's ``imports``)."""
    cls = type(spec.model_instance())
    return cls if cls.__module__ == "__main__" else None


class _Batches:
    """The units of work: every shard with points to run, and which. A point runs when it is
    not done or its stored results are damaged; in an annealed sweep also every later
    point of its chain (each starts from the one before)."""

    def __init__(self, spec: SweepSpec, geo: Geometry, todo: np.ndarray, timeout: float | None = None):
        if spec.anneal is not None:
            axis = list(spec.axes).index(spec.anneal)
            order = np.argsort(-np.asarray(spec.axes[spec.anneal], dtype=float), kind="stable")
            along = np.logical_or.accumulate(np.take(todo, order, axis=axis), axis=axis)
            todo = np.empty_like(along)
            np.put_along_axis(todo, order.reshape([-1 if d == axis else 1 for d in range(todo.ndim)]), along, axis)
        self.spec, self.geo, self.todo, self.timeout = spec, geo, todo, timeout
        self.model_class = class_to_ship(spec)
        self.shards = [int(k) for k in geo.any_per_shard(todo)]
        self.n_points = int(todo.sum())

    def call(self, path: str, k: int) -> tuple:
        """The function and arguments of batch (shard) k."""
        region = self.geo.region(k)
        return (run_batch, path, self.spec.to_json(), region, np.flatnonzero(self.todo[region]), self.timeout,
                self.model_class)

    def record_lost(self, path: str, k: int, err: BaseException) -> tuple[int, int]:
        """Record as failed the points of batch k that are not done after its task could not
        complete; (points of the batch done, points recorded failed)."""
        region = self.geo.region(k)
        writer = BatchWriter(path, region)
        status = writer.status()
        todo = np.flatnonzero(self.todo[region])
        lost = [np.unravel_index(flat, status.shape) for flat in todo if status.flat[flat] != store.DONE]
        text = error_text(err)
        for local in lost:
            writer.record(local, store.FAILED, {}, np.nan, "", text)
        writer.flush()
        return len(todo) - len(lost), len(lost)


class _Reporter:
    """Progress bar on a terminal; a plain line every ``every`` seconds otherwise (batch logs)."""

    def __init__(self, console: Console, total: int, label: str, enabled: bool, every: float = 30.0):
        self.console, self.total, self.enabled, self.every = console, total, enabled, every
        self.done = self.failed = 0
        self.start = self.last_line = time.monotonic()
        self.bar = Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                            TextColumn("failed: {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=console, transient=False)
        self.task = self.bar.add_task(label, total=total, failed=0)

    def __enter__(self) -> _Reporter:
        if self.enabled and self.console.is_terminal:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar.live.is_started:
            self.bar.stop()
        elif self.enabled:
            self._line()

    def update(self, done: int, failed: int) -> None:
        """Count a finished batch: its points done and failed."""
        self.done += done + failed
        self.failed += failed
        self.bar.update(self.task, completed=self.done, failed=self.failed)
        now = time.monotonic()
        if self.enabled and not self.console.is_terminal and now - self.last_line >= self.every:
            self._line()

    def _line(self) -> None:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        self.console.print(f"{self.done}/{self.total} points, {self.failed} failed, "
                           f"{elapsed:.0f} s elapsed, ETA {eta:.0f} s")
        self.last_line = time.monotonic()


def check_memory(spec: SweepSpec, options: cluster.ClusterOptions) -> None:
    """Refuse a sweep whose largest point (the model's estimate, at every corner of the grid)
    needs more memory than a worker has; nothing is checked where either is unknown."""
    limit = cluster.worker_memory(options)
    if limit is None:
        return
    model, names = spec.model_instance(), list(spec.axes)
    worst, where = 0.0, {}
    for corner in itertools.product(*((min(v), max(v)) for v in spec.axes.values())):
        params = {**spec.parameters, **dict(zip(names, corner))}
        need = model.memory_bytes(params, spec.settings) or 0.0
        if need > worst:
            worst, where = need, dict(zip(names, corner))
    if worst > limit[0]:
        at = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in where.items())
        raise InvalidInput(f"the largest point ({at}) needs about {format_bytes(worst)} of memory (the model's "
                           f"estimate), more than a worker has ({format_bytes(limit[0])}: {limit[1]}); use fewer "
                           "workers, more memory per job (--memory) or smaller points")


def run_sweep(spec: SweepSpec, path: str | Path, options: cluster.ClusterOptions = cluster.ClusterOptions(),
              overwrite: bool = False, progress: bool = True, console: Console | None = None,
              retries: int = 2, timeout: float | None = None, command: str | None = None,
              client: object | None = None) -> Outcome:
    """Run every point of ``spec`` that is not done into the store at ``path``.

    Validates the cluster options and claims the store (creating it, or checking that an
    existing one holds the same spec and that no other run holds it) before anything
    runs; bad input raises :class:`epmsweep.model.InvalidInput` with nothing written or
    changed. On resume, the stored results of done points are read and checked, and
    damaged ones run again. ``timeout``: seconds after which a point is stopped and
    recorded as failed (each point then runs in a child process). ``command``: what to record
    in the store's history (default: this process's command line). ``client``: run on this
    ``distributed.Client`` (left open) or cluster object (a client is made for the run and
    closed; the cluster is left running) instead of the one ``options`` describe.
    """
    console = console or Console(stderr=True, markup=False, highlight=False)
    if timeout is not None and not timeout > 0:
        raise InvalidInput(f"timeout = {timeout!r} is not allowed: expected a number of seconds > 0")
    if client is not None:
        _check_client(client)
    else:
        cluster.validate(options)
        check_memory(spec, options)
        if options.scheduler is not None:
            cluster.probe_scheduler(options)
    path = str(Path(path))
    with store.claim(path, spec, overwrite, command) as (created, spec, note):
        if note:
            console.print(note)
        status, unreadable = load_status(path)
        damaged = unreadable | (np.zeros_like(unreadable) if created else find_damage(path, status))
        batches = _Batches(spec, geometry(open_group(path)), (status != store.DONE) | damaged, timeout)
        n_done = int((status == store.DONE).sum() - (damaged & (status == store.DONE)).sum())
        if created:
            console.print(f"store {path}: new, {spec.n_points} points in {len(batches.shards)} batches"
                          + (f", annealed along {spec.anneal}" if spec.anneal else ""))
        else:
            console.print(f"store {path}: resuming, {n_done} of {spec.n_points} points done, "
                          f"{batches.n_points} to run")
        if damaged.any():
            console.print(f"{int(damaged.sum())} points have damaged or unreadable results in the store "
                          "(checksum mismatch, missing or truncated file): running them again")
        interrupted = False
        kernels, cached = cached_kernels(type(spec.model_instance()).__module__)
        if batches.shards and kernels and not cached:
            console.print("compiling the model's numba kernels (first run only: up to a few minutes; numba's cache "
                          "keeps them for later runs and for every worker that shares this installation)")
        if batches.shards:
            if options.kind in cluster.JOBQUEUE and not cluster.tls_on(options):
                console.print("warning: TLS is off (--no-tls): anyone who can reach the scheduler's port can run "
                              "code as you on this cluster")
            with _connection(client, options, Path(path).resolve().parent) as running:
                if running is not None and options.dashboard and getattr(running, "dashboard_link", None):
                    console.print(f"dashboard: {running.dashboard_link}")
                with _Reporter(console, batches.n_points, f"{spec.model} {spec.name}", progress) as reporter:
                    try:
                        if running is None:
                            _run_here(path, batches, reporter)
                        else:
                            _run_on_cluster(running, path, batches, reporter, retries)
                    except KeyboardInterrupt:
                        interrupted = True
        final = store.read_status(path)
    outcome = Outcome(int(final.size), int((final == store.DONE).sum()), int((final == store.FAILED).sum()),
                      int((final == store.PENDING).sum()), batches.n_points, interrupted)
    if interrupted:
        console.print(f"interrupted: {outcome.done} done, {outcome.failed} failed, {outcome.pending} pending; "
                      "run the same command again to resume")
    return outcome


@contextlib.contextmanager
def _connection(given: object | None, options: cluster.ClusterOptions, store_dir: Path) -> Iterator[object | None]:
    """The client to run on: ``given`` (a Client, or a client made for a given cluster object),
    else one for the cluster ``options`` describe (None for ``sync``)."""
    if given is None:
        with cluster.certificates_beside(options, store_dir) as run_options, cluster.connect(run_options) as client:
            yield client
        return
    from distributed import Client

    if isinstance(given, Client):
        yield given
        return
    with Client(given, security=getattr(given, "security", None), set_as_default=False) as client:
        yield client


def _check_client(given: object) -> None:
    from distributed import Client

    if not isinstance(given, Client) and not hasattr(given, "scheduler_address"):
        raise InvalidInput(f"client = {type(given).__name__} object is not allowed: expected a distributed.Client or "
                           "a cluster object (LocalCluster, SLURMCluster, ...)")


def _run_here(path: str, batches: _Batches, reporter: _Reporter) -> None:
    for k in batches.shards:
        fn, *args = batches.call(path, k)
        reporter.update(*fn(*args))


def _run_on_cluster(client, path: str, batches: _Batches, reporter: _Reporter, retries: int) -> None:
    """Submit the batches, a bounded number (see IN_FLIGHT_PER_THREAD) at a time."""
    from distributed import as_completed

    threads = sum(client.nthreads().values()) or 1
    queue = iter(batches.shards)
    futures: dict = {}

    def submit_next() -> object | None:
        k = next(queue, None)
        if k is None:
            return None
        future = client.submit(*batches.call(path, k), retries=retries, pure=False)
        futures[future] = k
        return future

    for _ in range(max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)):
        submit_next()
    pending = as_completed(list(futures))
    try:
        for future in pending:
            k = futures.pop(future)
            try:
                done, failed = future.result()
            except Exception as err:  # the task itself could not complete (e.g. its worker kept dying)
                done, failed = batches.record_lost(path, k, err)
            reporter.update(done, failed)
            new = submit_next()
            if new is not None:
                pending.add(new)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise

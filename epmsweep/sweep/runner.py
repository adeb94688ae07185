"""Running the pending points of a sweep on a cluster, with progress and failure records.

Each pending point is one task (in an annealed sweep, each chain from its first pending
point on: see :func:`run_chain`). The task runs the model and writes the point's
outputs into the store itself (workers need the store's path: a local disk for the
local cluster, a shared filesystem on HPC) -- so results reach the disk as soon as
they exist and the client never holds them; two points never share a chunk, so the
writes need no locks. A point whose model raises is recorded as failed with its
traceback and the sweep goes on; a task that dies with its worker is retried
elsewhere (dask's ``retries`` and the scheduler's ``allowed-failures``), and one that
still cannot complete is recorded as failed by the client. Rerunning the same
command runs exactly the points that are not done, failed ones included.

Ctrl-C cancels what has not finished, closes the cluster and returns: every point is
either done (status written last) or still pending.
"""

from __future__ import annotations

import math
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from epmsweep.model import get_model
from epmsweep.model.core import Value
from epmsweep.sweep import cluster, store
from epmsweep.sweep.plan import chains, expand
from epmsweep.sweep.spec import SweepSpec


@dataclass(frozen=True)
class Outcome:
    """State of the store after a run."""

    total: int
    done: int
    failed: int
    pending: int
    ran: int  # points run (or attempted) by this invocation
    interrupted: bool = False


def error_text(err: BaseException) -> str:
    """``Type: message`` on the first line, then the traceback."""
    tb = "".join(traceback.format_exception(err))
    return f"{type(err).__name__}: {err}\n\n{tb}"


def _run_and_write(path: str, model_name: str, params: Mapping[str, Value], settings: Mapping[str, Value],
                   index: tuple[int, ...], seed: int, start: Mapping[str, np.ndarray] | None,
                   chained: bool) -> tuple[int, str, dict[str, np.ndarray] | None]:
    """Run one point (from ``start``; with ``chained`` also keeping the state it hands on)
    and write it into the store, or record its failure. Returns (status, error's first
    line, the state handed on)."""
    host = socket.gethostname()
    began = time.perf_counter()
    try:
        result = get_model(model_name).run(params, settings, seed, start=start, hand_over=chained)
    except Exception as err:  # the model failed for this point: record it, keep the sweep going
        text = error_text(err)
        store.writer(path).failed(index, text, time.perf_counter() - began, host)
        return store.FAILED, text.splitlines()[0], None
    outputs, state = result if chained else (result, None)
    stored = {store.STATE_PREFIX + k: v for k, v in state.items()} if chained else {}
    store.writer(path).done(index, {**outputs, **stored}, time.perf_counter() - began, host)
    return store.DONE, "", state


def run_point(path: str, model_name: str, params: Mapping[str, Value], settings: Mapping[str, Value],
              index: tuple[int, ...], seed: int) -> tuple[tuple[int, ...], int, str]:
    """Run one point and write it into the store (on a worker). Returns (index, status, error's first line)."""
    status, line, _ = _run_and_write(path, model_name, params, settings, index, seed, None, False)
    return index, status, line


def run_chain(path: str, model_name: str, settings: Mapping[str, Value],
              points: list[tuple[tuple[int, ...], dict[str, Value], int]],
              start_from: tuple[int, ...] | None) -> list[tuple[tuple[int, ...], int, str]]:
    """Run the points of an annealing chain in order (on a worker), each from the final state
    of the one before, and write each point with the state it hands on; the first starts
    from the stored state of the done point ``start_from`` (the chain's previous point), or
    from the model's own initial state. Stops at a failed point: the rest of the chain stays
    pending (it has no state to start from) and is run again with it. Returns (index,
    status, error's first line) of the points run."""
    state = store.writer(path).state(start_from) if start_from is not None else None
    results = []
    for index, params, seed in points:
        status, line, state = _run_and_write(path, model_name, params, settings, index, seed, state, True)
        results.append((index, status, line))
        if status == store.FAILED:
            break
    return results


class _Tasks:
    """The units of work: single points, or the pending part of each chain of an annealed
    sweep with the done point whose stored state it starts from."""

    def __init__(self, spec: SweepSpec, status: np.ndarray):
        self.spec = spec
        points = list(expand(spec))
        if spec.anneal is None:
            self.units = [[p] for p in points if status[p.index] != store.DONE]
            self.starts: list[tuple[int, ...] | None] = [None] * len(self.units)
        else:
            self.units, self.starts = [], []
            for chain in chains(spec, points):
                todo = next((k for k, p in enumerate(chain) if status[p.index] != store.DONE), None)
                if todo is not None:
                    self.units.append(chain[todo:])
                    self.starts.append(chain[todo - 1].index if todo else None)
        self.n_points = sum(map(len, self.units))

    def call(self, path: str, k: int) -> tuple:
        """The function and arguments of unit k."""
        unit = self.units[k]
        if self.spec.anneal is None:
            p = unit[0]
            return run_point, path, self.spec.model, p.params, self.spec.settings, p.index, p.seed
        return (run_chain, path, self.spec.model, self.spec.settings, [(p.index, p.params, p.seed) for p in unit],
                self.starts[k])


def _statuses(result) -> list[tuple[tuple[int, ...], int, str]]:
    return result if isinstance(result, list) else [result]


class _Reporter:
    """Progress bar on a terminal; a plain line every ``every`` seconds otherwise (batch logs)."""

    def __init__(self, console: Console, total: int, label: str, enabled: bool, every: float = 30.0):
        self.console, self.total, self.enabled, self.every = console, total, enabled, every
        self.done = self.failed = 0
        self.start = self.last_line = time.monotonic()
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
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

    def update(self, status: int) -> None:
        self.done += 1
        self.failed += status == store.FAILED
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


def run_sweep(spec: SweepSpec, path: str | Path, options: cluster.ClusterOptions = cluster.ClusterOptions(),
              overwrite: bool = False, progress: bool = True, console: Console | None = None,
              retries: int = 2) -> Outcome:
    """Run every point of ``spec`` that is not done into the store at ``path``.

    Validates the cluster options and prepares the store (creating it, or checking that
    an existing one holds the same spec) before anything runs; bad input raises
    :class:`epmsweep.model.InvalidInput` with nothing written or changed.
    """
    console = console or Console(stderr=True)
    cluster.validate(options)
    path = str(Path(path))
    created, spec = store.prepare(path, spec, overwrite)
    status = store.read_status(path)
    tasks = _Tasks(spec, status)
    n_done = spec.n_points - tasks.n_points
    if created:
        console.print(f"store {path}: new, {spec.n_points} points" +
                      (f" in {len(tasks.units)} chains annealed along {spec.anneal}" if spec.anneal else ""))
    else:
        console.print(f"store {path}: resuming, {n_done} of {spec.n_points} points done, {tasks.n_points} to run")
    interrupted = False
    if tasks.units:
        with cluster.connect(options) as client:
            if client is not None and options.dashboard and getattr(client, "dashboard_link", None):
                console.print(f"dashboard: {client.dashboard_link}")
            with _Reporter(console, tasks.n_points, f"{spec.model} {spec.name}", progress) as reporter:
                try:
                    if client is None:
                        _run_here(path, tasks, reporter)
                    else:
                        _run_on_cluster(client, path, tasks, reporter, retries)
                except KeyboardInterrupt:
                    interrupted = True
    final = store.read_status(path)
    outcome = Outcome(int(final.size), int((final == store.DONE).sum()), int((final == store.FAILED).sum()),
                      int((final == store.PENDING).sum()), tasks.n_points, interrupted)
    if interrupted:
        console.print(f"interrupted: {outcome.done} done, {outcome.failed} failed, {outcome.pending} pending; "
                      "run the same command again to resume")
    return outcome


def _run_here(path: str, tasks: _Tasks, reporter: _Reporter) -> None:
    for k in range(len(tasks.units)):
        fn, *args = tasks.call(path, k)
        for _, status, _ in _statuses(fn(*args)):
            reporter.update(status)


def _run_on_cluster(client, path: str, tasks: _Tasks, reporter: _Reporter, retries: int) -> None:
    from distributed import as_completed

    futures = {client.submit(*tasks.call(path, k), retries=retries, pure=False): k for k in range(len(tasks.units))}
    try:
        for future in as_completed(futures):
            k = futures.pop(future)
            try:
                results = _statuses(future.result())
            except Exception as err:  # the task itself could not complete (e.g. its worker kept dying)
                status = store.read_status(path)
                results = [(p.index, store.FAILED, "") for p in tasks.units[k] if status[p.index] != store.DONE][:1]
                for index, _, _ in results:
                    store.writer(path).failed(index, error_text(err), np.nan, "")
            for _, status, _ in results:
                reporter.update(status)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise

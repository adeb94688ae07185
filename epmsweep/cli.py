"""The ``epmsweep`` command line (typer). Thin: parse, call ``sweep`` and ``analysis``, print.

Exit codes: 0 all points done; 1 some point failed (or is still pending); 2 bad input
(nothing written or changed); 130 interrupted with Ctrl-C, 143 stopped by SIGTERM, 129 by
SIGHUP (rerun to resume).
"""

from __future__ import annotations

import difflib
import functools
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import epmsweep
from epmsweep.model import InvalidInput, available_models, get_model
from epmsweep.model.core import brief
from epmsweep.stopping import stop_signals_as_interrupts
from epmsweep.sweep import cluster, lock
from epmsweep.sweep.spec import MAX_POINTS, build_spec, load_spec_file, resolve_imports, split_assignments

app = typer.Typer(
    name="epmsweep",
    help="Parameter sweeps of thermal elastoplastic models into one labelled Zarr store. "
         "Add --debug to any command to see the Python traceback of an error.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# User text (paths, names, error messages) is never read as rich markup.
out_console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)

EXIT_DONE, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Failed points listed by ``status`` (the rest are counted).
FAILURES_LISTED = 20


def _print_version(value: bool) -> None:
    if value:
        from epmsweep.sweep.provenance import git_commit

        commit = git_commit()
        out_console.print(f"epmsweep {epmsweep.__version__}" + (f" (git {commit})" if commit else ""), soft_wrap=True)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                   help="Print the version and exit.")] = False) -> None:
    """Parameter sweeps of thermal elastoplastic models into one labelled Zarr store."""


def _point_label(where: dict) -> str:
    """A point's coordinates as NAME=VALUE, ..."""
    return ", ".join(f"{k}={v:g}" for k, v in where.items())


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    err_console.print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


def _parse_axis_options(args: list[str]) -> dict[str, str]:
    """``--NAME VALUES`` (or ``--NAME=VALUES``) pairs left over by typer: the sweep axes."""
    axes: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise InvalidInput(f"unexpected argument {token!r}: axes are given as --NAME VALUES, e.g. --T 0.1,0.2")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise InvalidInput(f"axis {name}: no values given after --{name}")
            value = args[i + 1]
            i += 1
        if name in axes:
            raise InvalidInput(f"axis {name}: given twice")
        _not_a_mistyped_option(name)
        axes[name] = value
        i += 1
    return axes


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # e.g. a name too long to be a path
        return False


@functools.cache
def _run_options() -> frozenset[str]:
    """Every option of the ``run`` command (``--out``, ``--no-progress``, ``-o``, ...)."""
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    return frozenset(opt for param in command.params for opt in (*param.opts, *param.secondary_opts))


def _not_a_mistyped_option(name: str) -> None:
    """An axis name that is close to an option of ``run`` (``--replica``) and no model's
    parameter (checked only then: it imports every model)."""
    options = sorted(opt[2:] for opt in _run_options() if opt.startswith("--"))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    if close and not any(name in get_model(model).parameters for model in available_models()):
        raise InvalidInput(f"unknown option --{brief(name)[1:-1]}: did you mean --{close[0]}? (axes are model "
                           "parameters: `epmsweep models` lists them)")


RUN_EPILOG = """
**Examples**

    epmsweep run examples/quickstart.toml

    epmsweep run meanfield --T 0.05:1:12:log --alpha 0.11 --replicas 4 --set N=1000 --out sweep.zarr

    epmsweep run meanfield --T 0.1,0.2,0.5 --alpha 0.08,0.11 --set duration=200 --workers 2 --out s.zarr

    epmsweep run lattice --T 0.2,0.1,0.07 --anneal T --replicas 4 --set L=128 --out thermal.zarr

    epmsweep run lattice --set rules=ferrero-random --activity-from thermal.zarr --out random.zarr

    epmsweep run examples/paper000_meanfield.toml --cluster slurm --cores 16 --memory 32GB --walltime 04:00:00 --adapt 1:20

    epmsweep run examples/quickstart.toml --cluster pbs --cores 8 --memory 16GB --queue short --dry-run

Axis values: `0.1,0.2,0.5` (list), `start:stop:num` (linear), `start:stop:num:log` (geometric).
Any model parameter can be an axis (`epmsweep models` lists them). Running the same command
again resumes: only points that are not done run. Exit codes: 0 all done, 1 a point failed,
2 bad input, 130 interrupted (143 SIGTERM, 129 SIGHUP).
"""


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, epilog=RUN_EPILOG)
def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A spec file (SPEC.toml) or a model name for an inline sweep.",
                                          metavar="SPEC.toml|MODEL")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output store (default: the spec's `out`, else NAME.zarr).")] = None,
    replicas: Annotated[int | None, typer.Option(help="Independent replicas per grid point.")] = None,
    assignments: Annotated[list[str] | None, typer.Option("--set", help="Fixed parameter or setting, NAME=VALUE (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option(help="Root seed of the sweep.")] = None,
    name: Annotated[str | None, typer.Option(help="Sweep name (default: the spec file's stem, or 'sweep').")] = None,
    anneal: Annotated[str | None, typer.Option(help="Anneal along this axis (e.g. T): each chain runs its values from "
                                               "high to low, each point starting from the previous one's state.")] = None,
    imports: Annotated[list[str] | None, typer.Option(
        "--import", help="A module or .py file that registers models (repeatable): imported here and on every "
                         "worker.", metavar="MODULE|FILE.py")] = None,
    activity_from: Annotated[Path | None, typer.Option(
        help="Axis `target_activity` = the mean activity (over done replicas) of every grid point of this store: "
             "the random model at the activities of a thermal sweep.", metavar="STORE")] = None,
    cluster_kind: Annotated[str, typer.Option("--cluster", help="Where to run: local (default), sync (in-process), "
                                              "slurm, pbs, sge, lsf or htcondor.")] = "local",
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core).")] = None,
    oversubscribe: Annotated[bool, typer.Option(help="Allow --workers above the number of cores.")] = False,
    scheduler: Annotated[str | None, typer.Option(help="Address of a running dask scheduler, e.g. tcp://host:8786.")] = None,
    cores: Annotated[int | None, typer.Option(help="Batch: cores per job (one single-threaded worker each).")] = None,
    memory: Annotated[str | None, typer.Option(help="Batch: memory per job, e.g. 16GB.")] = None,
    walltime: Annotated[str | None, typer.Option(help="Batch: walltime per job, [D-]HH:MM:SS; workers retire before it.")] = None,
    queue: Annotated[str | None, typer.Option(help="Batch: queue or partition.")] = None,
    account: Annotated[str | None, typer.Option(help="Batch: account or project to charge.")] = None,
    jobs: Annotated[int | None, typer.Option(help="Batch: number of jobs to keep running (default 1).")] = None,
    adapt: Annotated[str | None, typer.Option(help="Batch: scale adaptively between MIN:MAX jobs.")] = None,
    job_extra: Annotated[list[str] | None, typer.Option("--job-extra", help="Batch: extra scheduler directive (repeatable).")] = None,
    interface: Annotated[str | None, typer.Option(help="Batch: network interface for scheduler and workers, e.g. ib0.")] = None,
    tls: Annotated[bool | None, typer.Option("--tls/--no-tls", help="Encrypt and authenticate scheduler, worker and "
                                             "client traffic with certificates made for the run (default: on for "
                                             "batch clusters, off for the local one).", show_default=False)] = None,
    tls_ca_file: Annotated[str | None, typer.Option(help="--scheduler with TLS: the cluster's CA certificate (PEM).")] = None,
    tls_cert: Annotated[str | None, typer.Option(help="--scheduler with TLS: this client's certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option(help="--scheduler with TLS: this client's private key (PEM).")] = None,
    dashboard_address: Annotated[str, typer.Option(help="Where the dashboard listens.")] = "127.0.0.1:8787",
    dry_run: Annotated[bool, typer.Option(help="Batch: print the job script and exit.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store that holds a different sweep.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Stop a point after this many seconds and record it as failed "
                                                  "(each point then runs in a child process).")] = None,
    max_points: Annotated[int, typer.Option(help="Refuse sweeps with more points than this.", min=1)] = MAX_POINTS,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """Run a sweep (or resume it) into a Zarr store."""
    from epmsweep.sweep.runner import run_sweep

    try:
        options = cluster.ClusterOptions(
            cluster_kind, workers, scheduler, True, dashboard_address, tls, cores, memory, walltime, queue, account,
            jobs, _parse_adapt(adapt), tuple(job_extra or ()), interface, oversubscribe,
            tls_ca_file=tls_ca_file, tls_cert=tls_cert, tls_key=tls_key)
        if dry_run:
            if cluster_kind not in cluster.JOBQUEUE:
                raise InvalidInput(f"--dry-run prints a batch job script; --cluster {cluster_kind} submits no jobs")
            print(cluster.job_script(options))
            raise typer.Exit(EXIT_DONE)
        extra_imports = resolve_imports(imports or [])
        axes = _parse_axis_options(list(ctx.args))
        if activity_from is not None:
            if "target_activity" in axes:
                raise InvalidInput("axis target_activity: given twice (as --target_activity and by --activity-from)")
            axes["target_activity"] = _thermal_activities(activity_from)
        if target.endswith(".toml") or (target not in available_models() and _is_file(target)):
            spec = load_spec_file(target, axes, assignments or [], max_points, extra_imports, replicas=replicas,
                                  seed=seed, name=name, anneal=anneal)
        else:
            parameters, settings = split_assignments(target, assignments or [])
            spec = build_spec(target, axes, parameters, settings, 1 if replicas is None else replicas,
                              0 if seed is None else seed, name or "sweep", anneal=anneal, max_points=max_points,
                              imports=extra_imports)
        path = out or Path(spec.out or f"{spec.name}.zarr")
        with stop_signals_as_interrupts(lambda: lock.release(Path(path))) as received:
            try:
                outcome = run_sweep(spec, path, options, overwrite, progress, err_console, timeout=timeout,
                                    command=(ctx.obj or {}).get("command"))
            except KeyboardInterrupt:  # before any point ran: nothing to report but the exit
                err_console.print("interrupted before the sweep started; run the same command again")
                raise typer.Exit(128 + received[0] if received else EXIT_INTERRUPTED) from None
    except InvalidInput as err:
        raise _fail(str(err)) from None
    _print_table(path)
    out_console.print(f"store: {Path(path).resolve()}  ({outcome.done} done, {outcome.failed} failed, "
                      f"{outcome.pending} pending of {outcome.total})")
    if outcome.interrupted:
        if received and received[0] != signal.SIGINT:
            err_console.print(f"stopped by {signal.Signals(received[0]).name}")
        raise typer.Exit(128 + received[0] if received else EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_DONE if outcome.done == outcome.total else EXIT_FAILED)


def _print_table(path: Path) -> None:
    from epmsweep.analysis.summary import scalar_table

    summary = scalar_table(path, width=out_console.width)
    n = summary.n_points
    table = Table(*summary.header, title=f"{n} grid points" + (f" (first {len(summary.rows)})" if len(summary.rows) < n
                                                                else "") + ", mean ± standard error over replicas",
                  caption=f"not shown: {', '.join(summary.left_out)} (epmsweep show STORE lists every output)"
                  if summary.left_out else None)
    for row in summary.rows:
        table.add_row(*row)
    out_console.print(table)


def _print_flagged(flagged: list[tuple[dict, str]]) -> None:
    if not flagged:
        return
    out_console.print(f"  {len(flagged)} done points to check: run longer (max_burn_in, max_duration) or read "
                      f"them with care")
    table = Table("point", "why", title="points not shown stationary, short of the target error or with an "
                                        "observable not measured")
    for where, why in flagged:
        table.add_row(_point_label(where), why)
    out_console.print(table)


@app.command(epilog="**Example**\n\n    epmsweep status sweep.zarr\n\nExit code 0 when every point is done, 1 otherwise, 2 if STORE is not a sweep store.")
def status(store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")]) -> None:
    """Done / pending / failed counts, the failed points with their errors, wall-time statistics."""
    from epmsweep.sweep import store

    try:
        info = store.summary(store_path)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    spec = info["spec"]
    out_console.print(f"{store_path}: model {spec.model}, sweep {spec.name!r}, {info['total']} points")
    out_console.print(f"  done {info['done']}   pending {info['pending']}   failed {info['failed']}")
    if info["unreadable"]:
        out_console.print(f"  {info['unreadable']} points with an unreadable status (damaged chunks; counted as "
                          "pending: the next run runs them again; `epmsweep verify` checks every result)")
    if info["holder"] is not None:
        out_console.print(f"  in use by a run: {info['holder'].describe()}")
    wall = info["wall"]
    if wall.size:
        out_console.print(f"  wall time per point: mean {wall.mean():.3g} s, median {np.median(wall):.3g} s, "
                          f"max {wall.max():.3g} s; total {wall.sum() / 3600:.3g} core-hours")
    if info["failures"]:
        shown = info["failures"][:FAILURES_LISTED]
        more = len(info["failures"]) - len(shown)
        table = Table("point", "error", title="failed points" + (f" (first {len(shown)})" if more else ""))
        for where, first_line in shown:
            table.add_row(_point_label(where), first_line)
        out_console.print(table)
    _print_flagged(info["flagged"])
    raise typer.Exit(EXIT_DONE if info["done"] == info["total"] else EXIT_FAILED)


@app.command(epilog="**Example**\n\n    epmsweep verify sweep.zarr\n\nExit code 0 when every done point reads back "
                     "intact, 1 when some are damaged, 2 if STORE is not a sweep store.")
def verify(store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")]) -> None:
    """Read every done point back and check its checksums; list damaged points (a run of the sweep redoes them)."""
    from epmsweep.sweep import store

    try:
        report = store.verify(store_path)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    n_bad = report["total"]
    out_console.print(f"{store_path}: {report['done']} done points read back; {n_bad} points damaged "
                      f"({report['damaged']} done points with damaged results, {report['unreadable']} with an "
                      "unreadable status)")
    for where in report["points"]:
        out_console.print("  " + _point_label(where))
    if n_bad > len(report["points"]):
        out_console.print(f"  ... and {n_bad - len(report['points'])} more")
    if n_bad:
        out_console.print("run the sweep's command again to recompute them")
    raise typer.Exit(EXIT_FAILED if n_bad else EXIT_DONE)


@app.command(epilog="**Example**\n\n    epmsweep show sweep.zarr")
def show(store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")]) -> None:
    """Axes, outputs and units of a store."""
    import xarray as xr

    from epmsweep.sweep import store
    from epmsweep.sweep.cf import shown_units

    try:
        spec = store.read_spec(store_path)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    ds = xr.open_zarr(store_path)
    out_console.print(f"{store_path}: model {spec.model}, sweep {spec.name!r}, seed {spec.seed}, created "
                      f"{ds.attrs.get('created')}, epmsweep {ds.attrs.get('epmsweep_version')}"
                      + (f", annealed along {spec.anneal} (high to low)" if spec.anneal else ""))
    axes = Table("axis", "size", "values", "units", "meaning", title="axes")
    for dim in ds.status.dims:
        values = ds[dim].values
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
        axes.add_row(dim, str(values.size), shown, shown_units(ds[dim].attrs), ds[dim].attrs.get("long_name", ""))
    out_console.print(axes)
    outputs = Table("variable", "dims", "units", "meaning", title="variables")
    for name, var in ds.data_vars.items():
        outputs.add_row(name, ", ".join(var.dims), shown_units(var.attrs), var.attrs.get("long_name", ""))
    out_console.print(outputs)
    fixed = Table("name", "value", title="fixed parameters and settings")
    for k, v in {**spec.parameters, **spec.settings}.items():
        fixed.add_row(k, str(v))
    out_console.print(fixed)
    _print_flagged(store.summary(store_path)["flagged"])


@app.command(epilog="**Example**\n\n    epmsweep export sweep.zarr sweep.nc\n\nPoints that are not done are "
                     "written as missing values. Needs the netCDF4 (or h5netcdf) package.")
def export(store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")],
           output: Annotated[Path, typer.Argument(metavar="FILE.nc", help="The NetCDF file to write.")]) -> None:
    """Write a store as one CF-1.10 NetCDF-4 file (for tools that read NetCDF, not Zarr)."""
    from epmsweep.sweep import store
    from epmsweep.sweep.cf import to_netcdf

    try:
        store.read_spec(store_path)
        written = to_netcdf(store.open_store(store_path), output)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    out_console.print(f"wrote {written}")


@app.command(epilog="**Examples**\n\n    epmsweep models\n\n    epmsweep models meanfield\n\n"
             "    epmsweep models --import my_models.py")
def models(name: Annotated[str | None, typer.Argument(help="Show only this model.")] = None,
           imports: Annotated[list[str] | None, typer.Option(
               "--import", help="A module or .py file that registers models (repeatable).",
               metavar="MODULE|FILE.py")] = None) -> None:
    """Every model (built in, installed by entry point, or imported) with its parameters (bounds, units,
    meaning) and settings."""
    try:
        resolve_imports(imports or [])
        names = [get_model(name).name] if name else available_models()
    except InvalidInput as err:
        raise _fail(str(err)) from None
    for model_name in names:
        model = get_model(model_name)
        out_console.print(Text.assemble("\n", (model.name, "bold"), f": {model.description}"))
        for title, fields in (("parameters (any can be an axis)", model.parameters), ("settings", model.settings)):
            table = Table("name", "default", "allowed", "units", "meaning", title=title, title_justify="left")
            for key, f in fields.items():
                table.add_row(key, str(f.default), f.allowed(), f.units, f.doc)
            out_console.print(table)


def _thermal_activities(path: Path) -> list[float]:
    """--activity-from: the replica-mean activity of every grid point of a store."""
    from epmsweep.analysis.selection import grid_means

    return grid_means(_open_for_analysis(path)[0], "activity")


def _parse_adapt(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(lo), int(hi)
    except ValueError:
        raise InvalidInput(f"--adapt {text!r}: expected MIN:MAX, e.g. --adapt 1:20") from None


def _parse_selection(items: list[str] | None) -> dict[str, float]:
    sel = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        try:
            if not eq:
                raise ValueError
            sel[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"--sel {item!r}: expected NAME=NUMBER, e.g. --sel alpha=0.11") from None
    return sel


def _open_for_analysis(store_path: Path):
    import xarray as xr

    from epmsweep.sweep import store

    spec = store.read_spec(store_path)
    return xr.open_zarr(store_path), spec


@app.command(epilog="**Examples**\n\n    epmsweep plot sweep.zarr arrhenius -o arrhenius.png\n\n"
             "    epmsweep plot sweep.zarr p-sigma-low-t --sel alpha=0.11\n\n"
             "    epmsweep plot thermal.zarr diffusion --reference random.zarr\n\nWithout KIND, lists the figures the store supports.")
def plot(
    store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")],
    kind: Annotated[str | None, typer.Argument(help="Figure kind (omit to list them).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Image file (default: KIND.png).")] = None,
    sel: Annotated[list[str] | None, typer.Option("--sel", help="Fix another axis, NAME=VALUE (repeatable).")] = None,
    reference: Annotated[Path | None, typer.Option(help="Another store to overlay (e.g. the random model in diffusion).")] = None,
) -> None:
    """Draw one figure of the papers from a store, with the theory overlaid."""
    from epmsweep.analysis import figures
    from epmsweep.analysis.selection import checked_selection

    try:
        ds, spec = _open_for_analysis(store_path)
        kinds = figures.supported(ds, spec)
        if kind is None:
            for k in kinds:
                out_console.print(f"{k:18s} {figures.FIGURES[k].title}")
            if not kinds:
                out_console.print("no figure applies to this store")
            return
        if kind not in kinds:
            raise InvalidInput(f"figure {brief(kind)} does not apply to this store; "
                               + (f"available: {', '.join(kinds)}" if kinds else "no figure applies to it"))
        target = _figure_path(output, kind)
        selection = checked_selection(ds, _parse_selection(sel))
        ref = _open_for_analysis(reference)[0] if reference else None
        fig = figures.draw(kind, ds, spec, selection, ref)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    fig.savefig(target, dpi=200, bbox_inches="tight")
    out_console.print(f"wrote {target}")


def _figure_path(output: Path | None, kind: str) -> Path:
    """Where ``plot`` writes: KIND.png by default or inside a directory; a file name with an
    image type matplotlib writes (none: .png), in a directory that exists."""
    from matplotlib.backend_bases import FigureCanvasBase

    if output is None:
        return Path(f"{kind}.png")
    if output.is_dir():
        return output / f"{kind}.png"
    types = FigureCanvasBase.get_supported_filetypes()
    suffix = output.suffix.lower().lstrip(".")
    if not suffix:
        output = output.with_name(output.name + ".png")
    elif suffix not in types:
        raise InvalidInput(f"--output {str(output)!r}: matplotlib cannot write .{brief(suffix)[1:-1]} images; "
                           f"use one of {', '.join('.' + t for t in sorted(types))}")
    if not output.parent.is_dir():
        raise InvalidInput(f"--output {str(output)!r}: the directory {str(output.parent)!r} does not exist")
    return output


@app.command(epilog="**Examples**\n\n    epmsweep fit sweep.zarr arrhenius\n\n    epmsweep fit sweep.zarr power-law --json\n\n"
             "Kinds: arrhenius, arrhenius-k (free prefactor exponent), power-law (MCT-like), high-t, s-q, p-u-tail, psi-tail.")
def fit(
    store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")],
    kind: Annotated[str, typer.Argument(help="Fit kind.")],
    sel: Annotated[list[str] | None, typer.Option("--sel", help="Fix another axis, NAME=VALUE (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Fit a law to a store's results: the parameters with standard errors and units, the window fitted,
    how the errors were estimated, chi2/dof, and notes where the result disagrees with the papers."""
    import json

    from epmsweep.analysis.selection import checked_selection
    from epmsweep.analysis.store_fits import fit_store, notes, summary_lines, table_rows

    try:
        ds, spec = _open_for_analysis(store_path)
        fitted = fit_store(kind, ds, spec, checked_selection(ds, _parse_selection(sel)))
    except InvalidInput as err:
        raise _fail(str(err)) from None
    rows = table_rows(fitted)
    if as_json:
        attrs = {k: fitted.attrs[k] for k in ("law", "window_dim", "window", "n_points", "errors", "chi2_dof")
                 if k in fitted.attrs}
        print(json.dumps({"fit": kind, **attrs, "notes": notes(kind, fitted),
                          "parameters": {n: {"value": v, "error": e, "units": u} for n, v, e, u in rows}}))
        return
    table = Table("parameter", "value", "standard error", "units", title=f"fit {kind}: {fitted.attrs.get('law', '')}")
    for name, value, error, units in rows:
        table.add_row(name, f"{value:.6g}", f"{error:.2g}", units)
    out_console.print(table)
    for line in summary_lines(kind, fitted):
        out_console.print(line)


@app.command(epilog="**Examples**\n\n    epmsweep report sweep.zarr -o report/\n\n"
             "    epmsweep report thermal.zarr --reference random.zarr -o report/\n\n"
             "Then open report/index.html in a browser.")
def report(
    store_path: Annotated[Path, typer.Argument(metavar="STORE", help="A sweep store.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for index.html, the PNGs and PDFs.")] = Path("report"),
    reference: Annotated[Path | None, typer.Option(help="Another store to overlay in grey (e.g. the random model).")] = None,
) -> None:
    """Every figure and fit a store supports, with its metadata, as a static HTML page."""
    from epmsweep.analysis.report import check_report_dir, write_report
    from epmsweep.sweep import store

    try:
        check_report_dir(output)
        store.read_spec(store_path)
        if reference is not None:
            _open_for_analysis(reference)
        result = write_report(store_path, output, reference)
    except InvalidInput as err:
        raise _fail(str(err)) from None
    out_console.print(f"wrote {output / 'index.html'}: {len(result['figures'])} figures, {len(result['fits'])} fitted "
                      f"parameters" + (f"; not drawn: {'; '.join(result['problems'])}" if result["problems"] else ""))


#: A negative number or range after an axis option (``--x -1:1:3``): click would read it as
#: short options (``-1``, ``-:``, ... ``-o g``); it is glued to its option (``--x=-1:1:3``).
_NEGATIVE_VALUE = re.compile(r"-(\d|\.\d|inf)")


def _glue_negative_axis_values(argv: list[str]) -> list[str]:
    """``run``'s unknown ``--NAME`` options (the axes) followed by a negative value, as ``--NAME=VALUE``."""
    if "run" not in argv:
        return argv
    known = _run_options()
    out, i = list(argv[:argv.index("run") + 1]), argv.index("run") + 1
    while i < len(argv):
        token = argv[i]
        if (token.startswith("--") and "=" not in token and token not in known and i + 1 < len(argv)
                and _NEGATIVE_VALUE.match(argv[i + 1])):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
        else:
            out.append(token)
            i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """The ``epmsweep`` command: errors end in one line (and an exit code) unless ``--debug``
    is given, anywhere on the command line, to see the traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = _glue_negative_axis_values([a for a in args if a != "--debug"])
    try:
        app(args=args, prog_name="epmsweep", obj={"command": shlex.join(["epmsweep", *args])})
    except OSError as err:  # the filesystem refused (permissions, disk full, a store made read-only, ...)
        if debug:
            raise
        where = f": {err.filename}" if err.filename else ""
        raise SystemExit(_fail(f"{err.strerror or err}{where}; fix it and run the same command again to resume",
                               EXIT_FAILED).exit_code) from None
    except Exception as err:  # not foreseen: one line, the traceback on request
        if debug:
            raise
        raise SystemExit(_fail(f"internal error: {type(err).__name__}: {err} (run again with --debug for the "
                               "traceback)", EXIT_FAILED).exit_code) from None

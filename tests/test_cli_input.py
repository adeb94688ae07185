"""Bad input through the command line, in-process: each case checks the exit code, the one
message line and that nothing was written (no traceback unless --debug)."""

import errno
import http.server
import json
import os
import threading
from pathlib import Path

import pytest
import xarray as xr

from epmsweep import cli
from epmsweep.sweep import store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

SYNC = ["--cluster", "sync", "--no-progress"]


def invoke(capsys, *args) -> tuple[int, str, str]:
    """Run ``epmsweep ARGS`` in this process: (exit code, stdout, stderr), whitespace folded."""
    try:
        cli.main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out = capsys.readouterr()
    return code, " ".join(out.out.split()), " ".join(out.err.split())


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    """A finished meanfield sweep over T and alpha, for plot, fit, report and --sel."""
    path = tmp_path_factory.mktemp("stores") / "mf.zarr"
    spec = build_spec("meanfield", {"T": "0.3,0.6", "alpha": "0.05,0.11"}, {"N": 20},
                      {"burn_in": 2, "duration": 10, "n_windows": 4, "p_sigma_bins": 12}, 1, 1, "mf")
    run_sweep(spec, path, ClusterOptions(kind="sync"), progress=False)
    return path


@pytest.fixture
def http_server():
    """Something that is not a dask scheduler listening on a local port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.daemon_threads = True  # a handler waiting for a request line must not hold up shutdown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def written(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# ---- run: input refused before anything is written ------------------------------------------
TOML_CASES = [
    ('model = "probe"\naxes = 5', "axes = 5 is not allowed: expected a table [axes]"),
    ('model = "probe"\naxes = "x"', "axes = 'x' is not allowed: expected a table [axes]"),
    ('model = "probe"\nparameters = [1, 2]\n[axes]\nx = 1', "parameters = [1, 2] is not allowed"),
    ('model = "probe"\nsettings = "fast"\n[axes]\nx = 1', "settings = 'fast' is not allowed"),
    ('model = ["probe"]\n[axes]\nx = 1', "model = ['probe'] is not allowed: expected a model name"),
    ('model = {name = "probe"}\n[axes]\nx = 1', "model = {'name': 'probe'} is not allowed"),
    ('model = "probe"\nout = 5\n[axes]\nx = 1', "out = 5 is not allowed: expected a path"),
    ('model = "probe"\nname = 5\n[axes]\nx = 1', "name = 5 is not allowed: expected a string"),
    ('model = "probe"\nseed = 1.5\n[axes]\nx = 1', "seed = 1.5 is not allowed: expected an integer"),
]


@pytest.mark.parametrize(("text", "message"), TOML_CASES)
def test_wrongly_typed_spec_file_values_are_refused(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    Path("s.toml").write_text(text)
    code, _, err = invoke(capsys, "run", "s.toml", *SYNC)
    assert (code, written(tmp_path)) == (2, ["s.toml"]) and message in err, err


@pytest.mark.parametrize(("content", "message"), [
    (bytes(range(256)), "is not UTF-8 text"),
    ('model = "probe"\nname = "Ã©tÃ©"\n'.encode("latin-1", errors="replace") + b"\xe9\n", "is not UTF-8 text"),
    (None, "is a directory, not a TOML file"),
])
def test_unreadable_spec_files_are_refused(tmp_path, capsys, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    if content is None:
        Path("s.toml").mkdir()
    else:
        Path("s.toml").write_bytes(content)
    code, _, err = invoke(capsys, "run", "s.toml", *SYNC)
    assert (code, written(tmp_path)) == (2, ["s.toml"]) and message in err, err


RUN_CASES = [
    # (args, message): exit 2, nothing written
    (["probe", "--x", "1", "--out", "/dev/null"], "'/dev/null' is not a directory (a device, pipe or socket)"),
    (["probe", "--x", "1", "--out", "afile/sub.zarr"], "'afile' is a file, not a directory"),
    (["probe", "--x", "1", "--out", "/proc/epmsweep-test.zarr"], "cannot create the store '/proc/epmsweep-test.zarr'"),
    (["probe", "--x", "1", "--dashboard-address", "garbage", "--cluster", "local"],
     "--dashboard-address 'garbage' is not allowed: expected HOST:PORT"),
    (["probe", "--x", "1", "--scheduler", "http://127.0.0.1:8786"], "--scheduler 'http://127.0.0.1:8786' is not a dask "
                                                                   "scheduler address"),
    (["probe", "--x", "1", "--scheduler", "tcp://127.0.0.1:port"], "is not a dask scheduler address"),
    (["probe", "--x", "1", "--scheduler", "tls://127.0.0.1:8786", "--tls"], "--tls with --scheduler needs the "
                                                                            "certificates of that scheduler's cluster"),
    (["probe", "--x", "1", "--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file", "afile"], "--tls-cert None: not a "
                                                                                            "readable file"),
    (["probe", "--x", "1", "--tls-ca-file", "afile"], "--tls-ca-file, --tls-cert and --tls-key are for --scheduler"),
    (["probe", "--x", "1", "--scheduler", "tls://127.0.0.1:9"], "cannot connect to the dask scheduler at "
                                                                "tls://127.0.0.1:9"),
    (["x" * 100_000, "--x", "1"], "unknown model 'xxxxxxxx"),
    (["probe", "--x", "1", "--name", "n" * 100_000], "name = 'nnnnnnnn"),
    (["probe", "--x", "1", "--name", "a/b"], "without '/'"),
    (["probe", "--x", "1", "--seed", str(2**64)], "seed = 18446744073709551616 is not allowed: expected an integer in "
                                                  "[0, 2^64)"),
    (["probe", "--x", "1", "--seed", "9" * 400], "is not allowed: expected an integer in [0, 2^64)"),
    (["probe", "--x", "-1:1:3:log"], "axis x: geometric range '-1:1:3:log' needs start > 0"),
    (["probe", "--x", "1", "--set", "work=1", "--set", "work=2"], "--set work: given twice"),
    (["probe", "--replica", "2", "--x", "1"], "unknown option --replica: did you mean --replicas?"),
    (["meanfield", "--alfa", "0.1"], "axis alfa: not a parameter of model 'meanfield'; did you mean alpha?"),
    (["[/]", "--x", "1"], "unknown model '[/]'"),
    (["probe", "--x", "1", "--workers", "100000", "--cluster", "local"], "--oversubscribe"),
]


@pytest.mark.parametrize(("args", "message"), RUN_CASES, ids=[" ".join(a)[:40] for a, _ in RUN_CASES])
def test_bad_run_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("a file")
    extra = ["--no-progress"] if "--cluster" in args or "--scheduler" in args else SYNC
    code, out, err = invoke(capsys, "run", *args, *extra)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and err.count("error:") == 1 and len(err) < 600
    assert written(tmp_path) == ["afile"]


def test_something_else_on_the_scheduler_port_is_reported_within_seconds(tmp_path, capsys, monkeypatch, http_server):
    """Before: an HTTP server on the port made the run hang forever (after creating the store)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(capsys, "run", "probe", "--x", "1", "--scheduler", http_server, "--no-progress")
    assert code == 2 and f"cannot connect to the dask scheduler at {http_server}" in err
    assert written(tmp_path) == []


def test_a_closed_scheduler_port_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(capsys, "run", "probe", "--x", "1", "--scheduler", "tcp://127.0.0.1:9", "--no-progress")
    assert code == 2 and "cannot connect to the dask scheduler at tcp://127.0.0.1:9" in err
    assert written(tmp_path) == []


def test_a_symlinked_store_is_not_replaced_by_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(capsys, "run", "probe", "--x", "1", "--out", "real.zarr", *SYNC)[0] == 0
    Path("link.zarr").symlink_to("real.zarr")
    before = written(tmp_path)
    code, _, err = invoke(capsys, "run", "probe", "--x", "2", "--out", "link.zarr", "--overwrite", *SYNC)
    assert code == 2 and "it is a symbolic link" in err and written(tmp_path) == before


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EACCES])
def test_a_disk_that_fills_or_a_store_made_read_only_during_the_run_ends_in_one_line(tmp_path, capsys, monkeypatch,
                                                                                     failure):
    """The store's writes fail mid-run (disk full, permissions taken away): exit 1, one line
    naming the cause and how to resume (before: a traceback)."""
    import zarr.storage._local as local

    monkeypatch.chdir(tmp_path)
    original = local._put

    def failing(path, value, exclusive=False):
        if "/y/c/" in str(path):  # a result written by a batch: the store itself was created fine
            raise OSError(failure, os.strerror(failure), str(path))
        return original(path, value, exclusive=exclusive)

    monkeypatch.setattr(local, "_put", failing)
    code, _, err = invoke(capsys, "run", "probe", "--x", "1,2", "--out", "s.zarr", *SYNC)
    assert code == 1 and os.strerror(failure) in err and "run the same command again to resume" in err
    assert "Traceback" not in err


def test_an_unforeseen_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(store, "summary", lambda path: 1 / 0)
    assert invoke(capsys, "run", "probe", "--x", "1", "--out", "s.zarr", *SYNC)[0] == 0
    code, _, err = invoke(capsys, "status", "s.zarr")
    assert code == 1 and "internal error: ZeroDivisionError: division by zero (run again with --debug" in err
    with pytest.raises(ZeroDivisionError):
        cli.main(["status", "s.zarr", "--debug"])


# ---- run: what works ----------------------------------------------------------------------
def test_user_text_with_brackets_is_printed_as_is(tmp_path, capsys, monkeypatch):
    """Square brackets in names and paths are not rich markup (before: crashes, and a run
    that finished then exited 1)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(capsys, "run", "probe", "--x", "1", "--name", "[bold]x[red]", "--out", "a[/b]c.zarr", *SYNC)
    assert code == 0 and "a[/b]c.zarr" in out, err
    code, out, _ = invoke(capsys, "status", "a[/b]c.zarr")
    assert code == 0 and "sweep '[bold]x[red]'" in out
    code, _, err = invoke(capsys, "models", "[/]")
    assert code == 2 and "unknown model '[/]'" in err


def test_seeds_are_kept_exactly_and_minus_zero_is_zero(tmp_path, capsys, monkeypatch):
    """Before: seeds above 2^53 were rounded (and the rounded one counted as the same sweep)."""
    monkeypatch.chdir(tmp_path)
    big = 2**53 + 1
    assert invoke(capsys, "run", "probe", "--x", "1", "--seed", big, "--out", "s.zarr", *SYNC)[0] == 0
    assert json.loads(xr.open_zarr("s.zarr").attrs["spec"])["seed"] == big
    code, _, err = invoke(capsys, "run", "probe", "--x", "1", "--seed", 2**53, "--out", "s.zarr", *SYNC)
    assert code == 2 and "different sweep (seed: store 9007199254740993, now 9007199254740992)" in err
    assert invoke(capsys, "run", "probe", "--x", "1", "--seed", "0", "--out", "z.zarr", *SYNC)[0] == 0
    seeds = xr.open_zarr("z.zarr").seed.values.copy()
    code, _, err = invoke(capsys, "run", "probe", "--x", "1", "--seed=-0", "--out", "z.zarr", *SYNC)
    assert code == 0 and "resuming, 1 of 1 points done" in err
    assert (xr.open_zarr("z.zarr").seed.values == seeds).all()


def test_negative_axis_values_a_model_named_like_a_file_and_short_help(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(capsys, "run", "probe", "--x", "-1:1:3", "--out", "n.zarr", *SYNC)
    assert code == 0 and xr.open_zarr("n.zarr").x.values.tolist() == [-1.0, 0.0, 1.0], err
    Path("probe").write_text("not a spec")  # a file named like a model: the model is meant
    assert invoke(capsys, "run", "probe", "--x", "2", "--out", "m.zarr", *SYNC)[0] == 0
    code, out, _ = invoke(capsys, "run", "-h")
    assert code == 0 and "Usage: epmsweep run" in out


# ---- plot, fit, report ------------------------------------------------------------------------
PLOT_CASES = [
    (["plot", "{store}", "arrhenius", "-o", "f.xyz"], "matplotlib cannot write .xyz images; use one of"),
    (["plot", "{store}", "arrhenius", "-o", "missing/f.png"], "the directory 'missing' does not exist"),
    (["plot", "{store}", "arrhenius", "--sel", "alpha=nan"], "--sel alpha=nan: not a value of the store's alpha axis"),
    (["plot", "{store}", "arrhenius", "--sel", "alpha=0.12"], "--sel alpha=0.12: not a value of the store's alpha axis "
                                                             "(0.05, 0.11)"),
    (["plot", "{store}", "arrhenius", "--sel", "beta=1"], "--sel beta: not a sweep axis of this store; axes: T, alpha"),
    (["plot", "{store}", "[/]"], "figure '[/]' does not apply to this store; available:"),
    (["fit", "{store}", "arrhenius", "--sel", "alpha=0.2"], "--sel alpha=0.2: not a value"),
    (["report", "{store}", "-o", "afile"], "--output 'afile' is an existing file; a report is a directory"),
    (["report", "{store}", "-o", "site"], "holds an index.html that is not an epmsweep report"),
]


@pytest.mark.parametrize(("args", "message"), PLOT_CASES, ids=[" ".join(a[2:])[:40] for a, _ in PLOT_CASES])
def test_bad_plot_fit_and_report_input_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch, small_store, args,
                                                                  message):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("a file")
    Path("site").mkdir()
    Path("site/index.html").write_text("<html>my page</html>")
    code, _, err = invoke(capsys, *[a.format(store=small_store) for a in args])
    assert code == 2 and message in err, err
    assert written(tmp_path) == ["afile", "site", "site/index.html"]


def test_plot_into_a_directory_or_without_a_suffix_says_where_it_wrote(tmp_path, capsys, monkeypatch, small_store):
    """Before: -o DIR wrote DIR.png and printed 'wrote DIR'."""
    monkeypatch.chdir(tmp_path)
    Path("figs").mkdir()
    code, out, _ = invoke(capsys, "plot", small_store, "arrhenius", "-o", "figs", "--sel", "alpha=0.11")
    assert code == 0 and out == "wrote figs/arrhenius.png" and Path("figs/arrhenius.png").stat().st_size > 0
    code, out, _ = invoke(capsys, "plot", small_store, "arrhenius", "-o", "bare", "--sel", "alpha=0.11")
    assert code == 0 and out == "wrote bare.png" and Path("bare.png").exists()


def test_a_store_no_figure_applies_to_says_so(tmp_path, capsys, monkeypatch):
    """Before: 'available: ' with an empty list."""
    monkeypatch.chdir(tmp_path)
    assert invoke(capsys, "run", "probe", "--x", "1", "--out", "p.zarr", *SYNC)[0] == 0
    code, _, err = invoke(capsys, "plot", "p.zarr", "arrhenius")
    assert code == 2 and "figure 'arrhenius' does not apply to this store; no figure applies to it" in err
    code, out, _ = invoke(capsys, "plot", "p.zarr")
    assert code == 0 and out == "no figure applies to this store"

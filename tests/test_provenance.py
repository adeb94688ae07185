"""Provenance in the store: versions, commit, command and a CF history line per run."""

import json
import platform
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import xarray as xr

from epmsweep import cli
from epmsweep.sweep.provenance import SOFTWARE

SYNC = ["--cluster", "sync", "--no-progress"]


def run_cli(*args) -> int:
    try:
        cli.main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


def test_a_store_records_software_commit_command_and_one_history_line_per_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = ["run", "probe", "--x", "1,2", "--out", "p.zarr", *SYNC]
    assert run_cli(*command) == 0
    attrs = xr.open_zarr("p.zarr").attrs
    software = json.loads(attrs["software"])
    assert software["python"] == platform.python_version()
    assert all(software[name] == version(name) for name in SOFTWARE)
    repo = Path(cli.__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout (CI clones one): the commit is recorded
        assert attrs["git_commit"].split("+")[0] == head.stdout.strip()
        assert f"(git {attrs['git_commit']})" in attrs["source"]
    assert attrs["command"] == "epmsweep " + " ".join(command)
    assert "Baron" in attrs["references"] and "Ferrero" in attrs["references"]
    assert attrs["history"].count("\n") == 0 and " created by epmsweep " in attrs["history"]

    assert run_cli(*command) == 0  # resumed: nothing to run, one more history line
    history = xr.open_zarr("p.zarr").attrs["history"].splitlines()
    assert len(history) == 2 and history[1].endswith("resumed by epmsweep " + cli.epmsweep.__version__ + ": epmsweep "
                                                     + " ".join(command))
    assert run_cli("run", "probe", "--x", "3", "--out", "p.zarr", "--overwrite", *SYNC) == 0
    assert len(xr.open_zarr("p.zarr").attrs["history"].splitlines()) == 1  # a new sweep, a new history


def test_version_option(capsys):
    assert run_cli("--version") == 0
    assert capsys.readouterr().out.startswith(f"epmsweep {cli.epmsweep.__version__}")


def test_the_version_comes_from_git():
    """setuptools-scm: at a release tag vX.Y.Z the version is X.Y.Z; between tags it is a
    development version naming the commit it was installed from (before: 0.1.0 for every commit)."""
    root = Path(cli.__file__).resolve().parents[1]
    version_text = cli.epmsweep.__version__
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?(\.dev\d+)?(\+g[0-9a-f]{7,}(\.d\d{8})?)?", version_text), version_text
    if not (root / ".git").exists():
        return  # an installed release: its version is its tag's
    tag = subprocess.run(["git", "describe", "--tags", "--exact-match", "--match", "v*"], cwd=root,
                         capture_output=True, text=True)
    if tag.returncode == 0 and version_text == tag.stdout.strip()[1:]:
        return
    assert ".dev" in version_text and "+g" in version_text, version_text

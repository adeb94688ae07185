"""Where a store's numbers come from: software versions, the source commit, the command, the host.

Written into the store's global attributes at creation (CF ``source``, ``references``,
``history``, plus ``software``, ``git_commit``, ``command``, ``host``) and, on every later
run of the sweep, one more CF ``history`` line, so that a store records each run or
resume that wrote into it.
"""

from __future__ import annotations

import datetime
import json
import shlex
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import epmsweep

#: The packages whose versions decide a store's numbers and layout.
SOFTWARE = ("epmsweep", "numpy", "numba", "scipy", "dask", "distributed", "zarr", "xarray")
#: CF ``references``: the papers whose models and observables the package implements.
REFERENCES = ("J. W. Baron and G. Biroli, Mean-field analysis of the glassy dynamics of an elastoplastic model "
              "of super-cooled liquids; E. E. Ferrero, K. Martens and J.-L. Barrat, Relaxation in yield stress "
              "systems through elastically interacting activated events")


def software() -> dict[str, str]:
    """Python's version and those of SOFTWARE, as installed."""
    found = {"python": sys.version.split()[0]}
    for name in SOFTWARE:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str:
    """The commit of the package's source when it runs from a git checkout ('+dirty' when
    files differ from it); '' otherwise (an installed release)."""
    source = Path(epmsweep.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty else "")


def command_line() -> str:
    """How this process was started, shell-quoted (for the API: the Python script)."""
    argv = sys.argv
    program = "epmsweep" if argv and (argv[0].endswith("epmsweep") or argv[0].endswith("__main__.py")) else \
        f"python {argv[0]}" if argv and argv[0] else "python"
    return " ".join([program, *(shlex.quote(a) for a in argv[1:])])


def history_line(action: str, command: str) -> str:
    """One CF history line: time (UTC), host, what happened and the command that did it."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return f"{now} {socket.gethostname()}: {action} by epmsweep {epmsweep.__version__}: {command}"


def creation_attributes(command: str) -> dict[str, str]:
    """The provenance attributes of a new store."""
    commit = git_commit()
    return {
        "source": f"epmsweep {epmsweep.__version__}" + (f" (git {commit})" if commit else ""),
        "references": REFERENCES,
        "history": history_line("created", command),
        "software": json.dumps(software()),
        "git_commit": commit,
        "command": command,
        "host": socket.gethostname(),
    }

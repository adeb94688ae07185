"""One writer per store: a lock file naming the run that holds it.

The lock is the file ``.epmsweep-lock`` inside the store, holding the host, the process
id, the process's start time (to tell a reused pid from the holder) and the time the
lock was taken, as JSON. It is created complete or not at all (written under a
temporary name, then hard-linked into place, which fails if the lock exists), so two
runs racing for a store cannot both win. A lock whose process is gone (same host, pid
not running or running a different process) is stale and is taken over, with a
message; a lock held from another host cannot be checked from here and is always
respected (the message says how to remove it once that run is known to be gone).
Readers (``status``, ``xr.open_zarr``) never take the lock.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from epmsweep.model import InvalidInput

LOCK_NAME = ".epmsweep-lock"


class StoreLocked(InvalidInput):
    """Another run holds the store's lock."""


@dataclass(frozen=True)
class Holder:
    """The process holding a lock."""

    host: str
    pid: int
    process_start: str  # /proc start time in clock ticks ('' where /proc is missing)
    since: str  # ISO time the lock was taken

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host!r} since {self.since}"


def _process_start(pid: int) -> str | None:
    """Start time of process ``pid`` (field 22 of /proc/PID/stat): None when no such process
    runs, '' when it cannot be told (no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else ""
    except OSError:
        return ""


def this_process() -> Holder:
    pid = os.getpid()
    return Holder(socket.gethostname(), pid, _process_start(pid) or "",
                  datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))


def _is_running(holder: Holder) -> bool | None:
    """Whether the holder still runs: True, False, or None when it cannot be told (another host)."""
    if holder.host != socket.gethostname():
        return None
    start = _process_start(holder.pid)
    if start is None:
        return False
    if start and holder.process_start:
        return start == holder.process_start
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(directory: Path) -> Holder | None:
    """The holder of the lock in ``directory``, or None when it is not locked."""
    try:
        return Holder(**json.loads((directory / LOCK_NAME).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # not written by this module: never taken over automatically
        return Holder("(unreadable lock file)", -1, "", "unknown")


def acquire(directory: Path) -> str:
    """Take the lock of ``directory`` for this process. Returns a message when a stale lock
    was taken over ('' otherwise); raises StoreLocked when a running process holds it."""
    me = this_process()
    staging = directory / f"{LOCK_NAME}.{uuid.uuid4().hex}"
    try:
        staging.write_text(json.dumps(asdict(me)))
    except OSError as err:
        raise InvalidInput(f"store {str(directory)!r} cannot be written ({err.strerror or err}): a run needs to write "
                          "its lock and its results there") from None
    message = ""
    try:
        for _ in range(3):
            try:
                os.link(staging, directory / LOCK_NAME)
                return message
            except FileExistsError:
                holder = read_holder(directory)
                if holder is None:
                    continue  # released meanwhile
                if _is_running(holder) is False:
                    (directory / LOCK_NAME).unlink(missing_ok=True)
                    message = f"took over the lock of {holder.describe()}, which is no longer running"
                    continue
                elsewhere = "" if holder.host == me.host else (
                    f"; it cannot be checked from {me.host!r}: once that run is known to have stopped, "
                    f"delete {str(directory / LOCK_NAME)!r}")
                raise StoreLocked(f"store {str(directory)!r} is in use by another run ({holder.describe()}){elsewhere}; "
                                  "wait for it to finish or stop it first")
        raise StoreLocked(f"could not take the lock of store {str(directory)!r}: it changed hands repeatedly")
    finally:
        staging.unlink(missing_ok=True)


def release(directory: Path) -> None:
    """Drop the lock of ``directory`` if this process holds it."""
    holder = read_holder(directory)
    if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
        (directory / LOCK_NAME).unlink(missing_ok=True)

"""Stopping a sweep from outside: Ctrl-C, SIGTERM (how batch systems end a job), SIGHUP.

The first stop signal raises KeyboardInterrupt in the main thread (:class:`Stopped` for
SIGTERM and SIGHUP), which the runner catches: it cancels what has not finished, closes
the cluster and returns, every point done or pending. Two cases cannot wait for that:

* a second stop signal while the first is being handled (closing a cluster can take
  seconds): the user wants out now;
* a stop signal while a compiled kernel holds the main thread (``--cluster sync``): Python
  runs signal handlers only between bytecodes, so the first signal would wait until the
  kernel returns, minutes later.

For both a watchdog thread listens on the signal wakeup file descriptor (written by the
C-level handler at once, whatever the main thread does; the kernels release the GIL, see
:mod:`epmsweep.model.jit`) and, on a second signal or when the main thread has not
reacted within :data:`GRACE_SECONDS`, exits the process at once: worker processes
killed, the store's lock released, one line of explanation, exit status 128 + signal.
The store stays consistent (every file is written whole under a temporary name and
renamed); points finished but not yet written by their batch are run again on resume.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator

#: Signals that stop a sweep as Ctrl-C does; exit status 128 + the signal number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the main thread has to react to a stop signal before the process exits at once.
GRACE_SECONDS = 3.0


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the sweep's Ctrl-C handling catches it."""


def _exit_now(signum: int, why: str, cleanup: Callable[[], None]) -> None:
    os.write(2, (f"\nstopping at once ({why}): points finished but not yet written are lost, the store is "
                 "consistent; run the same command again to resume\n").encode())
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        cleanup()
    finally:
        os._exit(128 + signum)


@contextlib.contextmanager
def stop_signals_as_interrupts(cleanup: Callable[[], None] = lambda: None) -> Iterator[list[int]]:
    """Within: stop signals raise KeyboardInterrupt (SIGINT) or :class:`Stopped`, and a second
    signal, or a first one the main thread does not react to within GRACE_SECONDS, exits at
    once after ``cleanup`` (e.g. releasing the store's lock). Yields the signals received."""
    received: list[int] = []
    reacted = threading.Event()
    finished = threading.Event()

    def handler(signum, frame):
        received.append(signum)
        if len(received) > 1:
            _exit_now(signum, "a second stop signal", cleanup)
        reacted.set()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(signal.Signals(signum).name)

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def watch() -> None:
        heard = 0
        while not finished.is_set():
            if not select.select([read_end], [], [], 0.2)[0]:
                continue
            for signum in os.read(read_end, 64):
                heard += 1
                if finished.is_set():
                    return
                if heard > 1:
                    _exit_now(signum, "a second stop signal", cleanup)
                if not reacted.wait(GRACE_SECONDS) and not finished.is_set():
                    _exit_now(signum, f"the running point did not stop within {GRACE_SECONDS:g} s", cleanup)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watchdog = threading.Thread(target=watch, name="stop-watchdog", daemon=True)
    watchdog.start()
    try:
        yield received
    finally:
        finished.set()
        signal.set_wakeup_fd(previous_fd)
        for sig, old in previous.items():
            signal.signal(sig, old)
        watchdog.join()
        os.close(read_end)
        os.close(write_end)

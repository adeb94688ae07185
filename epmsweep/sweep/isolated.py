"""One point in a child process, so that it can be stopped: the per-point timeout.

With ``--timeout SECONDS`` every point runs in a fresh Python process (``python -m
epmsweep.sweep.isolated``) that receives the point by pickle on stdin and returns its
outputs (or its error) by pickle on stdout. A point still running after the timeout is
killed and recorded as failed with the reason; a compiled kernel cannot be interrupted
in place, a process can. The timeout includes the child's start (imports and loading
compiled kernels from numba's cache: one to a few seconds). The child finds the model as
a worker does: by name after the sweep's ``imports``, or as the class itself (sent by value
with cloudpickle) when it was defined in the client's ``__main__``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import cloudpickle
import numpy as np

from epmsweep.model.core import Model, Value


def error_text(err: BaseException) -> str:
    """``Type: message`` on the first line, then the traceback."""
    tb = "".join(traceback.format_exception(err))
    return f"{type(err).__name__}: {err}\n\n{tb}"


class PointFailed(Exception):
    """The point failed in its child process; ``text`` is what :func:`error_text` made there."""

    def __init__(self, text: str):
        super().__init__(text.splitlines()[0] if text else "")
        self.text = text


class PointTimeout(Exception):
    """The point ran past its timeout and its process was killed."""


def run_isolated(model: str | type[Model], imports: tuple[str, ...], params: Mapping[str, Value],
                 settings: Mapping[str, Value], seed: int, start: Mapping[str, np.ndarray] | None, hand_over: bool,
                 timeout: float) -> Any:
    """``model.run(...)`` (a model's name, found after ``imports``, or its class) in a child
    process killed after ``timeout`` seconds."""
    payload = cloudpickle.dumps((model, imports, dict(params), dict(settings), seed, start, hand_over))
    child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        out, err = child.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise PointTimeout(f"the point ran longer than timeout = {timeout:g} s and was stopped") from None
    finally:
        if child.poll() is None:  # interrupted while waiting: the child goes too
            child.kill()
            child.wait()
    if child.returncode != 0 or not out:
        raise PointFailed(f"RuntimeError: the point's process exited with status {child.returncode}\n\n"
                          + err.decode(errors="replace")[-4000:])
    status, value = pickle.loads(out)
    if status == "error":
        raise PointFailed(value)
    return value


def _main() -> None:
    from epmsweep.model.core import get_model, load_imports

    try:
        model, imports, params, settings, seed, start, hand_over = pickle.load(sys.stdin.buffer)
        load_imports(imports)
        instance = get_model(model) if isinstance(model, str) else model()
        result = ("ok", instance.run(params, settings, seed, start=start, hand_over=hand_over))
    except Exception as err:  # reported to the parent, which records the point as failed
        result = ("error", error_text(err))
    sys.stdout.buffer.write(pickle.dumps(result))


if __name__ == "__main__":
    _main()

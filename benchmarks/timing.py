"""Shared timing helper of the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_second(run: Callable[[int], object], seconds: float) -> float:
    """Units per second of ``run(k)`` (which does k units of work): k grows until one call
    lasts at least ``seconds``, so start-up costs and timer resolution do not matter."""
    k = 1
    while True:
        start = time.perf_counter()
        run(k)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return k / elapsed
        k = max(2 * k, int(k * 1.3 * seconds / max(elapsed, 1e-9)))

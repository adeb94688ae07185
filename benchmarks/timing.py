"""Shared helpers of the benchmark scripts: timing and the Markdown table they print."""

from __future__ import annotations

import datetime
import os
import subprocess
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


def print_table(header: list[str], rows: list[str], note: str = "") -> None:
    """A Markdown table under a line with the date, the commit, the core count and ``note``."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"\n{datetime.date.today().isoformat()}, commit {commit}, {os.cpu_count()} cores{note}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(rows))

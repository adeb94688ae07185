"""Model ``probe``: a trivial, cheap model for checking a cluster and the sweep service.

It computes nothing physical: it spins for ``work`` seconds of wall time (a stand-in
for a simulation), then returns ``y = x^2`` and ``k_samples`` normal numbers from the
point's generator, so results are deterministic per seed and easy to check. It raises
for the ``x`` values listed in the setting ``fail_at``, to exercise failure records.
Used by the tests and by ``benchmarks/bench_sweep.py`` to measure per-point overhead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value


def _fail_values(text: str) -> set[float]:
    try:
        return {float(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise InvalidInput(f"fail_at = {text!r} is not a comma-separated list of numbers") from None


class Probe(Model):
    """Deterministic pseudo-results after a fixed amount of busy wall time."""

    name = "probe"
    description = "diagnostic model: spins `work` seconds, returns x^2 and seeded normals; fails for x in `fail_at`"
    parameters = {
        "x": Field(0.0, "any number; y = x^2", "1"),
        "work": Field(0.0, "busy wall time per point", "s", float, 0.0, 3600.0),
    }
    settings = {
        "k_samples": Field(3, "number of seeded normal samples returned per point", "1", int, 1, 1_000_000),
        "fail_at": Field("", "comma-separated x values for which the point raises", kind=str),
    }

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        _fail_values(str(settings["fail_at"]))

    def seconds_per_point(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        return float(params["work"]) + 50e-6

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        k = int(settings["k_samples"])
        return OutputSpec(
            variables={
                "y": Output((), "float64", "1", "x squared"),
                "samples": Output(("k",), "float64", "1", "standard normal samples from the point's seed"),
                "count": Output((), "int64", "1", "number of samples"),
            },
            coords={"k": Coord(np.arange(k), "1", "sample index")},
        )

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        x = float(params["x"])
        if x in _fail_values(str(settings["fail_at"])):
            raise RuntimeError(f"probe asked to fail at x = {x:g}")
        end = time.perf_counter() + float(params["work"])
        while time.perf_counter() < end:
            pass
        k = int(settings["k_samples"])
        return {"y": x * x, "samples": rng.standard_normal(k), "count": k}

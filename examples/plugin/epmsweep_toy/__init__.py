"""An example model package: the smallest complete epmsweep model.

A model declares its parameters (any can be a sweep axis) and settings with bounds and
units, the outputs of one point, and computes them from a parameter set and a random
generator seeded per point. Declared in ``pyproject.toml`` under the entry-point group
``epmsweep.models``, it is found by name on the client and on every worker.
"""

from __future__ import annotations

import numpy as np

from epmsweep.model import Field, Model, Output, OutputSpec


class Toy(Model):
    """A line through the origin plus seeded Gaussian noise: y = slope * x, z ~ N(0, 1)."""

    name = "toy"
    description = "example plugin model: y = slope * x and one seeded standard normal z"
    parameters = {
        "x": Field(0.0, "abscissa", "1"),
        "slope": Field(3.0, "slope of y(x)", "1", float, -1e6, 1e6),
    }
    settings = {}

    def seconds_per_point(self, params, settings):
        return 1e-6  # how points are batched: about a second of work per task

    def outputs(self, settings):
        return OutputSpec({
            "y": Output((), "float64", "1", "slope times x"),
            "z": Output((), "float64", "1", "a standard normal number from the point's seed"),
        })

    def _run(self, params, settings, rng: np.random.Generator):
        return {"y": float(params["slope"]) * float(params["x"]), "z": rng.standard_normal()}

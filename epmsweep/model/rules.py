"""Local rules of the thermal elastoplastic model of paper 000 (Baron & Biroli).

Shared by the Gillespie simulation (``meanfield``), the Fokker-Planck solver
(``meanfield-fp``) and the closed forms (``theory``):

* the barrier ``dE(sigma) = K (sigma_c - |sigma|)^a`` and the relaxation rate
  ``nu(sigma)/tau`` of Eq. (3): ``nu = 1`` above threshold (|sigma| >= sigma_c),
  ``exp(-dE/T)`` below (Boltzmann constant 1, so ``T`` is an energy);
* the post-relaxation stress density ``y(sigma)`` of Eq. (1),
  ``y = exp((|sigma| - sigma_c)/sigma_0) / Norm`` on ``|sigma| < sigma_c``,
  ``Norm = 2 sigma_0 (1 - exp(-sigma_c/sigma_0))``.

Units are reduced: stress in the units of ``sigma_c``, energy in those of ``K``,
time in those of ``tau``; the paper sets ``sigma_c = sigma_0 = K = tau = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)
from epmsweep.model.core import Coord, Field, InvalidInput, Value
from epmsweep.model.histogram import bin_centres, uniform_bins

#: Parameters of the local rule (Eqs. 1, 3), shared by every model of paper 000's rule.
RULE_PARAMETERS: dict[str, Field] = {
    "T": Field(0.3, "temperature (k_B = 1)", "energy", float, 0.0, None, lower_open=True),
    "a": Field(1.5, "barrier exponent in dE = K (sigma_c - |sigma|)^a", "1", float, 0.0, None, lower_open=True),
    "sigma_c": Field(1.0, "local yield stress (threshold)", "stress", float, 0.0, None, lower_open=True),
    "sigma_0": Field(1.0, "decay scale of the redraw density y(sigma), Eq. (1)", "stress", float, 0.0, None, lower_open=True),
    "K": Field(1.0, "barrier scale in dE = K (sigma_c - |sigma|)^a", "energy", float, 0.0, None, lower_open=True),
    "tau": Field(1.0, "relaxation time of an unstable site", "time", float, 0.0, None, lower_open=True),
}

#: Physical parameters of the mean-field models: the rule and the coupling alpha.
PHYSICAL_PARAMETERS: dict[str, Field] = {
    "T": RULE_PARAMETERS["T"],
    "alpha": Field(0.11, "mean-field coupling: D = alpha * Gamma, Eq. (6)", "stress^2", float, 0.0, None),
    **{k: v for k, v in RULE_PARAMETERS.items() if k != "T"},
}


class Paper000Rule(NamedTuple):
    """The local rule's parameters in the kernels: barrier K (sigma_c - |sigma|)^a at
    temperature T, rate nu/tau (Eq. 3), redraw density y with scale sigma_0 (Eq. 1)."""

    T: float
    a: float
    sigma_c: float
    sigma_0: float
    K: float
    tau: float

    @classmethod
    def from_params(cls, params: Mapping[str, Value]) -> Paper000Rule:
        return cls(*(float(params[name]) for name in cls._fields))


#: Settings of the stress histogram P(sigma), shared by simulation and FP solver.
STRESS_BIN_SETTINGS: dict[str, Field] = {
    "p_sigma_min": Field(-1.5, "lower edge of the P(sigma) bins", "stress"),
    "p_sigma_max": Field(1.5, "upper edge of the P(sigma) bins", "stress"),
    "p_sigma_bins": Field(60, "number of equal P(sigma) bins", "1", int, 1, 100_000),
}


#: Initial stress distribution, shared by simulation and time-dependent FP solver.
INITIAL_SETTING = Field("gaussian", "initial stresses: 'gaussian' (mean 0, std sigma_c, App. E) or 'y' (Eq. 1)",
                        kind=str, choices=("gaussian", "y"))


def stress_edges(settings: Mapping[str, Value]) -> np.ndarray:
    """Edges of the P(sigma) bins declared by the settings."""
    return uniform_bins(float(settings["p_sigma_min"]), float(settings["p_sigma_max"]), int(settings["p_sigma_bins"]))


def stress_coord(settings: Mapping[str, Value]) -> Coord:
    return Coord(bin_centres(stress_edges(settings)), "stress", "local stress (bin centre)")


def check_stress_bins(params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
    """The bins must cover the whole elastic band ``|sigma| <= sigma_c``."""
    lo, hi, sc = float(settings["p_sigma_min"]), float(settings["p_sigma_max"]), float(params["sigma_c"])
    if lo > -sc:
        raise InvalidInput(f"p_sigma_min = {lo:g} does not cover |sigma| <= sigma_c = {sc:g}: must be <= {-sc:g}")
    if hi < sc:
        raise InvalidInput(f"p_sigma_max = {hi:g} does not cover |sigma| <= sigma_c = {sc:g}: must be >= {sc:g}")


def y_norm(sigma_c: float, sigma_0: float) -> float:
    """Normalisation ``Norm = 2 sigma_0 (1 - exp(-sigma_c/sigma_0))`` of Eq. (1)."""
    return 2.0 * sigma_0 * -math.expm1(-sigma_c / sigma_0)


def y_cdf_abs(s: np.ndarray, sigma_c: float, sigma_0: float) -> np.ndarray:
    """``int_{-s}^{s} y`` for ``s >= 0``: the redraw mass within ``|sigma| <= s``."""
    s = np.minimum(np.asarray(s, dtype=float), sigma_c)
    return np.expm1(s / sigma_0) / np.expm1(sigma_c / sigma_0)


@njit(cache=True, inline="always")
def barrier_scalar(s: float, a: float, sigma_c: float, K: float) -> float:
    """Barrier dE = K (sigma_c - |s|)^a below threshold, 0 above (energy units).

    The common exponents get exact fast paths: a general ``pow`` costs about three
    times as much as ``x * sqrt(x)`` and dominates the kernels' inner loops.
    """
    x = sigma_c - abs(s)
    if x <= 0.0:
        return 0.0
    if a == 1.5:
        return K * x * math.sqrt(x)
    if a == 1.0:
        return K * x
    if a == 2.0:
        return K * x * x
    return K * x**a


@njit(cache=True, inline="always")
def nu_scalar(s: float, T: float, a: float, sigma_c: float, K: float) -> float:
    """Eq. (3) for one stress, for the numba kernels."""
    return math.exp(-barrier_scalar(s, a, sigma_c, K) / T)


@njit(cache=True, inline="always")
def draw_y(rng: np.random.Generator, sigma_c: float, sigma_0: float) -> float:
    """One stress drawn from y(sigma), Eq. (1), by inverting the CDF of |sigma|:
    ``|sigma| = sigma_0 log(1 + u (exp(sigma_c/sigma_0) - 1))``, random sign."""
    s = sigma_0 * math.log1p(rng.random() * math.expm1(sigma_c / sigma_0))
    return s if rng.random() < 0.5 else -s

"""Relaxation-rate profiles r(|sigma|) = nu/tau for the Fokker-Planck solver.

``exact`` is Eq. (3) of paper 000. The others are the paper's approximations of
nu inside the elastic band |sigma| < sigma_c (nu = 1 above it in every case), so
that each approximation can be solved exactly and compared with the full model:

* ``high-T`` -- Eq. (7): nu linearised about |sigma| = sigma_c/2. It turns negative
  for |sigma| < sigma_c/2 - T/(a K (sigma_c/2)^(a-1)) when T is not high; it is
  clipped at zero there.
* ``mct`` -- Eq. (10): nu linearised about the point where nu = 1/2 and set to zero
  below the point sigma_B where the line hits zero.
* ``low-T`` -- Eq. (19): the barrier linearised about the edge sigma_bar of the
  T -> 0 support (Eq. 18), nu = exp(-Ebar/T) exp(-(sigma_bar - |sigma|)/T_1).

The paper writes Eqs. (7), (10), (19) with sigma_c = K = 1; here they carry the
general sigma_c and K (they reduce to the printed forms when both are 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from epmsweep.model.core import InvalidInput, Value
from epmsweep.model.meanfield import theory

RATE_KINDS = ("exact", "high-T", "mct", "low-T")


@dataclass(frozen=True)
class RateProfile:
    """r(s) in 1/time for s = |sigma| >= 0, and the points where it has a kink or jump."""

    rate: Callable[[np.ndarray], np.ndarray]
    breakpoints: tuple[float, ...]

    def __call__(self, s: np.ndarray) -> np.ndarray:
        return self.rate(np.asarray(s, dtype=float))


def rate_profile(kind: str, params: Mapping[str, Value]) -> RateProfile:
    """The rate profile ``kind`` (one of RATE_KINDS) for these physical parameters."""
    T, a, sc, K, tau = (float(params[k]) for k in ("T", "a", "sigma_c", "K", "tau"))
    alpha, s0 = float(params["alpha"]), float(params["sigma_0"])

    if kind == "exact":
        def inside(s):
            return np.exp(-K * np.maximum(sc - s, 0.0) ** a / T)
        kinks: tuple[float, ...] = ()
    elif kind == "high-T":
        mid = 0.5 * sc
        nu0 = math.exp(-K * mid**a / T)
        slope = a * K * mid ** (a - 1) / T

        def inside(s):
            return np.maximum(nu0 * (1.0 + slope * (s - mid)), 0.0)
        zero = mid - 1.0 / slope
        kinks = (zero,) if 0.0 < zero < sc else ()
    elif kind == "mct":
        delta, s_half, s_b = theory.mct_linearisation(T, a, sc, K)

        def inside(s):
            return np.where(s > s_b, 0.5 + delta * (s - s_half), 0.0)
        kinks = (s_b,) if 0.0 < s_b < sc else ()
    elif kind == "low-T":
        try:
            s_bar = theory.sigma_bar(alpha, sc, s0)
        except ValueError as err:
            raise InvalidInput(f"rate = 'low-T' needs a frozen T -> 0 state: {err}") from None
        e_bar = K * (sc - s_bar) ** a
        t1 = theory.t1(T, s_bar, a, sc, K)

        def inside(s):
            return np.exp(-e_bar / T - (s_bar - s) / t1)
        kinks = ()
    else:
        raise InvalidInput(f"rate = {kind!r} is not allowed: expected one of {', '.join(RATE_KINDS)}")

    def rate(s: np.ndarray) -> np.ndarray:
        return np.where(s < sc, inside(np.minimum(s, sc)), 1.0) / tau

    return RateProfile(rate, (*kinks, sc))

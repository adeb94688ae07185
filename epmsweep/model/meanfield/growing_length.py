"""The growing length of paper 000 (Secs. V C and VI C), exactly from the Fokker-Planck equation.

At each point r of space the stationary Eq. (8) with given activity Gamma and diffusion D
has one solution P; its normalisation, Q(Gamma, D) = int P - 1 = 0, is the constraint of
Sec. III. The homogeneous state has D = alpha Gamma. A slowly varying perturbation obeys
Eq. (6), dD = m lap(dGamma) + alpha dGamma, and to linear order

    Q_Gamma dGamma + Q_D (m lap(dGamma) + alpha dGamma) = 0
    =>  lap(dGamma) = -k dGamma,   k = (Q_Gamma + alpha Q_D) / (m Q_D)          (cf. Eq. 15)

Two exact facts reduce k to one number. At fixed D the equation D P'' - r P + Gamma y = 0 is
linear in Gamma, so Q_Gamma = int P / Gamma = 1/Gamma; and with the elasticity

    s = - d ln int P / d ln D   (at fixed Gamma, on the homogeneous state)

Q_D = -s/D = -s/(alpha Gamma). Hence k = -alpha (1 - s) / (m s): for 0 < s < 1 (the usual
case: int P grows with Gamma along D = alpha Gamma, whose slope d ln int P/d ln Gamma is
1 - s) a local perturbation decays over

    xi = sqrt(m s / (alpha (1 - s))),   in units of sqrt(m): xi/sqrt(m) = sqrt(s / (alpha (1 - s))),

and for s > 1 it oscillates with wavelength 2 pi xi. xi diverges where s -> 1, the
marginal point of the homogeneous solution (the MCT-like T_c of Eq. (16) when the rate is
Eq. (10)). s comes from the stationary solver itself: the discrete normalisation on its
fixed mesh is a smooth function of D, differentiated by Richardson-extrapolated central
differences (:meth:`StationarySolver.mass_elasticities`), to ~1e-7 -- not by differencing
Gamma(T) found at the root finder's tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from epmsweep.model.meanfield.stationary import StationarySolver


@dataclass(frozen=True)
class GrowingLength:
    """xi of a homogeneous stationary state (see the module docstring)."""

    xi: float  # decay length (or oscillation length / 2 pi) of dGamma, in units of sqrt(m)
    decays: bool  # True: dGamma ~ exp(-r/xi); False: it oscillates
    elasticity: float  # s = -d ln int P / d ln D at fixed Gamma
    branch_slope: float  # d ln int P / d ln Gamma along D = alpha Gamma: 1 - s exactly (a check of both derivatives)


def length_of(solver: StationarySolver, log_gamma: float) -> GrowingLength:
    """xi of the stationary state ``log_gamma`` found by ``solver``; NaN in the frozen state
    (Gamma = 0, Eq. (10) below T_c) and for alpha = 0 (no diffusion: no length)."""
    if not math.isfinite(log_gamma) or solver.alpha == 0.0:
        return GrowingLength(math.nan, False, math.nan, math.nan)
    by_d, along = solver.mass_elasticities(log_gamma)
    s = -by_d
    return GrowingLength(math.sqrt(abs(s / (solver.alpha * (1.0 - s)))), 0.0 < s < 1.0, s, along)

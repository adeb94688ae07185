"""Time-dependent mean-field Fokker-Planck equation, Eq. (5) of paper 000.

    dP/dt = D(t) P'' - r(sigma) P + Gamma(t) y(sigma),
    D(t) = alpha Gamma(t),  Gamma(t) = int r P,

from an initial density (the Gaussian of App. E by default), giving Gamma(t): the
relaxation towards the stationary state of Eq. (8).

Discretisation: P is even, so the half-line 0 <= sigma <= L is used, with
L = sigma_c + 6 max(sigma_c, sqrt(alpha r_max tau)) (beyond which the initial
Gaussian and the diffusive tail carry no mass to double precision). Vertex-centred
finite volumes with zero flux at both ends; the y source enters through its exact
integral over each control volume, so the scheme conserves int P exactly. Time
stepping is backward Euler with Gamma(t) implicit -- the rank-one coupling
Gamma y = y (w . P) is solved by Sherman-Morrison on top of the tridiagonal
operator -- and D lagged by one step. Steps are chosen by step doubling: a step of
length h is compared with two of length h/2 (density in L1 and Gamma, relative
tolerance ``rtol``), which controls both the time discretisation and the lag in D.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_banded

from epmsweep.model.meanfield.rates import RateProfile
from epmsweep.model.meanfield.stationary import build_mesh
from epmsweep.model.rules import y_cdf_abs


class Relaxation:
    """Integrates Eq. (5) on a fixed mesh; call :meth:`gamma_at` with increasing times."""

    def __init__(self, profile: RateProfile, alpha: float, sigma_c: float, sigma_0: float, tau: float,
                 initial: str = "gaussian", rtol: float = 1e-5):
        r_max = float(np.max(profile(np.linspace(0.0, sigma_c, 1001))))
        length = sigma_c + 6.0 * max(sigma_c, math.sqrt(alpha * max(r_max, 1.0 / tau) * tau))
        band = build_mesh(profile, sigma_c, log_rate_step=0.05, max_cell=2e-3)
        near = sigma_c + sigma_c * np.geomspace(1e-5, 0.05, 60)
        inside_near = sigma_c - sigma_c * np.geomspace(1e-5, 0.05, 60)
        outside = np.linspace(sigma_c, length, 1201)
        x = np.unique(np.concatenate([band, inside_near[inside_near > 0], near, outside]))
        self.x, self.alpha, self.rtol = x, alpha, rtol
        h = np.diff(x)
        self.h = h
        self.volume = np.concatenate([[h[0] / 2], (h[:-1] + h[1:]) / 2, [h[-1] / 2]])
        self.rate = profile(x)
        # Exact integral of y over each control volume [x_i - h/2, x_i + h/2] (one side).
        faces = np.concatenate([[0.0], 0.5 * (x[1:] + x[:-1]), [x[-1]]])
        self.source = 0.5 * np.diff(y_cdf_abs(faces, sigma_c, sigma_0))
        self.weight = 2.0 * self.volume * self.rate  # Gamma = weight . P
        if initial == "gaussian":  # App. E: zero mean, standard deviation sigma_c
            p = np.exp(-0.5 * (x / sigma_c) ** 2)
        else:  # "y": the redraw density of Eq. (1)
            p = np.where(x < sigma_c, np.exp((x - sigma_c) / sigma_0), 0.0)
        self.p = p / (2.0 * self.volume @ p)
        self.t = 0.0
        self.dt = 1e-3 * tau

    def gamma(self, p: np.ndarray | None = None) -> float:
        return float(self.weight @ (self.p if p is None else p))

    def _step(self, p: np.ndarray, dt: float) -> np.ndarray:
        """One backward-Euler step with Gamma implicit (Sherman-Morrison) and D = alpha Gamma(p)."""
        d = self.alpha * self.gamma(p)
        coupling = d / self.h
        m = self.x.size
        ab = np.zeros((3, m))
        ab[1] = self.volume * (1.0 / dt + self.rate)
        ab[1, :-1] += coupling
        ab[1, 1:] += coupling
        ab[0, 1:] = -coupling
        ab[2, :-1] = -coupling
        sol = solve_banded((1, 1), ab, np.column_stack([self.volume * p / dt, self.source]))
        base, resp = sol[:, 0], sol[:, 1]
        # Sherman-Morrison denominator 1 - w.resp, written without cancellation: the
        # diffusion operator has zero column sums, so w.resp = 1 - (2/dt) V.resp.
        return base + resp * (self.weight @ base) / (2.0 / dt * (self.volume @ resp))

    def gamma_at(self, t_target: float) -> float:
        """Advance to ``t_target`` (>= current time) and return Gamma there."""
        while self.t < t_target:
            truncated = t_target - self.t < self.dt
            h = min(self.dt, t_target - self.t)
            full = self._step(self.p, h)
            half = self._step(self._step(self.p, h / 2), h / 2)
            g_half = self.gamma(half)
            err = max(2.0 * self.volume @ np.abs(half - full), abs(g_half - self.gamma(full)) / max(g_half, 1e-300))
            factor = 0.9 * math.sqrt(self.rtol / err) if err > 0 else 2.0
            if err <= self.rtol:
                self.p, self.t = half, self.t + h
                self.dt = max(self.dt if truncated else 0.0, h * min(2.0, factor))
            else:
                self.dt = h * max(0.2, factor)
        return self.gamma()

"""Time-dependent mean-field Fokker-Planck equation, Eq. (5) of paper 000, at one site or at
each site of a chain or grid.

    dP_i/dt = D_i(t) P_i'' - r_i(sigma) P_i + Gamma_i(t) y(sigma),   Gamma_i(t) = int r_i P_i,
    D_i(t) = m (lap Gamma)_i + alpha Gamma_i                                       (Eq. 6)

from an initial density (the Gaussian of App. E by default), giving Gamma_i(t). One site
(the mean field, D = alpha Gamma) is the relaxation towards the stationary state of
Eq. (8); sites coupled by a discrete Laplacian (:mod:`epmsweep.model.meanfield.grid`, m = 1,
each site with its own rate r_i, e.g. its own temperature) are the time-dependent version of
the spatially coupled equation of :mod:`epmsweep.model.meanfield.spatial`.

Discretisation: P is even, so the half-line 0 <= sigma <= L is used, with
L = sigma_c + 6 max(sigma_c, sqrt(alpha r_max tau)) (beyond which the initial
Gaussian and the diffusive tail carry no mass to double precision), one mesh for all
sites (the union of each rate profile's own). Vertex-centred finite volumes with zero
flux at both ends; the y source enters through its exact integral over each control
volume, so the scheme conserves int P exactly at every site. Time stepping is backward
Euler, fully implicit: at given D_i the rank-one coupling Gamma_i y = y (w_i . P_i) is
solved by Sherman-Morrison on top of the site's tridiagonal operator
(:func:`~epmsweep.model.meanfield.tridiagonal.solve_tridiagonal_rows`, all sites in one
call), and the D_i = D(Gamma) of Eq. (6) by Newton's method on the sites' activities (a
sparse system over the sites). Steps are chosen by step doubling: a step of length h
is compared with two of length h/2 (density in L1 and Gamma, relative tolerance ``rtol``,
the worst site).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import brentq
from scipy.sparse.linalg import spsolve

from epmsweep.model.meanfield.rates import RateProfile
from epmsweep.model.meanfield.stationary import build_mesh
from epmsweep.model.meanfield.tridiagonal import solve_tridiagonal_rows
from epmsweep.model.rules import y_cdf_abs

#: Newton iterations of one implicit step, and their relative tolerance on the activities.
_NEWTON_STEPS = 20
_NEWTON_TOLERANCE = 1e-9  # the round-off of `consistent` is ~3e-11 (chain at h = xi/6)


class _NotConverged(Exception):
    """The implicit step's Newton iteration failed: the step is retried shorter."""


class NegativeDiffusion(ValueError):
    """A site's D of Eq. (6) turned negative: the gradient expansion fails for this profile."""


class Relaxation:
    """Integrates Eq. (5) on a fixed mesh at one site per rate profile (see the module
    docstring); call :meth:`gamma_at` (one site) or :meth:`activities_at` with increasing times."""

    def __init__(self, profile: RateProfile | Sequence[RateProfile], alpha: float, sigma_c: float, sigma_0: float,
                 tau: float, initial: str = "gaussian", rtol: float = 1e-5,
                 laplacian: sparse.csr_matrix | None = None):
        profiles = [profile] if isinstance(profile, RateProfile) else list(profile)
        distinct = list({id(p): p for p in profiles}.values())
        x = self.mesh(distinct, alpha, sigma_c, tau)
        self.x, self.alpha, self.rtol = x, alpha, rtol
        coupling = sparse.csr_matrix((len(profiles), len(profiles))) if laplacian is None else laplacian
        self._d_diffusion = sparse.csc_matrix(coupling + alpha * sparse.identity(len(profiles)))  # dD/dGamma
        h = np.diff(x)
        self.h = h
        self.volume = np.concatenate([[h[0] / 2], (h[:-1] + h[1:]) / 2, [h[-1] / 2]])
        rates = {id(p): p(x) for p in distinct}
        self.rate = np.array([rates[id(p)] for p in profiles])  # (sites, nodes)
        # Exact integral of y over each control volume [x_i - h/2, x_i + h/2] (one side).
        faces = np.concatenate([[0.0], 0.5 * (x[1:] + x[:-1]), [x[-1]]])
        self.source = 0.5 * np.diff(y_cdf_abs(faces, sigma_c, sigma_0))
        self.weight = 2.0 * self.volume * self.rate  # Gamma_i = weight_i . P_i
        if initial == "gaussian":  # App. E: zero mean, standard deviation sigma_c
            p = np.exp(-0.5 * (x / sigma_c) ** 2)
        else:  # "y": the redraw density of Eq. (1)
            p = np.where(x < sigma_c, np.exp((x - sigma_c) / sigma_0), 0.0)
        self.p = np.tile(p / (2.0 * self.volume @ p), (len(profiles), 1))  # (sites, nodes)
        self.t = 0.0
        self.dt = 1e-3 * tau

    @staticmethod
    def mesh(profiles: Sequence[RateProfile], alpha: float, sigma_c: float, tau: float) -> np.ndarray:
        """The nodes on 0 <= sigma <= L: each profile's own mesh of the band, refined on both
        sides of sigma_c, and uniform beyond it (see the module docstring)."""
        r_max = max(float(np.max(p(np.linspace(0.0, sigma_c, 1001)))) for p in profiles)
        length = sigma_c + 6.0 * max(sigma_c, math.sqrt(alpha * max(r_max, 1.0 / tau) * tau))
        band = [build_mesh(p, sigma_c, log_rate_step=0.05, max_cell=2e-3) for p in profiles]
        near = sigma_c + sigma_c * np.geomspace(1e-5, 0.05, 60)
        inside_near = sigma_c - sigma_c * np.geomspace(1e-5, 0.05, 60)
        outside = np.linspace(sigma_c, length, 1201)
        return np.unique(np.concatenate([*band, inside_near[inside_near > 0], near, outside]))

    def activities(self, p: np.ndarray | None = None) -> np.ndarray:
        """Gamma_i = int r_i P_i of each site."""
        return np.einsum("ij,ij->i", self.weight, self.p if p is None else p)

    def diffusion(self, gamma: np.ndarray) -> np.ndarray:
        """D_i of Eq. (6) (m = 1); alpha Gamma at one site."""
        return self._d_diffusion @ gamma

    def _solve(self, diffusion: np.ndarray, decay: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """(V decay + D_i A) X_i = rhs_i per site: A the finite-volume diffusion operator
        (zero column sums), ``decay`` (sites, nodes), ``rhs`` (sites, nodes, columns)."""
        flux = diffusion[:, None] / self.h[None, :]
        diag = self.volume * decay
        diag[:, :-1] += flux
        diag[:, 1:] += flux
        lower = np.zeros_like(diag)
        upper = np.zeros_like(diag)
        lower[:, 1:] = -flux
        upper[:, :-1] = -flux
        return solve_tridiagonal_rows(lower, diag, upper, rhs)

    def _diffusion_operator(self, p: np.ndarray) -> np.ndarray:
        """A P per site: the finite-volume -d^2/dsigma^2 (zero flux at both ends), times the volumes."""
        flux = np.diff(p, axis=-1) / self.h
        out = np.zeros_like(p)
        out[..., :-1] -= flux
        out[..., 1:] += flux
        return out

    def _step(self, p: np.ndarray, dt: float) -> np.ndarray:
        """One backward-Euler step, fully implicit: Gamma_i by Sherman-Morrison at given D,
        and D_i = D(Gamma) of Eq. (6) by Newton's method on the sites' activities (the
        lagged D of an explicit coupling would limit the step to ~ h^2/(m Gamma))."""
        gamma = self.activities(p)
        rhs = np.stack([self.volume * p / dt, np.broadcast_to(self.source, p.shape)], axis=-1)
        identity = sparse.identity(gamma.size, format="csc")
        for _ in range(_NEWTON_STEPS):
            d = self.diffusion(gamma)
            if np.any(d < 0.0):  # D = 0 is the mean field at alpha = 0
                raise NegativeDiffusion("a site's diffusion coefficient of Eq. (6) turned negative: the gradient expansion "
                                 "does not hold for this profile")
            sol = self._solve(d, 1.0 / dt + self.rate, rhs)
            base, resp = sol[..., 0], sol[..., 1]
            # Sherman-Morrison denominator 1 - w.resp, written without cancellation: the
            # diffusion operator has zero column sums, so w.resp = 1 - (2/dt) V.resp.
            denominator = 2.0 / dt * (resp @ self.volume)
            consistent = self.activities(base) / denominator  # Gamma_i that this D_i gives
            change = consistent - gamma
            if np.all(np.abs(change) <= _NEWTON_TOLERANCE * consistent):
                return base + resp * consistent[:, None]
            # d consistent_i / d D_i, from d base/dD = -M^-1 A base (likewise resp)
            moved = self._solve(d, 1.0 / dt + self.rate,
                                np.stack([self._diffusion_operator(base), self._diffusion_operator(resp)], axis=-1))
            slope = (-self.activities(moved[..., 0]) + consistent * 2.0 / dt * (moved[..., 1] @ self.volume)) / denominator
            # (I - diag(slope) dD/dGamma) delta = change
            gamma = gamma + np.atleast_1d(spsolve(identity - sparse.diags(slope) @ self._d_diffusion, change))
            if np.any(gamma <= 0.0):
                break
        raise _NotConverged

    def stationary(self, site: int = 0) -> tuple[np.ndarray, float]:
        """The homogeneous stationary state of Eq. (8) of this scheme for the rate of ``site``:
        (P on the mesh, Gamma). For given Gamma the density is Gamma (V r + alpha Gamma A)^-1 s
        (its activity is Gamma by the zero column sums); Gamma is where its mass is 1."""
        rate = self.rate[site : site + 1]
        positive = rate[rate > 0]

        def density(log_gamma: float) -> np.ndarray:
            gamma = math.exp(log_gamma)
            return gamma * self._solve(np.array([self.alpha * gamma]), rate, self.source[None, :, None])[0, :, 0]

        lo, hi = math.log(positive.min()) - 2.0, math.log(positive.max()) + 2.0
        log_gamma = brentq(lambda lg: math.log(2.0 * self.volume @ density(lg)), lo, hi, xtol=1e-13,
                           rtol=4 * np.finfo(float).eps)
        p = density(log_gamma)
        return p / (2.0 * self.volume @ p), math.exp(log_gamma)

    def activities_at(self, t_target: float) -> np.ndarray:
        """Advance to ``t_target`` (>= current time) and return every site's Gamma there."""
        while self.t < t_target:
            truncated = t_target - self.t < self.dt
            h = min(self.dt, t_target - self.t)
            try:
                full = self._step(self.p, h)
                half = self._step(self._step(self.p, h / 2), h / 2)
            except _NotConverged:
                self.dt = h / 4.0
                continue
            g_half = self.activities(half)
            err = max(float(np.max(2.0 * np.abs(half - full) @ self.volume)),
                      float(np.max(np.abs(g_half - self.activities(full)) / np.maximum(g_half, 1e-300))))
            factor = 0.9 * math.sqrt(self.rtol / err) if err > 0 else 2.0
            if err <= self.rtol:
                self.p, self.t = half, self.t + h
                self.dt = max(self.dt if truncated else 0.0, h * min(2.0, factor))
            else:
                self.dt = h * max(0.2, factor)
        return self.activities()

    def gamma_at(self, t_target: float) -> float:
        """Advance to ``t_target`` and return Gamma of a single site (the mean field)."""
        if self.p.shape[0] != 1:
            raise ValueError("gamma_at is the single site's activity; a chain has activities_at")
        return float(self.activities_at(t_target)[0])

"""Stationary solution of the mean-field Fokker-Planck equation, Eq. (8) of paper 000.

    0 = D P'' - r(sigma) P + Gamma y(sigma),   D = alpha Gamma,   Gamma = int r P,

with r = nu/tau. Dividing by Gamma, the normalised density P solves the linear
problem

    alpha P'' - c(sigma) P + y(sigma) = 0,     c = r / Gamma,

and integrating it over the line gives int r P = Gamma automatically, so the
self-consistency reduces to normalisation, m(Gamma) = int P = 1. ``m`` increases
with Gamma (a smaller c absorbs less) and obeys Gamma/r_max <= m <= Gamma/r_min,
so ``log Gamma`` is bracketed and found by Brent's method. Working with
c = exp(log r - log Gamma) keeps everything finite however small Gamma is
(Gamma ~ 1e-12 at T = 0.005); values of c above 1e300 are capped, which changes
nothing because P ~ y/c is then below 1e-300.

Discretisation on 0 <= sigma <= sigma_c (P is even, P'(0) = 0): each cell
carries constant c and the cell average of y, and P is the *exact* solution of the
cell problem (combinations of exp(+-kappa sigma), kappa = sqrt(c/alpha), plus the
particular solution), glued by continuity of P and P' at the nodes. This
exponentially fitted scheme is exact for piecewise-constant coefficients, so the
boundary layers of width sqrt(alpha/c) -- down to sqrt(alpha Gamma tau) ~ 1e-6 at
|sigma| = sigma_c at low T -- need no mesh resolution. What the mesh must resolve is
the variation of r itself: cells are sized so that log r changes by at most
``log_rate_step`` per cell (r varies on the scale T/(a K (sigma_c-|sigma|)^(a-1)),
the thin layer at the support edge sigma_bar at low T), and are never wider than
``max_cell``. For sigma > sigma_c, r = 1/tau and y = 0, so P decays exactly as
P(sigma_c) exp(-(sigma - sigma_c)/sqrt(alpha Gamma tau)); that is the boundary
condition at sigma_c and gives the tail's mass in closed form.

For alpha = 0 there is no diffusion and the solution is the renewal result
P = Gamma y / r, Gamma = 1 / int y/r; it is integrated by Gauss-Legendre on the
same mesh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from epmsweep.model.meanfield.rates import RateProfile
from epmsweep.model.meanfield.tridiagonal import solve_tridiagonal_rows
from epmsweep.model.rules import y_cdf_abs, y_norm

#: Narrowest mesh cell, relative to sigma_c.
_MIN_CELL = 1e-7

#: Largest c = r/Gamma used; where r/Gamma is larger, P ~ y/c < 1e-300 anyway.
_C_CAP_LOG = 690.0


def build_mesh(profile: RateProfile, sigma_c: float, extra_nodes: np.ndarray = np.empty(0),
               log_rate_step: float = 0.02, max_cell: float = 2e-3) -> np.ndarray:
    """Nodes on [0, sigma_c] such that log r changes by at most ``log_rate_step``
    per cell and no cell is wider than ``max_cell`` (relative to sigma_c); cells stop
    shrinking at ``_MIN_CELL``, which binds only where r vanishes.

    The node density is the sum of both requirements, computed on a fine auxiliary
    grid (uniform plus geometric towards sigma_c, where r' may diverge for a < 1)
    and inverted by interpolation. Breakpoints of r and ``extra_nodes`` (bin edges)
    are inserted so that no cell straddles a kink or an output bin edge.
    """
    aux = np.concatenate([
        np.linspace(0.0, sigma_c, 20_001),
        sigma_c * (1.0 - np.logspace(-12, -2, 400)),
        [b for b in profile.breakpoints if 0.0 < b < sigma_c],
    ])
    aux = np.unique(np.clip(aux, 0.0, sigma_c))
    with np.errstate(divide="ignore"):
        log_r = np.log(np.maximum(profile(aux), 1e-300))
    widths = np.diff(aux)
    # Where r vanishes (Eqs. 7 and 10), log r diverges logarithmically; cells narrower
    # than _MIN_CELL would only add round-off (P is flat across them, r negligible).
    cells = np.minimum(np.abs(np.diff(log_r)) / log_rate_step, widths / (_MIN_CELL * sigma_c)) + widths / (max_cell * sigma_c)
    cumulative = np.concatenate([[0.0], np.cumsum(cells)])
    n_cells = max(int(math.ceil(cumulative[-1])), 1)
    nodes = np.interp(np.linspace(0.0, cumulative[-1], n_cells + 1), cumulative, aux)
    inserts = [b for b in (*profile.breakpoints, *np.abs(extra_nodes)) if 0.0 < b < sigma_c]
    nodes = np.unique(np.concatenate([nodes, inserts, [0.0, sigma_c]]))
    keep = np.concatenate([[True], np.diff(nodes) > 1e-14 * sigma_c])
    return nodes[keep]


def _cell_functions(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stable z/sinh z, z coth z, tanh(z/2)/z and (z - 2 tanh(z/2))/z^3 for z >= 0."""
    small = z < 1e-3
    zs = np.where(small, 1.0, z)
    em = np.exp(-zs)
    denom = -np.expm1(-2.0 * zs)
    z_over_sinh = np.where(small, 1.0 - z * z / 6.0, 2.0 * zs * em / denom)
    z_coth = np.where(small, 1.0 + z * z / 3.0, zs * (1.0 + em * em) / denom)
    half = np.where(small, 0.5 - z * z / 24.0, np.tanh(0.5 * zs) / zs)
    g = np.where(small, 1.0 / 12.0 - z * z / 120.0, (1.0 - 2.0 * np.tanh(0.5 * zs) / zs) / (zs * zs))
    return z_over_sinh, z_coth, half, g


@dataclass
class StationarySolution:
    """Stationary P(sigma) (even in sigma) and Gamma of Eq. (8)."""

    log_gamma: float
    nodes: np.ndarray  # mesh on [0, sigma_c]
    density: np.ndarray  # P at the nodes
    cumulative: np.ndarray  # int_0^node P
    tail_rate: float  # P(sigma) = P(sigma_c) exp(-tail_rate (sigma - sigma_c)) beyond sigma_c; inf: no tail
    sigma_c: float

    @property
    def gamma(self) -> float:
        return math.exp(self.log_gamma)

    def cdf_from_zero(self, x: np.ndarray) -> np.ndarray:
        """int_0^x P for any real x (odd in x)."""
        x = np.asarray(x, dtype=float)
        s = np.abs(x)
        inside = np.interp(np.minimum(s, self.sigma_c), self.nodes, self.cumulative)
        if math.isinf(self.tail_rate):
            tail = np.zeros_like(s)
        else:
            tail = self.density[-1] * -np.expm1(-self.tail_rate * np.maximum(s - self.sigma_c, 0.0)) / self.tail_rate
        return np.sign(x) * (inside + tail)

    def bin_average(self, edges: np.ndarray) -> np.ndarray:
        """Mean of P over each bin; exact within the scheme when the edges are mesh nodes."""
        edges = np.asarray(edges, dtype=float)
        return np.diff(self.cdf_from_zero(edges)) / np.diff(edges)

    def density_at(self, sigma: np.ndarray) -> np.ndarray:
        """P(sigma), linearly interpolated between nodes inside the band."""
        s = np.abs(np.asarray(sigma, dtype=float))
        inside = np.interp(np.minimum(s, self.sigma_c), self.nodes, self.density)
        if math.isinf(self.tail_rate):
            return np.where(s <= self.sigma_c, inside, 0.0)
        return np.where(s <= self.sigma_c, inside, self.density[-1] * np.exp(-self.tail_rate * (s - self.sigma_c)))


class StationarySolver:
    """Solves Eq. (8) for one rate profile on a fixed mesh; see the module docstring."""

    def __init__(self, profile: RateProfile, alpha: float, sigma_c: float, sigma_0: float, tau: float,
                 extra_nodes: np.ndarray = np.empty(0), log_rate_step: float = 0.02, max_cell: float = 2e-3):
        self.profile, self.alpha, self.sigma_c, self.sigma_0, self.tau = profile, alpha, sigma_c, sigma_0, tau
        self.nodes = build_mesh(profile, sigma_c, extra_nodes, log_rate_step, max_cell)
        x = self.nodes
        self.h = np.diff(x)
        mid = 0.5 * (x[1:] + x[:-1])
        with np.errstate(divide="ignore"):
            self.log_r = np.log(profile(mid))  # -inf where r = 0 (Eq. 10 below sigma_B)
        # Exact cell averages of y (Eq. 1), from the CDF of |sigma| (one side: half the mass).
        self.y_avg = 0.5 * np.diff(y_cdf_abs(x, sigma_c, sigma_0)) / self.h
        r_all = np.concatenate([profile(x), [1.0 / tau]])
        self.log_r_min = math.log(r_all.min()) if r_all.min() > 0 else -math.inf
        self.log_r_max = math.log(r_all.max())
        self._last: tuple[float, np.ndarray, np.ndarray, float] | None = None

    # -- linear solves at given log Gamma ----------------------------------
    def _solve_many(self, log_gamma: float, diffusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For activity Gamma and each D = ``diffusion`` Gamma (one row each): P at the nodes
        (unnormalised), the cells' masses and the tail rate. All rows in one call of the
        tridiagonal kernel (the spatially coupled chain and grid evaluate every site at once)."""
        h = self.h
        per_d = 1.0 / diffusion[:, None]
        c = np.exp(np.minimum(self.log_r - log_gamma, _C_CAP_LOG))
        z = np.sqrt(c * per_d) * h
        z_over_sinh, z_coth, half, g = _cell_functions(z)
        off = z_over_sinh / h  # coupling of the two nodes of a cell
        diag_cell = z_coth / h
        source = self.y_avg * per_d * h * half  # particular-solution flux at each cell end
        tail_rate = np.sqrt(math.exp(-log_gamma) / (diffusion * self.tau))  # 1/sqrt(D tau)
        shape = (diffusion.size, self.nodes.size)
        diag, lower, upper, rhs = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros((*shape, 1))
        diag[:, :-1] += diag_cell
        diag[:, 1:] += diag_cell
        diag[:, -1] += tail_rate
        lower[:, 1:] = -off
        upper[:, :-1] = -off
        rhs[:, :-1, 0] += source
        rhs[:, 1:, 0] += source
        p = solve_tridiagonal_rows(lower, diag, upper, rhs)[..., 0]
        cell_mass = (p[:, :-1] + p[:, 1:]) * h * half + self.y_avg * per_d * h**3 * g
        return p, cell_mass, tail_rate

    def _solve(self, log_gamma: float, diffusion: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """P at the nodes (unnormalised), its cumulative mass and the tail rate for activity
        Gamma and D = ``diffusion`` Gamma (default: alpha Gamma, the homogeneous state)."""
        p, cell_mass, tail_rate = self._solve_many(log_gamma, np.array([self.alpha if diffusion is None else diffusion]))
        return p[0], np.concatenate([[0.0], np.cumsum(cell_mass[0])]), float(tail_rate[0])

    def log_mass(self, log_gamma: float, diffusion: float | None = None) -> float:
        """log int P at (Gamma, D = diffusion Gamma): the normalisation Q(Gamma, D) of Sec. III."""
        p, cumulative, tail_rate = self._solve(log_gamma, diffusion)
        if diffusion is None:
            self._last = (log_gamma, p, cumulative, tail_rate)
        return math.log(2.0 * (cumulative[-1] + p[-1] / tail_rate))

    def log_masses(self, diffusion: np.ndarray, block: int = 256) -> np.ndarray:
        """log int P at Gamma = 1 for each D in ``diffusion`` (Eq. 8 is linear in Gamma at
        fixed D, so ln int P at (Gamma, D) is ln Gamma plus this): the normalisation of each
        site of the spatially coupled equation, in blocks of ``block`` sites."""
        out = np.empty(diffusion.size)
        for first in range(0, diffusion.size, block):
            p, cell_mass, tail_rate = self._solve_many(0.0, diffusion[first : first + block])
            out[first : first + block] = np.log(2.0 * (cell_mass.sum(axis=1) + p[:, -1] / tail_rate))
        return out

    def mass_elasticities(self, log_gamma: float, step: float = 0.02) -> tuple[float, float]:
        """(d ln int P / d ln D at fixed Gamma, d ln int P / d ln Gamma at fixed D/Gamma) at
        the state (Gamma, alpha Gamma): central differences of the discrete normalisation on
        this solver's fixed mesh (a smooth function of both; no root finding inside),
        Richardson-extrapolated from ``step`` and ``step``/2 (error ~ step^4 ~ 1e-7)."""

        def slope(f: Callable[[float], float]) -> float:
            one, half = ((f(h) - f(-h)) / (2.0 * h) for h in (step, step / 2.0))
            return (4.0 * half - one) / 3.0

        by_d = slope(lambda h: self.log_mass(log_gamma, self.alpha * math.exp(h)))
        along = slope(lambda h: self.log_mass(log_gamma + h))
        return by_d, along

    def solve(self) -> StationarySolution:
        """Gamma and P with int P = 1 (to ~1e-12 in log Gamma)."""
        if self.alpha == 0.0:
            return self._renewal()
        lo = (self.log_r_min if math.isfinite(self.log_r_min) else self.log_r_max - 700.0) - 2.0
        hi = self.log_r_max + 2.0
        if self.log_mass(lo) >= 0.0:
            # Only possible when r vanishes on part of the band (Eq. 10 below T_c):
            # the frozen state, Gamma -> 0, with the limiting profile.
            log_gamma = -math.inf
            _, p, cumulative, tail_rate = self._last
        else:
            log_gamma = brentq(self.log_mass, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps)
            p, cumulative, tail_rate = self._solve(log_gamma)
        norm = 2.0 * (cumulative[-1] + p[-1] / tail_rate)
        return StationarySolution(log_gamma, self.nodes, p / norm, cumulative / norm, tail_rate, self.sigma_c)

    def _renewal(self) -> StationarySolution:
        """alpha = 0: P = Gamma y/r on |sigma| < sigma_c, Gamma = 1/int y/r (renewal theory)."""
        if not math.isfinite(self.log_r_min):
            raise ValueError("alpha = 0 with a rate that vanishes on part of the band has no unique stationary state")
        x = self.nodes
        gl_nodes, gl_weights = np.polynomial.legendre.leggauss(4)
        pts = 0.5 * (x[1:] + x[:-1])[:, None] + 0.5 * self.h[:, None] * gl_nodes[None, :]
        cell = 0.5 * self.h * ((self._y_band(pts) / self.profile(pts)) @ gl_weights)
        cumulative = np.concatenate([[0.0], np.cumsum(cell)])
        total = 2.0 * cumulative[-1]
        density = self._y_band(x) / self.profile(x) / total
        return StationarySolution(-math.log(total), x, density, cumulative / total, math.inf, self.sigma_c)

    def _y_band(self, s: np.ndarray) -> np.ndarray:
        """y(s) of Eq. (1) on 0 <= s <= sigma_c, taking the inner limit at sigma_c."""
        return np.exp((s - self.sigma_c) / self.sigma_0) / y_norm(self.sigma_c, self.sigma_0)

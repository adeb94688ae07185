"""Model ``meanfield-fp-spatial``: the stationary Fokker-Planck equation of paper 000 at every
site of a 1-D chain, coupled through Eq. (6).

Each site i carries Eq. (8) with its own activity Gamma_i and diffusion

    D_i = m (Gamma_{i+1} - 2 Gamma_i + Gamma_{i-1}) / h^2 + alpha Gamma_i       (Eq. 6, discretised)

and its normalisation Q(Gamma_i, D_i) = 0, i.e. Gamma_i I_i(D_i) = 1 with I_i(D) = int P for
Gamma = 1 (Eq. 8 is linear in Gamma at fixed D), I_i from the site's own rate (its own T).
Lengths are in units of sqrt(m) (m = 1), spacing ``h``. A local perturbation is imposed and
the stationary profile found by Newton's method on ln Gamma_i (tridiagonal Jacobian):

* ``pinned``: Gamma_0 held at (1 + pin) times the homogeneous value, zero gradient at the
  far end: dGamma decays from site 0 over the length xi of
  :mod:`epmsweep.model.meanfield.growing_length` where the linearisation holds;
* ``hot-region``: the first ``region`` sites at temperature ``T_region`` (their own rate),
  the rest at T, zero gradient at both ends.

``xi_fit`` is the decay length measured from the profile (a straight line through
ln|dGamma| over ``fit_from`` to ``fit_to`` xi of the linear theory, corrected for the lattice:
a chain with spacing h decays as exp(-2 asinh(h/(2 xi)) i)), ``xi_linear`` the linear
theory's value, so their ratio says where the linearisation holds.

Time-dependent (``hot-region`` with ``n_times`` > 0): the chain starts in the homogeneous
stationary state at T, the region is heated to T_region at t = 0, and Eq. (5) is integrated
at every site with D_i(t) of Eq. (6) (:mod:`epmsweep.model.meanfield.relaxation`):
``gamma_xt`` is the activity profile at log-spaced times (units of the homogeneous
relaxation time 1/Gamma), ``xi_t`` the decay length fitted to it as to the stationary
profile -- how the perturbation spreads, until it reaches the stationary profile. Heating
makes the region's activity jump at once, so the contrast must be small enough for the
jump to be carried by Eq. (6) at this spacing (D > 0 at the region's edge).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.linalg import solve_banded

from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value
from epmsweep.model.meanfield.fokker_planck import relaxation_times, stationary_solver
from epmsweep.model.meanfield.growing_length import length_of
from epmsweep.model.meanfield.rates import rate_profile
from epmsweep.model.meanfield.relaxation import Relaxation
from epmsweep.model.meanfield.stationary import StationarySolver
from epmsweep.model.rules import PHYSICAL_PARAMETERS

PERTURBATIONS = ("pinned", "hot-region")
#: Residuals (of ln Gamma I(D)) below this are the round-off of the sites' solvers.
NOISE = 1e-8
#: While the heated region's change spreads, sites where it is below this fraction of its
#: largest value are not fitted (it has not reached them; the stationary profile falls to
#: exp(-8) = 3e-4 of it at the default fit_to = 8 xi).
SPREAD_FLOOR = 1e-5


def _log_mass_slope(solver: StationarySolver, d: float, step: float = 1e-4) -> float:
    """d ln I / d D at D = d (Gamma = 1), by a central difference on the solver's fixed mesh."""
    return (solver.log_mass(0.0, d * math.exp(step)) - solver.log_mass(0.0, d * math.exp(-step))) / (2.0 * step * d)


def solve_chain(solvers: list[StationarySolver], alpha: float, spacing: float, log_gamma: np.ndarray,
                pinned: bool, tolerance: float = 1e-11, max_steps: int = 60) -> tuple[np.ndarray, int]:
    """ln Gamma_i of the stationary chain (m = 1), from the start ``log_gamma`` (site 0 held when
    ``pinned``), zero gradient at the open ends: Newton's method with backtracking (a step is
    halved until every free site keeps D > 0 and the largest residual falls). Returns
    (ln Gamma, Newton steps)."""
    n = len(solvers)
    first = 1 if pinned else 0
    coupling = 1.0 / spacing**2

    def diffusion_of(lg: np.ndarray) -> np.ndarray:
        gamma = np.exp(lg)
        padded = np.concatenate([gamma[:1], gamma, gamma[-1:]])  # zero gradient at both ends
        return coupling * (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) + alpha * gamma

    def residual_of(lg: np.ndarray) -> np.ndarray | None:
        diffusion = diffusion_of(lg)
        if np.any(diffusion[first:] <= 0.0):
            return None
        return np.array([lg[i] + solvers[i].log_mass(0.0, diffusion[i]) for i in range(first, n)])

    lg = np.array(log_gamma, dtype=float)
    residual = residual_of(lg)
    if residual is None:
        raise InvalidInput("the start of the chain has a site with D <= 0: the perturbation is too strong for this "
                           "spacing; use a smaller pin or a larger spacing")
    for step in range(max_steps + 1):
        if np.max(np.abs(residual)) < tolerance:
            return lg, step
        gamma, diffusion = np.exp(lg), diffusion_of(lg)
        slope = np.zeros(n)
        slope[first:] = [_log_mass_slope(solvers[i], diffusion[i]) for i in range(first, n)]
        # d residual_i / d ln Gamma_j = delta_ij + slope_i dD_i/d ln Gamma_j (an end site has one neighbour)
        bands = np.zeros((3, n))
        bands[0, 1:] = slope[:-1] * coupling * gamma[1:]
        bands[1] = 1.0 + slope * gamma * (alpha - 2.0 * coupling + coupling * np.r_[1.0, np.zeros(n - 2), 1.0])
        bands[2, :-1] = slope[1:] * coupling * gamma[:-1]
        bands = bands[:, first:].copy()
        bands[0, 0] = 0.0
        direction = -solve_banded((1, 1), bands, residual)
        length = 1.0
        while True:
            trial = lg.copy()
            trial[first:] += length * direction
            new = residual_of(trial)
            if new is not None and np.max(np.abs(new)) < np.max(np.abs(residual)):
                break
            length /= 2.0
            if length < 1e-6 and np.max(np.abs(residual)) < NOISE:
                return lg, step  # at the solver's round-off: converged
            if length < 1e-6:
                raise InvalidInput("the chain's Newton iteration stalled: the perturbation is too strong for this "
                                   "spacing; use a smaller pin or a larger spacing")
        lg, residual = trial, new
    raise InvalidInput(f"the chain did not converge in {max_steps} Newton steps (residual {np.max(np.abs(residual)):.2g})")


def decay_length(x: np.ndarray, excess: np.ndarray, lo: float, hi: float, spacing: float, floor: float = 0.0) -> float:
    """The continuum decay length of ``excess`` ~ exp(-x/xi) fitted over lo <= x <= hi (at
    least 3 sites with |excess| > ``floor``), corrected for the chain's spacing (its modes
    decay as exp(-2 asinh(h/(2 xi)) x/h))."""
    chosen = (x >= lo) & (x <= hi) & (np.abs(excess) > floor)
    if chosen.sum() < 3:
        return math.nan
    rate = -np.polyfit(x[chosen], np.log(np.abs(excess[chosen])), 1)[0]  # per unit length
    if rate <= 0:
        return math.nan
    return spacing / (2.0 * math.sinh(rate * spacing / 2.0))


def _after_heating(params: Mapping[str, Value], region: int, n: int, spacing: float, times: np.ndarray) -> np.ndarray:
    """Activities (times, 1 + n): column 0 the homogeneous state's Gamma of the time-dependent
    scheme, then each site's Gamma(t) after the first ``region`` sites are heated to T_region
    at t = 0 from that state; ``times`` in units of its 1/Gamma."""
    p = {k: float(params[k]) for k in PHYSICAL_PARAMETERS}
    hot, bulk = rate_profile("exact", {**p, "T": float(params["T_region"])}), rate_profile("exact", p)
    chain = Relaxation([hot] * region + [bulk] * (n - region), p["alpha"], p["sigma_c"], p["sigma_0"], p["tau"],
                       coupling=1.0 / spacing**2)
    density, gamma = chain.stationary(site=n - 1)
    chain.p[:] = density
    try:
        return np.array([[gamma, *chain.activities_at(t / gamma)] for t in times])
    except ValueError:
        raise InvalidInput(f"T_region = {params['T_region']:g}: heating the region at once makes its activity jump "
                           f"more than Eq. (6) can carry at spacing {spacing:.3g} sqrt(m) (a site's D would turn "
                           "negative at the region's edge); use a T_region closer to T or a larger spacing") from None


class MeanFieldFokkerPlanckSpatial(Model):
    """Stationary Eq. (8) on a 1-D chain coupled by Eq. (6), under a local perturbation."""

    name = "meanfield-fp-spatial"
    description = ("mean-field Fokker-Planck equation on a 1-D chain coupled by Eq. (6), stationary, under a local "
                   "perturbation: the decay length of the activity against the linear theory (paper 000, Eqs. 15-16, 23)")
    parameters = {
        **PHYSICAL_PARAMETERS,
        "pin": Field(0.01, "pinned: relative change of Gamma held at site 0", "1", float, -0.9, 10.0),
        "T_region": Field(0.5, "hot-region: temperature of the first `region` sites", "energy", float, 0.0, None,
                          lower_open=True),
    }
    settings = {
        "perturbation": Field("pinned", "'pinned' (Gamma held at site 0) or 'hot-region' (first sites at T_region)",
                              kind=str, choices=PERTURBATIONS),
        "n_sites": Field(120, "sites of the chain", "1", int, 8, 100_000),
        "spacing": Field(0.0, "site spacing in units of sqrt(m); 0: a sixth of the linear theory's xi", "1", float,
                         0.0, None),
        "region": Field(10, "hot-region: sites at T_region", "1", int, 1, 100_000),
        "fit_from": Field(1.0, "start of the fitted range, in units of the linear xi (from the perturbation's edge)",
                          "1", float, 0.0, None),
        "fit_to": Field(8.0, "end of the fitted range, in units of the linear xi", "1", float, 0.0, None,
                        lower_open=True),
        "log_rate_step": Field(0.01, "largest change of log(nu) per mesh cell of each site's solver", "1", float, 1e-4,
                               0.5),
        "n_times": Field(0, "hot-region: log-spaced times of the relaxation after the region is heated at t = 0 "
                            "(0: the stationary profile only)", "1", int, 0, 10_000),
        "t_min": Field(0.1, "first time of gamma_xt, in units of the homogeneous relaxation time 1/Gamma", "1", float,
                       0.0, None, lower_open=True),
        "t_max": Field(100.0, "last time of gamma_xt, in units of 1/Gamma", "1", float, 0.0, None, lower_open=True),
    }

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        if float(params["alpha"]) <= 0.0:
            raise InvalidInput("alpha = 0: no diffusion, no coupling between sites and no length; use alpha > 0")
        if float(settings["fit_to"]) <= float(settings["fit_from"]):
            raise InvalidInput(f"fit_to = {settings['fit_to']:g} must be > fit_from = {settings['fit_from']:g}")
        if int(settings["n_times"]) > 0 and settings["perturbation"] != "hot-region":
            raise InvalidInput(f"n_times = {settings['n_times']} with perturbation = {settings['perturbation']!r}: "
                               "the time-dependent chain heats a region; use perturbation = 'hot-region' or n_times = 0")
        if int(settings["n_times"]) > 0 and float(settings["t_max"]) <= float(settings["t_min"]):
            raise InvalidInput(f"t_max = {settings['t_max']:g} must be > t_min = {settings['t_min']:g}")
        if settings["perturbation"] == "hot-region" and int(settings["region"]) >= int(settings["n_sites"]) - 3:
            raise InvalidInput(f"region = {settings['region']} leaves fewer than 3 of the n_sites = "
                               f"{settings['n_sites']} outside it")

    def seconds_per_point(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        return 2e-3 * int(settings["n_sites"]) * 8

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        n = int(settings["n_sites"])
        return OutputSpec(
            variables={
                "gamma_x": Output(("site",), "float64", "1/time", "stationary activity along the chain"),
                "x": Output(("site",), "float64", "1", "position of the site, in units of sqrt(m)"),
                "gamma": Output((), "float64", "1/time", "homogeneous stationary activity at T (Eq. 8)"),
                "xi_linear": Output((), "float64", "1", "decay length of the linearised Eqs. (6), (8), in units of "
                                                        "sqrt(m)"),
                "xi_fit": Output((), "float64", "1", "decay length measured on the chain's profile, in units of "
                                                     "sqrt(m) (continuum value; NaN: no decay to fit)"),
                "newton_steps": Output((), "int64", "1", "Newton steps of the chain's solution"),
                "gamma_xt": Output(("time", "site"), "float64", "1/time", "activity along the chain at each time after "
                                                                        "the region is heated (Eqs. 5, 6)"),
                "xi_t": Output(("time",), "float64", "1", "decay length fitted to gamma_xt as xi_fit to the stationary "
                                                         "profile, in units of sqrt(m) (NaN: the change has not "
                                                         "spread over the fitted range)"),
            },
            coords={"site": Coord(np.arange(n), "1", "site of the chain"),
                    "time": Coord(relaxation_times(settings) if int(settings["n_times"]) else np.empty(0), "1",
                                  "time since the region was heated, in units of the homogeneous 1/Gamma")},
        )

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        step = float(settings["log_rate_step"])
        bulk = stationary_solver(params, log_rate_step=step)
        log_gamma = bulk.solve().log_gamma
        xi = length_of(bulk, log_gamma).xi
        n = int(settings["n_sites"])
        spacing = float(settings["spacing"]) or xi / 6.0
        alpha, edge = float(params["alpha"]), 0
        lg = np.full(n, log_gamma)
        if settings["perturbation"] == "pinned":  # from the linear theory's profile
            decay = math.exp(-2.0 * math.asinh(spacing / (2.0 * xi)))
            lg += np.log1p(float(params["pin"]) * decay ** np.arange(n))
            lg, steps = solve_chain([bulk] * n, alpha, spacing, lg, pinned=True)
        else:  # the region's temperature moved from T to T_region, each step from the last (halved where it fails)
            edge, steps = int(settings["region"]), 0
            done, target = float(params["T"]), float(params["T_region"])
            ratio = min(1.1, max(target / done, done / target))
            while done != target:
                T_step = target if max(target / done, done / target) <= ratio else done * ratio ** math.copysign(
                    1.0, target - done)
                region = stationary_solver({**params, "T": T_step}, log_rate_step=step)
                try:
                    lg, taken = solve_chain([region] * edge + [bulk] * (n - edge), alpha, spacing, lg, pinned=False)
                except InvalidInput:
                    ratio = math.sqrt(ratio)
                    if ratio < 1.002:
                        raise InvalidInput(
                            f"T_region = {target:g}: no stationary profile with D > 0 at every site beyond T_region = "
                            f"{done:.4g}: the gradient expansion of Eq. (6) would need a negative D at the region's "
                            "edge (it holds for slowly varying activity only); use a smaller contrast") from None
                    continue
                done, steps = T_step, steps + taken
        x = np.arange(n) * spacing
        origin = x[max(edge - 1, 0)]
        lo, hi = float(settings["fit_from"]) * xi, float(settings["fit_to"]) * xi
        fitted = decay_length(x - origin, np.exp(lg - log_gamma) - 1.0, lo, hi, spacing)
        times = relaxation_times(settings) if int(settings["n_times"]) else np.empty(0)
        gamma_xt = _after_heating(params, edge, n, spacing, times) if times.size else np.empty((0, n + 1))
        excess_t = gamma_xt[:, 1:] / gamma_xt[:, :1] - 1.0  # against the time-dependent scheme's own homogeneous Gamma
        xi_t = [decay_length(x - origin, excess, lo, hi, spacing, floor=SPREAD_FLOOR * np.max(np.abs(excess)))
                for excess in excess_t]
        return {"gamma_x": np.exp(lg), "x": x, "gamma": math.exp(log_gamma), "xi_linear": xi, "xi_fit": fitted,
                "newton_steps": steps, "gamma_xt": gamma_xt[:, 1:], "xi_t": np.array(xi_t, dtype=float)}

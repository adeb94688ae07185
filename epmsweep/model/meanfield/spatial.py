"""Model ``meanfield-fp-spatial``: the Fokker-Planck equation of paper 000 at every site of a
chain or a square grid, coupled through Eq. (6).

Each site i carries Eq. (8) with its own activity Gamma_i and diffusion

    D_i = m (lap Gamma)_i + alpha Gamma_i       (Eq. 6; lap the second difference, spacing h)

and its normalisation Q(Gamma_i, D_i) = 0, i.e. Gamma_i I_i(D_i) = 1 with I_i(D) = int P for
Gamma = 1 (Eq. 8 is linear in Gamma at fixed D), I_i from the site's own rate (its own T).
Lengths are in units of sqrt(m) (m = 1), spacing ``h``; the sites and their Laplacian
(zero gradient at the boundary) are those of :mod:`epmsweep.model.meanfield.grid`. A local
perturbation at the corner (site 0) is imposed and the stationary profile found by Newton's
method on ln Gamma_i (sparse Jacobian; every site's Eq. (8) solved in one batch):

* ``pinned``: Gamma_0 held at (1 + pin) times the homogeneous value: dGamma decays from
  site 0 over the length xi of :mod:`epmsweep.model.meanfield.growing_length` where the
  linearisation holds, as exp(-r/xi) on a chain and as K_0(r/xi) on a grid (the 2-D
  Green's function of lap - 1/xi^2);
* ``hot-region``: the first ``region`` sites (a region x region block on a grid) at
  temperature ``T_region``, the rest at T.

``xi_fit`` is the decay length measured on the profile along the axis (site (i, 0)): a
least-squares fit of ln|dGamma| to ln of exp(-r/xi) or K_0(r/xi) plus a constant, over
``fit_from`` to ``fit_to`` xi of the linear theory from the perturbation's edge, corrected
for the lattice (along an axis the discrete modes decay as exp(-2 asinh(h/(2 xi)) r/h));
``xi_linear`` is the linear theory's value, so their ratio says where the linearisation holds.

Time-dependent (``hot-region`` with ``n_times`` > 0): the sites start in the homogeneous
stationary state at T, the region is heated to T_region at t = 0, and Eq. (5) is integrated
at every site with D_i(t) of Eq. (6) (:mod:`epmsweep.model.meanfield.relaxation`):
``gamma_xt`` is the activity along the axis at log-spaced times (units of the homogeneous
relaxation time 1/Gamma), ``xi_t`` the decay length fitted to it as to the stationary
profile -- how the perturbation spreads, until it reaches the stationary profile. Heating
makes the region's activity jump at once, so the contrast must be small enough for the
jump to be carried by Eq. (6) at this spacing (D > 0 at the region's edge).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import sparse, special
from scipy.optimize import minimize_scalar
from scipy.sparse.linalg import spsolve

from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value
from epmsweep.model.meanfield.fokker_planck import relaxation_times, stationary_solver
from epmsweep.model.meanfield.grid import GEOMETRIES, distances, neumann_laplacian
from epmsweep.model.meanfield.growing_length import length_of
from epmsweep.model.meanfield.rates import RateProfile, rate_profile
from epmsweep.model.meanfield.relaxation import NegativeDiffusion, Relaxation
from epmsweep.model.meanfield.stationary import StationarySolver
from epmsweep.model.rules import PHYSICAL_PARAMETERS

PERTURBATIONS = ("pinned", "hot-region")
#: Residuals (of ln Gamma I(D)) below this are the round-off of the sites' solvers.
NOISE = 1e-8
#: While the heated region's change spreads, sites where it is below this fraction of its
#: largest value are not fitted (it has not reached them; the stationary profile falls to
#: exp(-8) = 3e-4 of it at the default fit_to = 8 xi).
SPREAD_FLOOR = 1e-5
#: The fitted range must end this many linear xi before the far edge, whose zero gradient
#: reflects the change (a distortion ~ exp(-2 distance/xi) of the profile: 2% at 2 xi).
FAR_EDGE_MARGIN = 2.0
#: Sites per linear xi when ``spacing`` = 0.
SITES_PER_XI = 6
#: Largest side of the square grid (the stationary solve's sparse LU grows faster than the sites).
MAX_SQUARE_SIDE = 500
#: Largest (sites x sigma nodes) of the time-dependent equation: ~120 bytes each (~2.4 GB).
MAX_TIME_DEPENDENT_SIZE = 20_000_000


def _log_mass_slopes(solver: StationarySolver, d: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """d ln I / d D at each D = d (Gamma = 1), by a central difference on the solver's fixed mesh."""
    return (solver.log_masses(d * math.exp(step)) - solver.log_masses(d * math.exp(-step))) / (2.0 * step * d)


def solve_profile(solvers: list[StationarySolver], site_solver: np.ndarray, alpha: float,
                  laplacian: sparse.csr_matrix, log_gamma: np.ndarray, pinned: bool, tolerance: float = 1e-11,
                  max_steps: int = 60) -> tuple[np.ndarray, int]:
    """ln Gamma_i of the stationary sites (m = 1; site i solved by ``solvers[site_solver[i]]``)
    from the start ``log_gamma`` (site 0 held when ``pinned``), coupled by ``laplacian``:
    Newton's method with backtracking (a step is halved until every free site keeps D > 0 and
    the largest residual falls). Returns (ln Gamma, Newton steps)."""
    n = log_gamma.size
    free = np.ones(n, dtype=bool)
    free[0] = not pinned
    d_diffusion = sparse.csr_matrix(laplacian + alpha * sparse.identity(n))  # dD/dGamma
    groups = [(solver, (site_solver == k) & free) for k, solver in enumerate(solvers)]

    def residual_of(lg: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        diffusion = d_diffusion @ np.exp(lg)
        if np.any(diffusion[free] <= 0.0):
            return None
        residual = np.zeros(n)
        for solver, sites in groups:
            residual[sites] = lg[sites] + solver.log_masses(diffusion[sites])
        return residual[free], diffusion

    lg = np.array(log_gamma, dtype=float)
    state = residual_of(lg)
    if state is None:
        raise InvalidInput("the start of the profile has a site with D <= 0: the perturbation is too strong for this "
                           "spacing; use a smaller pin or a larger spacing")
    residual, diffusion = state
    for step in range(max_steps + 1):
        if np.max(np.abs(residual)) < tolerance:
            return lg, step
        slope = np.zeros(n)
        for solver, sites in groups:
            slope[sites] = _log_mass_slopes(solver, diffusion[sites])
        # d residual_i / d ln Gamma_j = delta_ij + slope_i (dD_i/dGamma_j) Gamma_j, free sites only
        jacobian = sparse.identity(n) + sparse.diags(slope) @ d_diffusion @ sparse.diags(np.exp(lg))
        direction = -np.atleast_1d(spsolve(sparse.csc_matrix(jacobian)[free][:, free], residual))
        length = 1.0
        while True:
            trial = lg.copy()
            trial[free] += length * direction
            new = residual_of(trial)
            if new is not None and np.max(np.abs(new[0])) < np.max(np.abs(residual)):
                break
            length /= 2.0
            if length < 1e-6 and np.max(np.abs(residual)) < NOISE:
                return lg, step  # at the solver's round-off: converged
            if length < 1e-6:
                raise InvalidInput("the profile's Newton iteration stalled: the perturbation is too strong for this "
                                   "spacing; use a smaller pin or a larger spacing")
        lg, (residual, diffusion) = trial, new
    raise InvalidInput(f"the profile did not converge in {max_steps} Newton steps (residual "
                       f"{np.max(np.abs(residual)):.2g})")


def decay_length(r: np.ndarray, excess: np.ndarray, lo: float, hi: float, spacing: float, dimensions: int = 1,
                 floor: float = 0.0) -> float:
    """The continuum decay length xi of ``excess`` ~ exp(-r/xi) (``dimensions`` = 1) or
    K_0(r/xi) (2) fitted in log over lo <= r <= hi (at least 3 sites with |excess| > ``floor``),
    corrected for the lattice's spacing (its modes decay as exp(-2 asinh(h/(2 xi)) r/h))."""
    chosen = (r >= lo) & (r <= hi) & (np.abs(excess) > floor)
    if chosen.sum() < 3:
        return math.nan
    r, logs = r[chosen], np.log(np.abs(excess[chosen]))

    def misfit(log_length: float) -> float:
        z = r / math.exp(log_length)
        shape = -z if dimensions == 1 else np.log(special.k0e(z)) - z
        return float(np.var(logs - shape))

    best = minimize_scalar(misfit, bounds=(math.log(spacing / 20.0), math.log(100.0 * hi)), method="bounded",
                           options={"xatol": 1e-10})
    rate = math.exp(-best.x)
    if best.x >= math.log(100.0 * hi) - 1e-6:
        return math.nan  # no decay within the fitted range
    return spacing / (2.0 * math.sinh(rate * spacing / 2.0))


def _region_sites(n: int, dimensions: int, region: int) -> np.ndarray:
    """Sites of the heated region: the first ``region`` of a chain, a region x region corner block of a grid."""
    index = np.arange(n) < region
    return index if dimensions == 1 else (index[:, None] & index[None, :]).ravel()


def _site_count(settings: Mapping[str, Value]) -> int:
    """Sites of the chain (n_sites) or of the square (n_sites^2)."""
    return int(settings["n_sites"]) ** GEOMETRIES[str(settings["geometry"])]


def _edge(settings: Mapping[str, Value]) -> int:
    """Index along the axis of the perturbation's last site (the origin of the fitted range)."""
    return max(int(settings["region"]) - 1, 0) if settings["perturbation"] == "hot-region" else 0


def _profiles(params: Mapping[str, Value]) -> tuple[RateProfile, RateProfile]:
    """The exact rates (Eq. 3) of the heated region and of the rest."""
    return rate_profile("exact", {**params, "T": params["T_region"]}), rate_profile("exact", params)


def _after_heating(params: Mapping[str, Value], hot_sites: np.ndarray, laplacian: sparse.csr_matrix,
                   times: np.ndarray) -> np.ndarray:
    """Activities (times, 1 + sites): column 0 the homogeneous state's Gamma of the
    time-dependent scheme, then each site's Gamma(t) after ``hot_sites`` are heated to
    T_region at t = 0 from that state; ``times`` in units of its 1/Gamma."""
    p = {k: float(params[k]) for k in PHYSICAL_PARAMETERS}
    hot, bulk = _profiles(params)
    sites = Relaxation([hot if h else bulk for h in hot_sites], p["alpha"], p["sigma_c"], p["sigma_0"], p["tau"],
                       laplacian=laplacian)
    density, gamma = sites.stationary(site=hot_sites.size - 1)
    sites.p[:] = density
    try:
        return np.array([[gamma, *sites.activities_at(t / gamma)] for t in times])
    except NegativeDiffusion:
        raise InvalidInput(f"T_region = {params['T_region']:g}: heating the region at once makes its activity jump "
                           "more than Eq. (6) can carry at this spacing (a site's D would turn negative at the "
                           "region's edge); use a T_region closer to T or a larger spacing") from None


class MeanFieldFokkerPlanckSpatial(Model):
    """Eq. (8) (and Eq. 5) on a chain or square grid coupled by Eq. (6), under a local perturbation."""

    name = "meanfield-fp-spatial"
    description = ("mean-field Fokker-Planck equation on a chain or square grid coupled by Eq. (6), stationary and "
                   "after heating a region, under a local perturbation: the decay length of the activity against the "
                   "linear theory (paper 000, Eqs. 15-16, 23)")
    parameters = {
        **PHYSICAL_PARAMETERS,
        "pin": Field(0.01, "pinned: relative change of Gamma held at site 0", "1", float, -0.9, 10.0),
        "T_region": Field(0.5, "hot-region: temperature of the region's sites", "energy", float, 0.0, None,
                          lower_open=True),
    }
    settings = {
        "perturbation": Field("pinned", "'pinned' (Gamma held at site 0) or 'hot-region' (the region at T_region)",
                              kind=str, choices=PERTURBATIONS),
        "geometry": Field("chain", "'chain' (1-D) or 'square' (2-D grid, n_sites x n_sites)", kind=str,
                          choices=tuple(GEOMETRIES)),
        "n_sites": Field(120, "sites of the chain, or per side of the square", "1", int, 8, 100_000),
        "spacing": Field(0.0, "site spacing in units of sqrt(m); 0: a sixth of the linear theory's xi", "1", float,
                         0.0, None),
        "region": Field(10, "hot-region: sites at T_region (per side of the square)", "1", int, 1, 100_000),
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
                               "the time-dependent equation heats a region; use perturbation = 'hot-region' or "
                               "n_times = 0")
        if int(settings["n_times"]) > 0 and float(settings["t_max"]) <= float(settings["t_min"]):
            raise InvalidInput(f"t_max = {settings['t_max']:g} must be > t_min = {settings['t_min']:g}")
        if settings["geometry"] == "square" and int(settings["n_sites"]) > MAX_SQUARE_SIDE:
            raise InvalidInput(f"n_sites = {settings['n_sites']} with geometry = 'square': at most {MAX_SQUARE_SIDE} "
                               f"per side ({MAX_SQUARE_SIDE**2} sites, each with its own Eq. (8) and a row of the "
                               "sparse Newton system)")
        if settings["perturbation"] == "hot-region" and int(settings["region"]) >= int(settings["n_sites"]) - 3:
            raise InvalidInput(f"region = {settings['region']} leaves fewer than 3 of the n_sites = "
                               f"{settings['n_sites']} outside it")
        if float(settings["spacing"]) == 0.0:  # lengths in units of xi are known before solving
            n, edge = int(settings["n_sites"]), _edge(settings)
            need = (edge + (float(settings["fit_to"]) + FAR_EDGE_MARGIN) * SITES_PER_XI) + 1
            if n < need:
                longest = (n - 1 - edge) / SITES_PER_XI - FAR_EDGE_MARGIN
                shorter = f" or fit_to <= {longest:.3g}" if longest > float(settings["fit_from"]) else ""
                raise InvalidInput(
                    f"n_sites = {n} spans {(n - 1) / SITES_PER_XI:.3g} xi (spacing xi/{SITES_PER_XI}), but the fit "
                    f"reaches fit_to = {settings['fit_to']:g} xi from the perturbation's edge and must end "
                    f"{FAR_EDGE_MARGIN:g} xi before the far edge (its reflection): use n_sites >= {math.ceil(need)}"
                    f"{shorter}")
        if int(settings["n_times"]) > 0:
            sites = _site_count(settings)
            nodes = Relaxation.mesh(_profiles(params), float(params["alpha"]), float(params["sigma_c"]),
                                    float(params["tau"])).size
            if sites * nodes > MAX_TIME_DEPENDENT_SIZE:
                raise InvalidInput(f"n_times = {settings['n_times']}: the time-dependent equation on {sites} sites x "
                                   f"{nodes} stress nodes needs ~{sites * nodes * 120 / 1e9:.1f} GB (at most "
                                   f"{MAX_TIME_DEPENDENT_SIZE * 120 / 1e9:.1f} GB); use fewer n_sites")

    def seconds_per_point(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        """~1 ms per site stationary, ~40 ms per site in time (measured: 120 x 120 sites 16 s, a
        chain of 120 in time to 100/Gamma 5 s)."""
        sites = _site_count(settings)
        return 0.2 + 1e-3 * sites + (0.04 * sites if int(settings["n_times"]) else 0.0)

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        n = int(settings["n_sites"])
        variables = {
            "gamma_x": Output(("site",), "float64", "1/time", "stationary activity along the axis (sites (i, 0))"),
            "x": Output(("site",), "float64", "1", "position of the site, in units of sqrt(m)"),
            "gamma": Output((), "float64", "1/time", "homogeneous stationary activity at T (Eq. 8)"),
            "xi_linear": Output((), "float64", "1", "decay length of the linearised Eqs. (6), (8), in units of "
                                                    "sqrt(m)"),
            "xi_fit": Output((), "float64", "1", "decay length measured on the profile along the axis, in units of "
                                                 "sqrt(m) (continuum value; NaN: no decay to fit, or with an explicit "
                                                 "spacing the fitted range ends within 2 xi of the far edge)"),
            "newton_steps": Output((), "int64", "1", "Newton steps of the stationary profile"),
            "gamma_xt": Output(("time", "site"), "float64", "1/time", "activity along the axis at each time after "
                                                                    "the region is heated (Eqs. 5, 6)"),
            "xi_t": Output(("time",), "float64", "1", "decay length fitted to gamma_xt as xi_fit to the stationary "
                                                     "profile, in units of sqrt(m) (NaN: the change has not spread "
                                                     "over the fitted range)"),
        }
        coords = {"site": Coord(np.arange(n), "1", "site along the axis"),
                  "time": Coord(relaxation_times(settings) if int(settings["n_times"]) else np.empty(0), "1",
                                "time since the region was heated, in units of the homogeneous 1/Gamma")}
        if settings["geometry"] == "square":
            variables["gamma_xy"] = Output(("site", "site_y"), "float64", "1/time", "stationary activity on the grid")
            coords["site_y"] = Coord(np.arange(n), "1", "site across the axis")
        return OutputSpec(variables=variables, coords=coords)

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        step = float(settings["log_rate_step"])
        bulk = stationary_solver(params, log_rate_step=step)
        log_gamma = bulk.solve().log_gamma
        xi = length_of(bulk, log_gamma).xi
        n, dimensions = int(settings["n_sites"]), GEOMETRIES[str(settings["geometry"])]
        spacing = float(settings["spacing"]) or xi / SITES_PER_XI
        alpha = float(params["alpha"])
        laplacian = neumann_laplacian(n, dimensions, spacing)
        r = distances(n, dimensions, spacing)
        lg = np.full(n**dimensions, log_gamma)
        hot_sites = _region_sites(n, dimensions, int(settings["region"]))
        if settings["perturbation"] == "pinned":  # from the linear theory's profile
            lg += np.log1p(float(params["pin"]) * np.exp(-2.0 * math.asinh(spacing / (2.0 * xi)) * r / spacing))
            lg, steps = solve_profile([bulk], np.zeros(lg.size, dtype=int), alpha, laplacian, lg, pinned=True)
        else:  # the region's temperature moved from T to T_region, each step from the last (halved where it fails)
            steps = 0
            done, target = float(params["T"]), float(params["T_region"])
            ratio = min(1.1, max(target / done, done / target))
            while done != target:
                T_step = target if max(target / done, done / target) <= ratio else done * ratio ** math.copysign(
                    1.0, target - done)
                region = stationary_solver({**params, "T": T_step}, log_rate_step=step)
                try:
                    lg, taken = solve_profile([bulk, region], hot_sites.astype(int), alpha, laplacian, lg,
                                              pinned=False)
                except InvalidInput:
                    ratio = math.sqrt(ratio)
                    if ratio < 1.002:
                        raise InvalidInput(
                            f"T_region = {target:g}: no stationary profile with D > 0 at every site beyond T_region = "
                            f"{done:.4g}: the gradient expansion of Eq. (6) would need a negative D at the region's "
                            "edge (it holds for slowly varying activity only); use a smaller contrast") from None
                    continue
                done, steps = T_step, steps + taken
        axis = np.arange(n) * (n if dimensions == 2 else 1)  # sites (i, 0)
        x = r[axis]
        lo, hi = (x[_edge(settings)] + float(settings[key]) * xi for key in ("fit_from", "fit_to"))
        if hi > x[-1] - FAR_EDGE_MARGIN * xi:  # an explicit spacing too short for the range at this T
            lo = hi = math.inf
        fitted = decay_length(x, np.exp(lg[axis] - log_gamma) - 1.0, lo, hi, spacing, dimensions)
        times = relaxation_times(settings) if int(settings["n_times"]) else np.empty(0)
        gamma_xt = (_after_heating(params, hot_sites, laplacian, times)[:, np.r_[0, 1 + axis]] if times.size
                    else np.empty((0, n + 1)))
        excess_t = gamma_xt[:, 1:] / gamma_xt[:, :1] - 1.0  # against the time-dependent scheme's own homogeneous Gamma
        xi_t = [decay_length(x, excess, lo, hi, spacing, dimensions, floor=SPREAD_FLOOR * np.max(np.abs(excess)))
                for excess in excess_t]
        out = {"gamma_x": np.exp(lg[axis]), "x": x, "gamma": math.exp(log_gamma), "xi_linear": xi, "xi_fit": fitted,
               "newton_steps": steps, "gamma_xt": gamma_xt[:, 1:], "xi_t": np.array(xi_t, dtype=float)}
        if dimensions == 2:
            out["gamma_xy"] = np.exp(lg).reshape(n, n)
        return out

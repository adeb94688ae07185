"""Model ``meanfield-fp``: the mean-field Fokker-Planck equation of paper 000, solved numerically.

The N -> infinity limit of the ``meanfield`` simulation (Kramers-Moyal expansion of
Gaussian kicks, App. A), with D = alpha Gamma:

* stationary state, Eq. (8): Gamma found self-consistently and P(sigma) reported on
  the same bins as the simulation (see :mod:`epmsweep.model.meanfield.stationary`);
* relaxation, Eq. (5): Gamma(t) from the initial density on a log-spaced time grid
  (see :mod:`epmsweep.model.meanfield.relaxation`);
* the growing length xi of Secs. V C and VI C, exactly: the linearised normalisation
  constraint (see :mod:`epmsweep.model.meanfield.growing_length`).

Setting ``rate`` selects the exact nu of Eq. (3) or one of the paper's
approximations, Eq. (7), (10) or (19) (:mod:`epmsweep.model.meanfield.rates`), so that each
approximation can be solved exactly and compared with the full model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value
from epmsweep.model.meanfield import theory
from epmsweep.model.meanfield.growing_length import GrowingLength, length_of
from epmsweep.model.meanfield.rates import RATE_KINDS, rate_profile
from epmsweep.model.meanfield.relaxation import Relaxation
from epmsweep.model.meanfield.stationary import StationarySolution, StationarySolver
from epmsweep.model.rules import INITIAL_SETTING, PHYSICAL_PARAMETERS, STRESS_BIN_SETTINGS, check_stress_bins, stress_coord, stress_edges


def stationary_solver(params: Mapping[str, Value], rate: str = "exact", edges: np.ndarray = np.empty(0),
                      log_rate_step: float = 0.01) -> StationarySolver:
    """The solver of Eq. (8) for physical parameters ``params`` (see ``PHYSICAL_PARAMETERS``)."""
    p = {k: float(params[k]) for k in PHYSICAL_PARAMETERS}
    return StationarySolver(rate_profile(rate, p), p["alpha"], p["sigma_c"], p["sigma_0"], p["tau"], edges,
                            log_rate_step=log_rate_step, max_cell=min(2e-3, 0.1 * log_rate_step))


def solve_stationary(params: Mapping[str, Value], rate: str = "exact", edges: np.ndarray = np.empty(0),
                     log_rate_step: float = 0.01) -> StationarySolution:
    """Stationary solution of Eq. (8) for physical parameters ``params`` (see ``PHYSICAL_PARAMETERS``)."""
    return stationary_solver(params, rate, edges, log_rate_step).solve()


def growing_length(params: Mapping[str, Value], rate: str = "exact", log_rate_step: float = 0.01) -> GrowingLength:
    """The length xi (units of sqrt(m)) of the stationary state at ``params``
    (:mod:`epmsweep.model.meanfield.growing_length`)."""
    solver = stationary_solver(params, rate, log_rate_step=log_rate_step)
    return length_of(solver, solver.solve().log_gamma)


def relaxation_times(settings: Mapping[str, Value]) -> np.ndarray:
    """Log-spaced output times of Gamma(t)."""
    return np.geomspace(float(settings["t_min"]), float(settings["t_max"]), int(settings["n_times"]))


class MeanFieldFokkerPlanck(Model):
    """Numerical solution of the mean-field Fokker-Planck equation (paper 000, Eqs. 5 and 8)."""

    name = "meanfield-fp"
    description = "mean-field Fokker-Planck equation, stationary (Eq. 8) and relaxing (Eq. 5) (paper 000)"
    parameters = dict(PHYSICAL_PARAMETERS)
    settings = {
        "rate": Field("exact", "rate nu: 'exact' (Eq. 3) or the approximation 'high-T' (Eq. 7), 'mct' (Eq. 10), 'low-T' (Eq. 19)",
                      kind=str, choices=RATE_KINDS),
        "log_rate_step": Field(0.01, "largest change of log(nu) per mesh cell (relative error of Gamma ~ 0.1 step^2)",
                               "1", float, 1e-4, 0.5),
        **STRESS_BIN_SETTINGS,
        "n_times": Field(41, "number of log-spaced times for gamma_t (0: no time-dependent solution)", "1", int, 0, 100_000),
        "t_min": Field(0.01, "first time of gamma_t", "time", float, 0.0, None, lower_open=True),
        "t_max": Field(1000.0, "last time of gamma_t", "time", float, 0.0, None, lower_open=True),
        "initial": INITIAL_SETTING,
    }

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        check_stress_bins(params, settings)
        if int(settings["n_times"]) > 0 and float(settings["t_max"]) <= float(settings["t_min"]):
            raise InvalidInput(f"t_max = {settings['t_max']:g} must be > t_min = {settings['t_min']:g}")
        if float(params["alpha"]) == 0.0 and settings["rate"] in ("mct", "high-T"):
            raise InvalidInput(f"alpha = 0 with rate = {settings['rate']!r}: the rate vanishes on part of the band, "
                               "so there is no unique stationary state; use alpha > 0")
        if settings["rate"] == "low-T":
            top = theory.alpha_max(float(params["sigma_c"]), float(params["sigma_0"]))
            if not 0.0 < float(params["alpha"]) < top:
                raise InvalidInput(f"alpha = {params['alpha']:g} with rate = 'low-T': Eq. (19) needs the frozen "
                                   f"T -> 0 state of Eq. (18), which exists for 0 < alpha < {top:.6g}")

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        return OutputSpec(
            variables={
                "gamma": Output((), "float64", "1/time", "stationary plastic activity Gamma (Eq. 8)"),
                "log10_gamma": Output((), "float64", "1", "log10 of the stationary activity (finite where gamma underflows)"),
                "p_sigma": Output(("sigma",), "float64", "1/stress", "stationary stress density P(sigma), bin averages"),
                "gamma_t": Output(("time",), "float64", "1/time", "activity Gamma(t) relaxing from the initial density (Eq. 5)"),
                "xi": Output((), "float64", "1", "length over which a small local change of the activity decays (or, "
                                               "xi_decays = 0, 2 pi xi its wavelength): Eqs. (6), (8) linearised, in "
                                               "units of sqrt(m), m of Eq. (A5)"),
                "xi_decays": Output((), "int8", "1", "1: a local change of the activity decays over xi; 0: it "
                                                     "oscillates"),
                "d_log_mass_d_log_d": Output((), "float64", "1", "-s: d ln int P / d ln D at fixed Gamma, which sets "
                                                                 "xi^2/m = s/(alpha (1 - s))"),
            },
            coords={
                "sigma": stress_coord(settings),
                "time": Coord(relaxation_times(settings) if int(settings["n_times"]) else np.empty(0), "time",
                              "time since the initial density"),
            },
        )

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        edges = stress_edges(settings)
        rate = str(settings["rate"])
        solver = stationary_solver(params, rate, edges, float(settings["log_rate_step"]))
        sol = solver.solve()
        length = length_of(solver, sol.log_gamma)
        times = relaxation_times(settings) if int(settings["n_times"]) else np.empty(0)
        gamma_t = np.empty(times.size)
        if times.size:
            p = {k: float(params[k]) for k in PHYSICAL_PARAMETERS}
            relax = Relaxation(rate_profile(rate, p), p["alpha"], p["sigma_c"], p["sigma_0"], p["tau"], str(settings["initial"]))
            gamma_t[:] = [relax.gamma_at(t) for t in times]
        return {
            "gamma": math.exp(sol.log_gamma),
            "log10_gamma": sol.log_gamma / math.log(10.0),
            "p_sigma": sol.bin_average(edges),
            "gamma_t": gamma_t,
            "xi": length.xi,
            "xi_decays": int(length.decays),
            "d_log_mass_d_log_d": -length.elasticity,
        }

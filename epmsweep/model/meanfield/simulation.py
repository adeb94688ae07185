"""Model ``meanfield``: exact stochastic simulation of the mean-field thermal EPM.

The dynamics is that of Appendix E of paper 000 (Baron & Biroli): N sites with
stresses sigma_i; site i relaxes at rate nu(sigma_i)/tau (Eq. 3); its stress is
then redrawn from y(sigma) (Eq. 1) and every *other* site receives an independent
Gaussian kick of variance 2 alpha / N.

The event engine (:mod:`epmsweep.model.events`: ``thinning``, ``direct`` of App. E, and
``auto`` switching between them) runs it; the N sites are its system. Kicks are applied
lazily: a site last brought up to date after event c has since received k = E - c
independent kicks, whose sum is one Gaussian of variance 2 alpha k / N, applied when
the site is next looked at (principle of deferred decisions: no other site's fate
depends on these kicks). The relaxing site gets no kick from its own event. Thinning
therefore costs O(1) per proposal, N/A proposals per event (A = sum_i nu_i, events per
unit tau), against N site updates per event for direct.

Measurements over the measurement window:

* Gamma = events / (N * duration), in events per site per unit time; its standard
  error from batch means over ``n_windows`` windows (ratio estimator);
* P(sigma), the time-averaged single-site stress density. In thinning mode every
  proposal samples a uniformly chosen site at the ticks of a Poisson process that is
  independent of the state, so by PASTA the histogram of proposed stresses,
  weighted by tau, is an unbiased estimate of the site-time spent in each bin. In
  direct mode the exact site-time (holding time times site count) is accumulated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from epmsweep.model import events
from epmsweep.model.core import TIME_MEAN, Coord, Field, Model, Output, OutputSpec, Value
from epmsweep.model.events import METHODS, EngineParams
from epmsweep.model.histogram import UniformBins, density
from epmsweep.model.jit import bind
from epmsweep.model.run_length import Chunk, RunLength, burn_in, measure, run_length_outputs, run_length_results, run_length_settings
from epmsweep.model.rules import INITIAL_SETTING, PHYSICAL_PARAMETERS, STRESS_BIN_SETTINGS, Paper000Rule, check_stress_bins, stress_coord, stress_edges

#: Activity A = sum_i nu_i (events per unit tau, whole system) below which ``auto``
#: uses the direct method. Thinning costs N/A proposals per event, direct N site
#: updates; one proposal costs ~23 ns and one site update ~15 ns on one core
#: (benchmarks/RESULTS.md), so the break-even is at A = 1.5, independent of N.
SWITCH_ACTIVITY = 1.5


def _initial_stresses(kind: str, n: int, params: Mapping[str, Value], rng: np.random.Generator) -> np.ndarray:
    sigma_c, sigma_0 = float(params["sigma_c"]), float(params["sigma_0"])
    if kind == "gaussian":  # App. E: zero mean, standard deviation sigma_c
        return sigma_c * rng.standard_normal(n)
    mags = sigma_0 * np.log1p(rng.random(n) * np.expm1(sigma_c / sigma_0))  # "y": Eq. (1)
    return np.where(rng.random(n) < 0.5, mags, -mags)


class MeanField(Model):
    """Gillespie simulation of the mean-field thermal EPM (paper 000, App. E)."""

    name = "meanfield"
    description = "mean-field thermal EPM, exact stochastic simulation of N sites (paper 000, App. E)"
    parameters = {
        **PHYSICAL_PARAMETERS,
        "N": Field(1000, "number of sites", "1", int, 2, None),
    }
    settings = {
        "unit": Field("sweeps", "unit of burn_in and duration: 'sweeps' (N events each) or 'time' (tau)", kind=str, choices=("sweeps", "time")),
        **run_length_settings("sweeps or time", max_burn_in=1e4, max_duration=1e5),
        "n_windows": Field(20, "consecutive windows for gamma_t, batch-mean errors and the drift test", "1", int, 4,
                           100_000),
        "initial": INITIAL_SETTING,
        "method": Field("auto", "algorithm: 'auto' (switching), 'thinning' (O(1)/proposal) or 'direct' (O(N)/event)", kind=str, choices=tuple(METHODS)),
        **STRESS_BIN_SETTINGS,
    }

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        check_stress_bins(params, settings)
        if settings["unit"] == "sweeps":  # each window at least one event
            RunLength.from_settings(settings).check(int(settings["n_windows"]), 1.0 / int(params["N"]),
                                                    f"one event (1/N sweeps, N = {params['N']})")

    def seconds_per_point(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        """About 0.2 us per event (benchmarks/RESULTS.md: ~6e6 events/s at N = 1000, T = 1) when
        the run length is fixed in sweeps; slower at low T, which only makes batches shorter."""
        lengths = (settings["burn_in"], settings["duration"])
        if settings["unit"] != "sweeps" or not all(isinstance(v, int | float) for v in lengths):
            return super().seconds_per_point(params, settings)
        return 2e-7 * int(params["N"]) * float(sum(lengths))

    def memory_bytes(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        """20 bytes per site (stresses, rates and the engine's per-site state; measured 16)."""
        return self.POINT_OVERHEAD_BYTES + 20.0 * int(params["N"])

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        n_windows = int(settings["n_windows"])
        return OutputSpec(
            variables={
                "gamma": Output((), "float64", "1/time", "plastic activity Gamma: events per site per unit time",
                                cell_methods=TIME_MEAN),
                "gamma_err": Output((), "float64", "1/time", "standard error of gamma (from its integrated autocorrelation time)"),
                "gamma_t": Output(("window",), "float64", "1/time", "activity in consecutive measurement windows",
                                  cell_methods=TIME_MEAN),
                "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
                "p_sigma": Output(("sigma",), "float64", "1/stress", "time-averaged single-site stress density P(sigma)",
                                  cell_methods=TIME_MEAN),
                "events": Output((), "int64", "1", "number of plastic events in the measurement window"),
                "sim_time": Output((), "float64", "time", "simulated duration of the measurement window"),
                **run_length_outputs(str(settings["unit"]), "gamma"),
            },
            coords={
                "window": Coord(np.arange(n_windows), "1", "measurement window index"),
                "sigma": stress_coord(settings),
            },
        )

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        return simulate(params, settings, rng)


def simulate(params: Mapping[str, Value], settings: Mapping[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Run one validated point; see the module docstring for the estimators and
    :mod:`epmsweep.model.run_length` for the run lengths."""
    n = int(params["N"])
    edges = stress_edges(settings)
    rule = Paper000Rule.from_params(params)
    engine = EngineParams(METHODS[str(settings["method"])], SWITCH_ACTIVITY, 2.0 * float(params["alpha"]) / n,
                          UniformBins.from_edges(edges))
    state = events.new_state(_initial_stresses(str(settings["initial"]), n, params, rng), engine)
    counters, clock = state.counters, state.clock
    advance_bound = bind(events.advance, None, state, rule, engine, rng, 0.0, 0, True)
    in_sweeps = settings["unit"] == "sweeps"
    origin = [0, 0.0]  # events and time at the start of the current phase

    def advance_to(t: float, measuring: bool) -> Chunk:
        """To length t of the current phase: in sweeps the boundaries are event counts
        (rounded cumulative, so they add up to t N events), in time units times."""
        e0, t0 = counters[events.EVENTS], clock[events.TIME]
        if in_sweeps:
            advance_bound(None, state, rule, engine, rng, math.inf, origin[0] + round(t * n), measuring)
        else:
            advance_bound(None, state, rule, engine, rng, origin[1] + t, events.NO_EVENT_LIMIT, measuring)
        n_events, span = counters[events.EVENTS] - e0, clock[events.TIME] - t0
        if not math.isfinite(span):  # froze: every rate underflowed, time ran to infinity
            return Chunk(t - (e0 - origin[0]) / n if in_sweeps else span, 0.0, 0.0, math.inf)
        return Chunk(n_events / n if in_sweeps else span, n_events / n, n_events, n * span)

    length = RunLength.from_settings(settings)
    burn = burn_in(lambda t: advance_to(t, False), length, 1.0)
    origin[:] = [counters[events.EVENTS], clock[events.TIME]]
    start_time = clock[events.TIME]
    meas = measure(lambda t: advance_to(t, True), length, int(settings["n_windows"]), burn.rate, 1.0 / n)
    site_time = np.array([w.den for w in meas.windows])
    ends = start_time + np.cumsum(site_time) / n
    frozen = not np.all(np.isfinite(site_time))
    return {
        "gamma": 0.0 if frozen else meas.value,
        "gamma_err": 0.0 if frozen else meas.error,
        "gamma_t": meas.per_window(),  # 0 in a window that froze (no event in infinite time)
        "t_window": ends - 0.5 * site_time / n,
        "p_sigma": density(state.hist, edges),
        "events": meas.events,
        "sim_time": ends[-1] - start_time,
        **run_length_results(burn, meas),
    }

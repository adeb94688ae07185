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
from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value
from epmsweep.model.events import METHODS, EngineParams
from epmsweep.model.histogram import UniformBins, density
from epmsweep.model.jit import bind
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
        "burn_in": Field(100.0, "burn-in before measuring, in `unit`", "sweeps or time", float, 0.0, None),
        "duration": Field(1000.0, "length of the measurement window, in `unit`", "sweeps or time", float, 0.0, None, lower_open=True),
        "n_windows": Field(20, "number of consecutive windows for gamma_t and batch-mean errors", "1", int, 2, 100_000),
        "initial": INITIAL_SETTING,
        "method": Field("auto", "algorithm: 'auto' (switching), 'thinning' (O(1)/proposal) or 'direct' (O(N)/event)", kind=str, choices=tuple(METHODS)),
        **STRESS_BIN_SETTINGS,
    }

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        check_stress_bins(params, settings)
        if settings["unit"] == "sweeps" and round(float(settings["duration"]) * int(params["N"])) < int(settings["n_windows"]):
            raise InvalidInput(f"duration = {settings['duration']:g} sweeps of N = {params['N']} events is fewer than "
                               f"n_windows = {settings['n_windows']} events: give each window at least one event")

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        n_windows = int(settings["n_windows"])
        return OutputSpec(
            variables={
                "gamma": Output((), "float64", "1/time", "plastic activity Gamma: events per site per unit time"),
                "gamma_err": Output((), "float64", "1/time", "standard error of gamma (batch means over windows)"),
                "gamma_t": Output(("window",), "float64", "1/time", "activity in consecutive measurement windows"),
                "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
                "p_sigma": Output(("sigma",), "float64", "1/stress", "time-averaged single-site stress density P(sigma)"),
                "events": Output((), "int64", "1", "number of plastic events in the measurement window"),
                "sim_time": Output((), "float64", "time", "simulated duration of the measurement window"),
            },
            coords={
                "window": Coord(np.arange(n_windows), "1", "measurement window index"),
                "sigma": stress_coord(settings),
            },
        )

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        return simulate(params, settings, rng)


def simulate(params: Mapping[str, Value], settings: Mapping[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Run one validated point; see the module docstring for the estimators."""
    n = int(params["N"])
    edges = stress_edges(settings)
    rule = Paper000Rule.from_params(params)
    engine = EngineParams(METHODS[str(settings["method"])], SWITCH_ACTIVITY, 2.0 * float(params["alpha"]) / n,
                          UniformBins.from_edges(edges))
    state = events.new_state(_initial_stresses(str(settings["initial"]), n, params, rng), engine)
    counters, clock = state.counters, state.clock

    advance_bound = bind(events.advance, None, state, rule, engine, rng, 0.0, 0, True)

    def advance(t_stop: float, e_stop: int, measuring: bool) -> None:
        advance_bound(None, state, rule, engine, rng, t_stop, e_stop, measuring)

    # Burn-in, then n_windows consecutive windows; in sweep units the boundaries are
    # event counts (rounded cumulative, so they add up to duration * N events), in
    # time units they are times.
    n_windows = int(settings["n_windows"])
    burn_in, duration = float(settings["burn_in"]), float(settings["duration"])
    no_limit = events.NO_EVENT_LIMIT
    if settings["unit"] == "sweeps":
        advance(math.inf, round(burn_in * n), False)
        stops = [(math.inf, counters[events.EVENTS] + round(k * duration * n / n_windows)) for k in range(1, n_windows + 1)]
    else:
        advance(burn_in, no_limit, False)
        stops = [(burn_in + k * duration / n_windows, no_limit) for k in range(1, n_windows + 1)]
    win_events = np.zeros(n_windows, dtype=np.int64)
    win_start, win_end = np.zeros(n_windows), np.zeros(n_windows)
    for w, (t_stop, e_stop) in enumerate(stops):
        events_before, win_start[w] = counters[events.EVENTS], clock[events.TIME]
        advance(t_stop, e_stop, True)
        win_events[w], win_end[w] = counters[events.EVENTS] - events_before, clock[events.TIME]

    with np.errstate(invalid="ignore"):  # inf - inf after a freeze
        gamma, gamma_err, gamma_t = batch_means(win_events, n * (win_end - win_start))
    return {
        "gamma": gamma,
        "gamma_err": gamma_err,
        "gamma_t": gamma_t,
        "t_window": 0.5 * (win_start + win_end),
        "p_sigma": density(state.hist, edges),
        "events": win_events.sum(),
        "sim_time": win_end[-1] - win_start[0],
    }


def batch_means(counts: np.ndarray, site_time: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Activity over consecutive windows with ``counts`` events in ``site_time`` (N x duration).

    Returns Gamma = sum(events) / sum(site_time), its batch-means standard error from the
    ratio estimator, SE^2 = sum_k (x_k - Gamma y_k)^2 / (n (n - 1) mean(y)^2), and the
    per-window activity. A system that froze (every rate underflowed, so time ran to
    infinity) has Gamma = 0 from then on.
    """
    if not np.all(np.isfinite(site_time)):
        return 0.0, 0.0, np.where(np.isfinite(site_time), counts / site_time, 0.0)
    n = counts.size
    gamma = counts.sum() / site_time.sum()
    resid = counts - gamma * site_time
    return gamma, math.sqrt((resid**2).sum() / (n * (n - 1))) / site_time.mean(), counts / site_time

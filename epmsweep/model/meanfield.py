"""Model ``meanfield``: exact stochastic simulation of the mean-field thermal EPM.

The dynamics is that of Appendix E of paper 000 (Baron & Biroli): N sites with
stresses sigma_i; site i relaxes at rate nu(sigma_i)/tau (Eq. 3); its stress is
then redrawn from y(sigma) (Eq. 1) and every *other* site receives an independent
Gaussian kick of variance 2 alpha / N.

Two exact algorithms are implemented, and ``method="auto"`` switches between them
while it runs (both are exact, so switching at any event keeps the statistics):

* ``direct`` -- the Gillespie algorithm of App. E: after each event, kick all other
  sites, recompute all rates, draw the waiting time from the total rate and pick the
  next site by linear search. O(N) work per event.
* ``thinning`` -- O(1) work per proposal. Every site carries a Poisson clock of rate
  1/tau (the bound nu <= 1); at a tick of site j the proposal is accepted with
  probability nu(sigma_j), which is exact thinning. Kicks are applied lazily: a site
  last looked at when the global event counter was c has since received k = E - c
  independent kicks, whose sum is one Gaussian of variance 2 alpha k / N. Its stress
  is therefore updated only when it is looked at (principle of deferred decisions:
  no other site's fate depends on these kicks). The relaxing site itself gets no
  kick from its own event. The cost per event is N / A proposals, where
  A = sum_i nu_i is the system's activity in events per unit tau, against N site
  updates for ``direct``; ``auto`` uses thinning while A > ``_SWITCH_ACTIVITY`` and
  direct below it.

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
from numba import njit

from epmsweep.model.base import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value, register
from epmsweep.model.rules import (
    INITIAL_SETTING,
    PHYSICAL_PARAMETERS,
    STRESS_BIN_SETTINGS,
    barrier_scalar,
    check_stress_bins,
    draw_y,
    nu_scalar,
    stress_coord,
    stress_edges,
)

# Kernel method codes.
AUTO, THINNING, DIRECT = 0, 1, 2
METHODS = {"auto": AUTO, "thinning": THINNING, "direct": DIRECT}

#: Activity A = sum_i nu_i (events per unit tau, whole system) below which ``auto``
#: uses the direct method. Thinning costs N/A proposals per event, direct N site
#: updates; one proposal costs ~23 ns and one site update ~15 ns on one core
#: (benchmarks/RESULTS.md), so the break-even is at A = 1.5, independent of N.
#: ``auto`` goes back to thinning above twice this value (hysteresis).
_SWITCH_ACTIVITY = 1.5

# Layout of the integer and float state arrays shared across kernel calls.
_I_EVENTS, _I_MODE, _I_PROPOSALS, _I_ACCEPTED = 0, 1, 2, 3
_F_TIME = 0


@njit(cache=True, inline="always")
def _bin_index(s: float, lo: float, inv_width: float, nbins: int) -> int:
    """Histogram bin of stress ``s``; ``nbins`` is the out-of-range slot."""
    x = (s - lo) * inv_width
    if x >= 0.0 and x < nbins:
        return int(x)
    return nbins


@njit(cache=True)
def _thinning(sigma, last, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, auto, measuring):
    """Thinning with lazy kicks until time ``t_stop`` or ``e_stop`` events.

    Returns True when a stop condition is reached, False when ``auto`` asks for
    the direct method.
    """
    T, alpha, a, sigma_c, sigma_0, K, tau = phys[0], phys[1], phys[2], phys[3], phys[4], phys[5], phys[6]
    lo, inv_w, nbins = bins[0], bins[1], int(bins[2])
    n = sigma.size
    kick_var = 2.0 * alpha / n
    dt_scale = tau / n  # proposals form a Poisson process of total rate N/tau
    check_every = 4 * n  # about 4 tau of simulated time between switch decisions
    events = istate[_I_EVENTS]
    t = fstate[_F_TIME]
    proposals = istate[_I_PROPOSALS]
    accepted = istate[_I_ACCEPTED]
    done = True
    while True:
        t_next = t + rng.standard_exponential() * dt_scale
        if t_next >= t_stop:  # memoryless: the next proposal is redrawn from t_stop
            t = t_stop
            break
        t = t_next
        j = int(rng.random() * n)
        s = sigma[j]
        k = events - last[j]
        if k > 0:  # k pending kicks: one Gaussian of variance 2 alpha k / N
            s += math.sqrt(kick_var * k) * rng.standard_normal()
            sigma[j] = s
            last[j] = events
        if measuring:  # PASTA sample of the site-time histogram
            hist[_bin_index(s, lo, inv_w, nbins)] += tau
        # Accept with probability nu = exp(-dE/T): with e ~ Exp(1), P(e > dE/T) = nu.
        barrier = barrier_scalar(s, a, sigma_c, K)
        if barrier <= 0.0 or rng.standard_exponential() * T > barrier:
            sigma[j] = draw_y(rng, sigma_c, sigma_0)
            events += 1
            last[j] = events  # the relaxing site gets no kick from its own event
            accepted += 1
            if events >= e_stop:
                break
        if auto:
            proposals += 1
            if proposals >= check_every:
                activity = accepted * n / proposals  # estimate of sum_i nu_i
                proposals = 0
                accepted = 0
                if activity < _SWITCH_ACTIVITY:
                    done = False
                    break
    istate[_I_EVENTS] = events
    istate[_I_PROPOSALS] = proposals
    istate[_I_ACCEPTED] = accepted
    fstate[_F_TIME] = t
    return done


@njit(cache=True)
def _direct(sigma, last, rates, occupancy, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, auto, measuring):
    """Gillespie algorithm of App. E (O(N) per event) until ``t_stop`` or ``e_stop``.

    Returns True when a stop condition is reached, False when ``auto`` asks for
    thinning. ``occupancy`` holds the number of sites per histogram bin in the
    current state, so the exact site-time histogram costs O(bins) per event.
    """
    T, alpha, a, sigma_c, sigma_0, K, tau = phys[0], phys[1], phys[2], phys[3], phys[4], phys[5], phys[6]
    lo, inv_w, nbins = bins[0], bins[1], int(bins[2])
    n = sigma.size
    kick_sd = math.sqrt(2.0 * alpha / n)
    events = istate[_I_EVENTS]
    t = fstate[_F_TIME]
    # Bring every site up to date (pending lazy kicks) and compute all rates.
    total = 0.0
    occupancy[:] = 0.0
    for i in range(n):
        k = events - last[i]
        if k > 0:
            sigma[i] += math.sqrt(kick_sd * kick_sd * k) * rng.standard_normal()
        last[i] = events
        r = nu_scalar(sigma[i], T, a, sigma_c, K)
        rates[i] = r
        total += r
        occupancy[_bin_index(sigma[i], lo, inv_w, nbins)] += 1.0
    done = True
    while True:
        if total <= 0.0:  # every rate underflowed: nothing ever happens again
            t = t_stop
            break
        dt = rng.standard_exponential() * tau / total
        if t + dt >= t_stop:
            if measuring:
                hist += (t_stop - t) * occupancy
            t = t_stop
            break
        if measuring:
            hist += dt * occupancy
        t += dt
        target = rng.random() * total
        j = n - 1
        acc = 0.0
        for i in range(n):
            acc += rates[i]
            if target < acc:
                j = i
                break
        sigma[j] = draw_y(rng, sigma_c, sigma_0)
        events += 1
        total = 0.0
        occupancy[:] = 0.0
        for i in range(n):
            if i != j and kick_sd > 0.0:
                sigma[i] += kick_sd * rng.standard_normal()
            r = nu_scalar(sigma[i], T, a, sigma_c, K)
            rates[i] = r
            total += r
            occupancy[_bin_index(sigma[i], lo, inv_w, nbins)] += 1.0
        if events >= e_stop:
            break
        if auto and total > 2.0 * _SWITCH_ACTIVITY:
            done = False
            break
    last[:] = events
    istate[_I_EVENTS] = events
    istate[_I_PROPOSALS] = 0
    istate[_I_ACCEPTED] = 0
    fstate[_F_TIME] = t
    return done


@njit(cache=True)
def _advance(sigma, last, rates, occupancy, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, method, measuring):
    """Advance the N-site system until time ``t_stop`` or ``e_stop`` total events."""
    if fstate[_F_TIME] >= t_stop or istate[_I_EVENTS] >= e_stop:
        return
    auto = method == AUTO
    while True:
        if istate[_I_MODE] == THINNING:
            if _thinning(sigma, last, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, auto, measuring):
                return
            istate[_I_MODE] = DIRECT
        else:
            if _direct(sigma, last, rates, occupancy, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, auto, measuring):
                return
            istate[_I_MODE] = THINNING


def _initial_stresses(kind: str, n: int, params: Mapping[str, Value], rng: np.random.Generator) -> np.ndarray:
    sigma_c, sigma_0 = float(params["sigma_c"]), float(params["sigma_0"])
    if kind == "gaussian":  # App. E: zero mean, standard deviation sigma_c
        return sigma_c * rng.standard_normal(n)
    mags = sigma_0 * np.log1p(rng.random(n) * np.expm1(sigma_c / sigma_0))  # "y": Eq. (1)
    return np.where(rng.random(n) < 0.5, mags, -mags)


@register
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
    nbins = edges.size - 1
    phys = np.array([params[k] for k in ("T", "alpha", "a", "sigma_c", "sigma_0", "K", "tau")], dtype=float)
    bins = np.array([edges[0], nbins / (edges[-1] - edges[0]), nbins], dtype=float)
    method = METHODS[str(settings["method"])]

    sigma = _initial_stresses(str(settings["initial"]), n, params, rng)
    last = np.zeros(n, dtype=np.int64)
    rates = np.empty(n)
    occupancy = np.zeros(nbins + 1)
    hist = np.zeros(nbins + 1)
    istate = np.zeros(4, dtype=np.int64)
    istate[_I_MODE] = DIRECT if method == DIRECT else THINNING
    fstate = np.zeros(1)

    def advance(t_stop: float, e_stop: int, measuring: bool) -> None:
        _advance(sigma, last, rates, occupancy, hist, istate, fstate, rng, phys, bins, t_stop, e_stop, method, measuring)

    # Burn-in, then n_windows consecutive windows; in sweep units the boundaries are
    # event counts (rounded cumulative, so they add up to duration * N events), in
    # time units they are times.
    n_windows = int(settings["n_windows"])
    burn_in, duration = float(settings["burn_in"]), float(settings["duration"])
    no_limit = np.iinfo(np.int64).max
    if settings["unit"] == "sweeps":
        advance(math.inf, round(burn_in * n), False)
        stops = [(math.inf, istate[_I_EVENTS] + round(k * duration * n / n_windows)) for k in range(1, n_windows + 1)]
    else:
        advance(burn_in, no_limit, False)
        stops = [(burn_in + k * duration / n_windows, no_limit) for k in range(1, n_windows + 1)]
    win_events = np.zeros(n_windows, dtype=np.int64)
    win_start, win_end = np.zeros(n_windows), np.zeros(n_windows)
    for w, (t_stop, e_stop) in enumerate(stops):
        events_before, win_start[w] = istate[_I_EVENTS], fstate[_F_TIME]
        advance(t_stop, e_stop, True)
        win_events[w], win_end[w] = istate[_I_EVENTS] - events_before, fstate[_F_TIME]

    with np.errstate(invalid="ignore"):  # inf - inf after a freeze
        gamma, gamma_err, gamma_t = batch_means(win_events, n * (win_end - win_start))
    p_sigma = hist[:nbins] / (hist.sum() * np.diff(edges))  # self-normalised: out-of-range mass in hist[-1]
    return {
        "gamma": gamma,
        "gamma_err": gamma_err,
        "gamma_t": gamma_t,
        "t_window": 0.5 * (win_start + win_end),
        "p_sigma": p_sigma,
        "events": win_events.sum(),
        "sim_time": win_end[-1] - win_start[0],
    }


def batch_means(events: np.ndarray, site_time: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Activity over consecutive windows with ``events`` in ``site_time`` (N x duration).

    Returns Gamma = sum(events) / sum(site_time), its batch-means standard error from the
    ratio estimator, SE^2 = sum_k (x_k - Gamma y_k)^2 / (n (n - 1) mean(y)^2), and the
    per-window activity. A system that froze (every rate underflowed, so time ran to
    infinity) has Gamma = 0 from then on.
    """
    if not np.all(np.isfinite(site_time)):
        return 0.0, 0.0, np.where(np.isfinite(site_time), events / site_time, 0.0)
    n = events.size
    gamma = events.sum() / site_time.sum()
    resid = events - gamma * site_time
    return gamma, math.sqrt((resid**2).sum() / (n * (n - 1))) / site_time.mean(), events / site_time

"""The one exact event engine of paper 000's rule: site i relaxes at rate nu(sigma_i)/tau (Eq. 3).

Used by the mean-field simulation (App. E) and by the lattice's ``baron-biroli`` rule.
The engine owns what the two have in common: the stresses (a flat view of the model's
field), the redraw from y(sigma) (Eq. 1), and Gaussian kicks of variance ``kick_var``
to every other site per event applied *lazily* (the mean field's 2 alpha/N; 0 on the
lattice). A site last brought up to date after event c has since received k = E - c
kicks, whose sum is one Gaussian of variance k kick_var, applied when the site is next
looked at (principle of deferred decisions: no other site's fate depends on them). The
relaxing site gets no kick from its own event.

A model describes the rest as a *system*, a NamedTuple of arrays, and implements one
hook for its system type with :func:`numba.extending.overload`:
``relax(system, j, old, new, t, rng, measuring)``: site j relaxes at time t from stress
``old`` to ``new`` (already drawn from y): pass the drop on to the other sites and
record what the model measures per event; the engine then sets sigma_j = new. The
mean field passes ``None`` (no hook): its events have no effect beyond the redraw and
the kicks.

Two exact algorithms, and ``auto`` switches between them while it runs (both are exact,
so switching at any event keeps the statistics):

* ``thinning`` -- proposals form a Poisson process of total rate N/tau (the bound
  nu <= 1 on every site); a proposal picks a uniform site j and is accepted with
  probability nu(sigma_j). O(1) per proposal plus the system's cost of an event; N/A
  proposals per event, A = sum_i nu_i the activity in events per unit tau.
* ``direct`` -- the Gillespie algorithm of App. E: all rates are kept, the waiting time
  is drawn from their sum and the site by linear search; every event refreshes all
  rates. O(N) per event.

``auto`` measures A every 4N proposals (about 4 tau) and uses direct below the model's
``switch_activity`` and thinning again above twice that value (hysteresis). The
break-even depends on what an event costs the model, so it is the model's number.

P(sigma) is an exact time average in both modes: in thinning mode every proposal samples
a uniform site at the ticks of a Poisson process independent of the state, so by PASTA
the histogram of proposed stresses, weighted by tau/N x N, estimates the site-time in
each bin; in direct mode the site occupancy of the bins is kept and weighted by the
holding time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)
from epmsweep.model.histogram import UniformBins, uniform_slot
from epmsweep.model.rules import Paper000Rule, barrier_scalar, draw_y, nu_scalar

AUTO, THINNING, DIRECT = 0, 1, 2
METHODS = {"auto": AUTO, "thinning": THINNING, "direct": DIRECT}

# slots of EngineState.counters and EngineState.clock
EVENTS, MODE, PROPOSALS, ACCEPTED, OCCUPANCY_CURRENT = 0, 1, 2, 3, 4
TIME, TOTAL_RATE = 0, 1
STALE = -1.0  # TOTAL_RATE before the rates are (re)computed
NO_EVENT_LIMIT = np.iinfo(np.int64).max


class EngineState(NamedTuple):
    """What the engine carries between calls; ``hist`` accumulates site-time per stress slot."""

    sigma: np.ndarray  # float64[N]: stresses (a view of the model's field), current up to pending kicks
    last: np.ndarray  # int64[N]: event count when each site was last brought up to date
    counters: np.ndarray  # int64[5]: events, mode, proposals and accepted since the last activity
    #                       check, whether ``occupancy`` is current (it is kept only while measuring)
    clock: np.ndarray  # float64[2]: time, total rate in direct mode (STALE: to be computed)
    rates: np.ndarray  # float64[N]: nu_i in direct mode
    occupancy: np.ndarray  # float64[bins + 2]: sites per P(sigma) slot in direct mode
    hist: np.ndarray  # float64[bins + 2]: site-time per P(sigma) slot while measuring (uniform_slot layout)


class EngineParams(NamedTuple):
    """The algorithm (``method``: AUTO, THINNING or DIRECT; the model's ``switch_activity``),
    the variance ``kick_var`` of the Gaussian kick every other site gets per event, and
    the P(sigma) bins."""

    method: int
    switch_activity: float
    kick_var: float
    bins: UniformBins


def new_state(sigma: np.ndarray, params: EngineParams) -> EngineState:
    """A fresh engine at time 0 with no event over the stresses ``sigma`` (a contiguous
    array, updated in place), in the mode the method starts with."""
    n, n_slots = sigma.size, params.bins.n + 2
    counters = np.zeros(5, np.int64)
    counters[MODE] = DIRECT if params.method == DIRECT else THINNING
    return EngineState(sigma.reshape(n), np.zeros(n, np.int64), counters, np.array([0.0, STALE]), np.zeros(n),
                       np.zeros(n_slots), np.zeros(n_slots))


# ---- the hook: each system type implements it with numba.extending.overload --------
def relax(system, j, old, new, t, rng, measuring):
    """Site j relaxes at time t from stress ``old`` to ``new``."""
    raise NotImplementedError("implemented per system type with numba.extending.overload")


# ---- the engine ----------------------------------------------------------------------
@njit(cache=True, nogil=True)
def advance(system, state, rule: Paper000Rule, params: EngineParams, rng, t_stop, e_stop, measuring):
    """Advance until time ``t_stop`` or ``e_stop`` events in all, whichever comes first.

    Exact continuous time: a proposal or event beyond t_stop is dropped and, the process
    being memoryless, drawn afresh by the next call.
    """
    counters, clock = state.counters, state.clock
    while clock[TIME] < t_stop and counters[EVENTS] < e_stop:
        if counters[MODE] == THINNING:
            if _thinning(system, state, rule, params, rng, t_stop, e_stop, measuring):
                return
            counters[MODE] = DIRECT
            clock[TOTAL_RATE] = STALE
        else:
            if _direct(system, state, rule, params, rng, t_stop, e_stop, measuring):
                return
            counters[MODE] = THINNING


@njit(cache=True, inline="always")
def _pending_kicks_sd(last, i, events, kick_var, kick_sd):
    """Standard deviation of the sum of the kicks pending on site i after ``events``
    events (one Gaussian of variance k kick_var for k kicks; 0 if none; ``kick_sd`` =
    sqrt(kick_var) for the common k = 1); marks i current. The caller draws the Gaussian:
    a generator (or a NamedTuple) passed into a helper costs a reference-count round trip
    per call, which the hot loops cannot afford; so the event itself, a few lines, is
    written out in both loops."""
    k = events - last[i]
    last[i] = events
    if k <= 0 or kick_var <= 0.0:
        return 0.0
    return kick_sd if k == 1 else math.sqrt(kick_var * k)


@njit(cache=True, nogil=True)
def _thinning(system, state, rule, params, rng, t_stop, e_stop, measuring):
    """Thinning until a stop condition (True) or until ``auto`` asks for direct (False)."""
    sigma, last, counters, clock, hist = state.sigma, state.last, state.counters, state.clock, state.hist
    n = sigma.size
    kick_var, kick_sd, bins = params.kick_var, math.sqrt(params.kick_var), params.bins
    auto = params.method == AUTO
    dt_scale = rule.tau / n  # proposals form a Poisson process of total rate N/tau
    check_every = 4 * n  # about 4 tau of simulated time between switch decisions
    events = counters[EVENTS]
    proposals, accepted = counters[PROPOSALS], counters[ACCEPTED]  # locals: kept in registers
    t = clock[TIME]
    done = True
    while True:
        t_next = t + rng.standard_exponential() * dt_scale
        if t_next >= t_stop:
            t = t_stop
            break
        t = t_next
        j = int(rng.random() * n)
        s = sigma[j]
        sd = _pending_kicks_sd(last, j, events, kick_var, kick_sd)
        if sd > 0.0:
            s += sd * rng.standard_normal()
            sigma[j] = s
        if measuring:  # PASTA sample of the site-time histogram
            hist[uniform_slot(s, bins)] += rule.tau
        # accept with probability nu = exp(-dE/T): with e ~ Exp(1), P(e > dE/T) = nu
        barrier = barrier_scalar(s, rule.a, rule.sigma_c, rule.K)
        if barrier <= 0.0 or rng.standard_exponential() * rule.T > barrier:  # site j relaxes
            events += 1
            new = draw_y(rng, rule.sigma_c, rule.sigma_0)
            if system is not None:  # pruned at compile time for the mean field
                relax(system, j, s, new, t, rng, measuring)
            sigma[j] = new
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
                if activity < params.switch_activity:
                    done = False
                    break
    counters[EVENTS] = events
    counters[PROPOSALS], counters[ACCEPTED] = proposals, accepted
    clock[TIME] = t
    return done


@njit(cache=True, nogil=True)
def _refresh(state, rule, params, rng, events, relaxed, measuring):
    """All rates, their sum and, while measuring, the slot occupancy (a histogram lookup
    per site, skipped during burn-in), after bringing every site up to date: after the
    event of site ``relaxed`` (direct mode, every site current before it), one kick to
    every other site; with ``relaxed`` = -1, the kicks pending on each site since
    ``last`` (on entering direct mode). Direct mode does not keep ``last`` per event;
    it is set for all sites when direct mode ends."""
    sigma, last, rates, occupancy = state.sigma, state.last, state.rates, state.occupancy
    kick_var, kick_sd, bins = params.kick_var, math.sqrt(params.kick_var), params.bins
    total = 0.0
    occupancy[:] = 0.0
    state.counters[OCCUPANCY_CURRENT] = measuring
    for i in range(sigma.size):
        s = sigma[i]
        if relaxed >= 0:
            sd = kick_sd if i != relaxed else 0.0
        else:
            sd = _pending_kicks_sd(last, i, events, kick_var, kick_sd)
        if sd > 0.0:
            s += sd * rng.standard_normal()
            sigma[i] = s
        r = nu_scalar(s, rule.T, rule.a, rule.sigma_c, rule.K)
        rates[i] = r
        total += r
        if measuring:
            occupancy[uniform_slot(s, bins)] += 1.0
    return total


@njit(cache=True, nogil=True)
def _direct(system, state, rule, params, rng, t_stop, e_stop, measuring):
    """Gillespie algorithm of App. E until a stop condition (True) or until ``auto`` asks
    for thinning (False)."""
    sigma, last, counters, clock = state.sigma, state.last, state.counters, state.clock
    rates, occupancy, hist = state.rates, state.occupancy, state.hist
    n = rates.size
    events = counters[EVENTS]
    t = clock[TIME]
    total = clock[TOTAL_RATE]
    if total == STALE or (measuring and not counters[OCCUPANCY_CURRENT]):  # no kick pends unless STALE
        total = _refresh(state, rule, params, rng, events, -1, measuring)
    done = True
    while True:
        if total <= 0.0:  # every rate underflowed: nothing ever happens again
            t = t_stop
            break
        dt = rng.standard_exponential() * rule.tau / total
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
        events += 1  # site j (up to date) relaxes, as in _thinning
        new = draw_y(rng, rule.sigma_c, rule.sigma_0)
        if system is not None:
            relax(system, j, sigma[j], new, t, rng, measuring)
        sigma[j] = new
        total = _refresh(state, rule, params, rng, events, j, measuring)
        if events >= e_stop:
            break
        if params.method == AUTO and total > 2.0 * params.switch_activity:
            done = False
            break
    last[:] = events  # every site is up to date
    counters[EVENTS] = events
    clock[TIME] = t
    clock[TOTAL_RATE] = total
    return done

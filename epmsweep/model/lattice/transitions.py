"""The two-state dynamics of paper 002's rules on the lattice, one step of dt at a time: the
generic stepper that every activation rule (:mod:`epmsweep.model.lattice.activation`) runs
with.

Per step, an active site yields plastic strain sign * eps_step, an inactive site activates
with probability rate dt and an active one deactivates with probability dt/tau_res (and,
with ``stop_at_zero``, when its stress has reached the opposite sign of its event); each
site makes at most one transition per step.

**Stress** (:mod:`epmsweep.model.lattice.field`): a straight line in the step count between
changes of the active set, exact in O(1) per site; a change costs one pass over the
lattice (one shifted kernel), or, when more sites changed in a step than
``Dynamics.max_changes``, one FFT recomputation of the rate field from the active set. The
cost per unit time therefore falls with the activity: O(N) per activation and
deactivation, not per step.

**Activations** are exact Bernoulli trials drawn by thinning with geometric skips over the
sites binned by |sigma| (:mod:`epmsweep.model.lattice.bins`): every inactive site of bin b
has a rate below the rule's bound at the bin's bound, p_b = dt rate_bound; candidates are
found by skipping Geometric(p_b) sites and accepted with probability p_i / p_b. The bound
loosens as the stresses drift; the sites are placed into the bins afresh once the extra
candidates it has cost since the last placement exceed ``Dynamics.place_after`` (about
what a placement costs), which keeps the total within twice the better of placing at
every change and never placing. At high activity (the field recomputed by FFT at every
step) all sites are one bin bounded by the largest |sigma|.

**Tracers** (:mod:`epmsweep.model.lattice.tracers`): while measuring with tracers, every
change of the active set is passed on to them (their rates change, or the strain of a site
that stops yielding enters their record).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from epmsweep.model.histogram import edge_slot
from epmsweep.model.jit import cache_own_types_only
from epmsweep.model.lattice.activation import activation, rate_bound
from epmsweep.model.lattice.bins import Binning, changed_rates, drift_at, edge_of, new_binning, settle
from epmsweep.model.lattice.field import (REBASE_STEPS, StressField, add_kernel, inactive_stress, place_all, rebase,
                                          recompute, stress_of)
from epmsweep.model.lattice.tracers import tracer_change

#: Smallest stress scale of the bins (a cold lattice has sigma = 0 everywhere).
_SMALLEST_STRESS = 1e-6
#: Statistics slots of Sites.stats.
STEPS, ACTIVE_STEPS, ACTIVATIONS, LONGEST_WAIT = 0, 1, 2, 3


class Sites(NamedTuple):
    """The two-state sites and what is recorded per activation."""

    active: np.ndarray  # int8[L, L]
    sign: np.ndarray  # int8[L, L]: sign of the current or last event
    act: np.ndarray  # int64[N]: the active sites (first n_act entries)
    n_act: np.ndarray  # int64[1]
    changed: np.ndarray  # int64[N]: scratch, the step's activations (from the start) and deactivations (from the end)
    since: np.ndarray  # int64[N]: clock at each site's last activation (its first yielding step is the next)
    yielded: np.ndarray  # float64[N]: signed yielding steps of each site's finished events (plastic strain / eps_step)
    last_act: np.ndarray  # float64[L, L]: time of each site's last activation (-1: none yet)
    psi_edges: np.ndarray  # waiting-time bins and counts (edge_slot layout)
    psi_counts: np.ndarray
    t: np.ndarray  # float64[1]: time
    clock: np.ndarray  # int64[1]: steps since the start of the run
    stats: np.ndarray  # float64[4]: steps, sum over steps of the active count, activations, longest waiting time


class Lattice(NamedTuple):
    """The whole state the stepper advances."""

    sites: Sites
    field: StressField
    bins: Binning


class Dynamics(NamedTuple):
    """Parameters of a step: time step, mean event duration, the stop-at-zero variant, how
    many excess candidates pay for a placement of the bins, the changes per step above which
    the rate field is recomputed by FFT, and the kernel updates after which it is
    recomputed anyway (bounding their round-off)."""

    dt: float
    tau_res: float
    stop_at_zero: bool
    place_after: float
    max_changes: int
    recompute_every: int


def new_lattice(field: StressField, psi_edges: np.ndarray, n_bins: int) -> Lattice:
    """A lattice with no site active, at the stress of ``field``."""
    L = field.base.shape[0]
    n = L * L
    sites = Sites(np.zeros((L, L), np.int8), np.zeros((L, L), np.int8), np.zeros(n, np.int64), np.zeros(1, np.int64),
                  np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n), np.full((L, L), -1.0), psi_edges,
                  np.zeros(psi_edges.size + 1), np.zeros(1), np.zeros(1, np.int64), np.zeros(4))
    return Lattice(sites, field, new_binning(n, n_bins))


@cache_own_types_only
@njit(cache=True, nogil=True)
def place(state, rule, dt, clock, widen):
    """A placement (:mod:`epmsweep.model.lattice.bins`); with ``widen``, or when the
    stresses outgrew the bins (the last bin holds more than an average bin), the bins are
    first made equal intervals up to (a little above) the largest |sigma| of the inactive
    sites."""
    sites, field, bins = state
    n_bins = bins.start.size - 1
    for attempt in range(2):
        if widen:
            s_max = 0.0
            for i in range(bins.order.size):
                if not sites.active.ravel()[i]:
                    s_max = max(s_max, abs(inactive_stress(i, field)))
            bins.used[0] = n_bins
            bins.width[0] = max(s_max, _SMALLEST_STRESS) * (1.0 + 1.0 / n_bins) / n_bins
        place_all(field, bins, sites.active, clock)
        last = bins.used[0] - 1
        widen = last > 0 and bins.order.size - bins.start[last] > bins.order.size // (last + 1)
        if not widen:
            break
    for b in range(bins.used[0]):
        bins.p_placed[b] = min(rate_bound(rule, edge_of(bins, b)) * dt, 1.0)


@njit(cache=True, nogil=True)
def _apply_changes(state, n_new, n_end, clock):
    """The step's changes (activations listed from the start of ``changed``, deactivations
    from its end) into the rate field, each as one shifted kernel; the sites that stopped
    yielding settle into their bins."""
    sites, field, bins = state
    changed, sign = sites.changed, sites.sign
    L = sign.shape[0]
    n = changed.size
    w_max = 0.0
    for b in range(n_new):
        i = changed[b]
        w_max = add_kernel(field, i, 1.0 * sign[i // L, i % L])
    for b in range(n_end):
        i = changed[n - 1 - b]
        w_max = add_kernel(field, i, -1.0 * sign[i // L, i % L])
    changed_rates(bins, clock, w_max)
    for b in range(n_end):
        i = changed[n - 1 - b]
        settle(bins, i, abs(inactive_stress(i, field)), clock)


@cache_own_types_only
@njit(cache=True, nogil=True)
def recompute_rates(state, rule, dt, clock, one):
    """The rate field afresh by FFT; with ``one`` (many changes in a step: high activity,
    where this runs every step and most sites are candidates anyway) all sites become one
    bin bounded by the largest |sigma|, else the sites are placed into the bins afresh."""
    sites, field, bins = state
    s_max, w_max = recompute(field, sites.active, sites.sign)
    if one:
        bins.used[0] = 1
        bins.top[0] = s_max
        bins.drift[0] = 0.0
        bins.vmax[0] = w_max
        bins.since[0] = clock
        bins.excess[0] = 0.0
        bins.p_placed[0] = min(rate_bound(rule, s_max) * dt, 1.0)
    else:
        place(state, rule, dt, clock, bins.used[0] == 1)


@cache_own_types_only
@njit(cache=True, nogil=True)
def run_steps(n_steps, state, tracers, rule, dyn, rng, measuring):
    """``n_steps`` steps (see the module docstring); with ``measuring``, waiting times enter
    psi and, with tracers, the yielding steps their strain record."""
    sites, field, bins = state
    active, sign, act, changed = sites.active, sites.sign, sites.act, sites.changed
    dt = dyn.dt
    L = active.shape[0]
    n = L * L
    q_end = dt / dyn.tau_res
    record = measuring and tracers.pos.shape[0] > 0
    for _ in range(n_steps):
        n_act = sites.n_act[0]
        field.k[0] += 1
        sites.clock[0] += 1
        clock = sites.clock[0]
        sites.t[0] += dt
        t_now = sites.t[0]
        # activations: thinning over each bin with the bound at its top plus the drift
        n_new = 0
        moved = drift_at(bins, clock)
        last = bins.used[0] - 1
        for b in range(last + 1):
            lo, hi = bins.start[b], (bins.start[b + 1] if b < last else n)  # the last bin runs to the end
            if hi == lo:
                continue
            p_b = min(rate_bound(rule, edge_of(bins, b) + moved) * dt, 1.0)
            bins.excess[0] += (hi - lo) * (p_b - bins.p_placed[b])
            if p_b <= 0.0:
                continue
            log_q = math.log1p(-p_b) if p_b < 1.0 else -math.inf
            j = lo - 1
            while True:
                if p_b < 1.0:
                    skip = math.log(1.0 - rng.random()) / log_q  # Geometric(p_b) number of failures
                    if skip >= hi - j - 1:  # compare as floats: skip can exceed any integer
                        break
                    j += int(skip) + 1
                else:
                    j += 1
                if j >= hi:
                    break
                i = bins.order[j]
                if active[i // L, i % L]:
                    continue
                rate, p_plus = activation(rule, inactive_stress(i, field))
                p_i = min(rate * dt, 1.0)
                if p_i >= p_b or rng.random() * p_b < p_i:
                    changed[n_new] = i
                    n_new += 1
                    sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
        # deactivations of the sites active at the start of the step, listed from the end
        n_end = 0
        kept = 0
        for a in range(n_act):
            i = act[a]
            x, y = i // L, i % L
            ends = rng.random() < q_end
            if not ends and dyn.stop_at_zero:
                ends = sign[x, y] * stress_of(i, field, active, sign) <= 0.0
            if ends:
                sites.yielded[i] += sign[x, y] * (clock - sites.since[i])
                if record:
                    tracer_change(tracers, i, -1.0 * sign[x, y],
                                  sign[x, y] * (clock - max(sites.since[i], tracers.last_update[0])), clock, sign)
                active[x, y] = 0
                n_end += 1
                changed[n - n_end] = i
            else:
                act[kept] = i
                kept += 1
        # admission of the activations, with each site's waiting time since its last one
        for b in range(n_new):
            i = changed[b]
            x, y = i // L, i % L
            active[x, y] = 1
            act[kept] = i
            kept += 1
            sites.since[i] = clock
            if record:
                tracer_change(tracers, i, 1.0 * sign[x, y], 0, clock, sign)
            if measuring and sites.last_act[x, y] >= 0.0:
                wait = t_now - sites.last_act[x, y]
                sites.psi_counts[edge_slot(wait, sites.psi_edges)] += 1.0
                sites.stats[LONGEST_WAIT] = max(sites.stats[LONGEST_WAIT], wait)
            sites.last_act[x, y] = t_now
        sites.n_act[0] = kept
        sites.stats[STEPS] += 1
        sites.stats[ACTIVE_STEPS] += kept
        sites.stats[ACTIVATIONS] += n_new
        if n_new + n_end == 0:
            if bins.excess[0] > dyn.place_after:  # the drift has loosened the bound: place afresh
                place(state, rule, dt, clock, False)
            elif field.k[0] >= REBASE_STEPS:
                rebase(field, active, sign)
            continue
        many = n_new + n_end > dyn.max_changes
        if many or field.increments[0] + n_new + n_end > dyn.recompute_every:
            for b in range(n_new):  # the changed sites' own rates, then the field afresh
                i = changed[b]
                field.base.ravel()[i] -= field.k[0] * sign[i // L, i % L] * field.g_self
            for b in range(n_end):
                i = changed[n - 1 - b]
                field.base.ravel()[i] += field.k[0] * sign[i // L, i % L] * field.g_self
            recompute_rates(state, rule, dt, clock, many)
            continue
        _apply_changes(state, n_new, n_end, clock)
        if bins.used[0] == 1 or bins.excess[0] > dyn.place_after:
            place(state, rule, dt, clock, bins.used[0] == 1)
        elif field.k[0] >= REBASE_STEPS:
            rebase(field, active, sign)

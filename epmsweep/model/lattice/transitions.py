"""The two-state dynamics of paper 002's rules on the lattice, one step of dt at a time: the
generic stepper that every activation rule (:mod:`epmsweep.model.lattice.activation`) runs
with.

Per step, an active site yields plastic strain sign * eps_step, an inactive site activates
with probability rate dt and an active one deactivates with probability dt/tau_res (and,
with ``stop_at_zero``, when its stress has reached the opposite sign of its event); each
site makes at most one transition per step.

**Rate field** (:mod:`epmsweep.model.lattice.field`). Between two changes of the set of
active sites, every step adds the same stress increment to every site, v = 2 mu eps_step
sum_{active p} sign_p G(r - r_p) (Eq. 1 of paper 002), and moves tracers by the same
displacement field. So the stepper keeps the stress ``sigma_base`` of the last change, the
rate field and the number k of steps since: the stress of site i is exactly sigma_base_i
+ k v_i, evaluated in O(1) where the dynamics needs it. Only a change of the active set
costs O(N): the field is brought up to date (sigma_base += k v) and the rate field gets
one shifted real-space kernel per changed site, or, when more sites changed than
``max_changes``, is recomputed by FFT from the active set (by the caller,
:mod:`epmsweep.model.lattice.stepped`). The cost per unit time therefore falls with the
activity: O(N) per activation and deactivation, not per step.

**Activations** are exact Bernoulli trials drawn by thinning with geometric skips. The
sites are binned by |sigma_base| at a *sort*; since then every site's base stress has
moved by at most ``DRIFT`` (the largest |sigma_base - sigma_sorted|, updated at each
change) and its current stress by at most k ``VMAX`` more (the largest |v| of an inactive
site), so every inactive site of bin b has |sigma| <= top_b + DRIFT + k VMAX and its rate
is below the rule's bound there, p_b = dt rate_bound. Candidates are found by skipping
Geometric(p_b) sites and accepted with probability p_i / p_b. The bound loosens as the
sites drift; the bins are sorted again once the extra candidates it has cost since the
last sort exceed ``Dynamics.resort_after`` (about what a sort costs), which keeps the
total within twice the better of sorting at every change and never sorting.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from epmsweep.model.histogram import edge_slot
from epmsweep.model.jit import cache_own_types_only
from epmsweep.model.lattice.activation import activation, rate_bound
from epmsweep.model.lattice.field import (DRIFT, EXCESS, ONE_BIN, VMAX, abs_max, add_kernels, bring_up_to_date,
                                          inactive_vmax, stress_of)
from epmsweep.model.lattice.tracers import move_tracers


class Sites(NamedTuple):
    """The two-state sites, their stresses and what is recorded per activation."""

    sigma: np.ndarray  # float64[L, L]: sigma_base, the stress at the last change of the active set
    active: np.ndarray  # int8[L, L]
    sign: np.ndarray  # int8[L, L]: sign of the current or last event
    act: np.ndarray  # int64[N]: the active sites (first n_act entries)
    n_act: np.ndarray  # int64[1]
    changed: np.ndarray  # int64[N]: scratch, the step's activations (from the start) and deactivations (from the end)
    coeffs: np.ndarray  # float64[N]: scratch, the sign with which each changed site's kernel is added
    last_act: np.ndarray  # float64[L, L]: time of each site's last activation (-1: none yet)
    psi_edges: np.ndarray  # waiting-time bins and counts (edge_slot layout)
    psi_counts: np.ndarray
    t: np.ndarray  # float64[1]: time
    stats: np.ndarray  # float64[3]: steps, sum over steps of the active count, activations


class RateField(NamedTuple):
    """What one step of the current active set adds, and the steps since ``Sites.sigma``."""

    values: np.ndarray  # float64[C, L, L]: [0] stress per step v; [1], [2] tracer displacement per step (C = 3)
    kernel: np.ndarray  # float64[C, L, L]: the same for one site yielding with sign +1 at the origin
    k: np.ndarray  # int64[1]: steps since Sites.sigma was brought up to date
    increments: np.ndarray  # int64[1]: shifted kernels added since the last exact recomputation


class Binning(NamedTuple):
    """Sites grouped by |sigma_base| at the last sort: bin b holds sites[start[b]:start[b + 1]],
    all with |sigma_sorted| <= top[b]. Since then every stress has moved by at most
    ``bound[DRIFT]`` (sigma_base - sigma_sorted) plus k ``bound[VMAX]`` (the largest |v| of an
    inactive site)."""

    start: np.ndarray  # int64[bins + 1]
    sites: np.ndarray  # int64[N]
    top: np.ndarray  # float64[bins]
    p_sorted: np.ndarray  # float64[bins]: per-step candidate probability of each bin at the sort
    sigma_sorted: np.ndarray  # float64[L, L]
    bound: np.ndarray  # float64[4]: DRIFT, VMAX, EXCESS (candidates drawn beyond p_sorted since the sort),
    #                    ONE_BIN (1: bin 0 holds every site, its top kept at max |sigma_base|, no drift)
    which: np.ndarray  # int32[N]: scratch, each site's bin
    fill: np.ndarray  # int64[bins]: scratch, sites placed per bin
    scratch: np.ndarray  # float64[L, L]



class Tracers(NamedTuple):
    """Tracer positions (unwrapped, lattice units) and their displacement in the last step."""

    pos: np.ndarray  # float64[M, 2]
    disp: np.ndarray  # float64[M, 2]


class Dynamics(NamedTuple):
    """Parameters of a step: time step, mean event duration, the stop-at-zero variant, and
    how many excess candidates (beyond those at the last sort) pay for a new sort."""

    dt: float
    tau_res: float
    stop_at_zero: bool
    resort_after: float


@cache_own_types_only
@njit(cache=True, nogil=True)
def sort_into_bins(sigma, rule, dt, bins):
    """Counting sort of the sites by |sigma_base| into equal bins up to its maximum; the
    drift and excess counters start afresh."""
    start, sites, top, which = bins.start, bins.sites, bins.top, bins.which
    n_bins = top.size
    flat, kept = sigma.ravel(), bins.sigma_sorted.ravel()
    n = flat.size
    kept[:] = flat
    s_max = abs_max(flat)
    scale = n_bins / s_max if s_max > 0 else 0.0
    start[:] = 0
    for i in range(n):
        b = min(int(abs(flat[i]) * scale), n_bins - 1)
        which[i] = b
        start[b + 1] += 1
    width = s_max / n_bins  # 0 for a cold lattice: every site in bin 0, bounded by its drift alone
    for b in range(n_bins):
        start[b + 1] += start[b]
        top[b] = (b + 1) * width
        bins.p_sorted[b] = min(rate_bound(rule, top[b]) * dt, 1.0)
    for i in range(n):  # fill each bin from its end, so start[b] ends at the bin's first slot
        b = which[i]
        sites[start[b + 1] - 1 - bins.fill[b]] = i
        bins.fill[b] += 1
    bins.fill[:] = 0
    bins.bound[DRIFT] = 0.0
    bins.bound[EXCESS] = 0.0
    bins.bound[ONE_BIN] = 0.0


@cache_own_types_only
@njit(cache=True, nogil=True)
def one_bin(sigma, rule, dt, bins):
    """All sites in bin 0, bounded by max |sigma_base| (no sort, no copy: the bin's top
    follows the field, see ``bring_up_to_date``); the other bins empty."""
    n = sigma.size
    if not bins.bound[ONE_BIN]:
        for i in range(n):
            bins.sites[i] = i
        bins.start[0] = 0
        bins.start[1:] = n
        bins.bound[ONE_BIN] = 1.0
        bins.top[0] = abs_max(sigma)  # from then on kept by bring_up_to_date
    bins.p_sorted[0] = min(rate_bound(rule, bins.top[0]) * dt, 1.0)
    bins.bound[DRIFT] = 0.0
    bins.bound[EXCESS] = 0.0


@cache_own_types_only
@njit(cache=True, nogil=True)
def run_steps(n_steps, max_changes, sites, rates, bins, tracers, rule, dyn, rng, measuring):
    """Up to ``n_steps`` steps (see the module docstring). Stops early after a step in which
    more than ``max_changes`` sites changed: the field is then up to date and the caller
    recomputes the rate field by FFT. Returns (steps done, FFT needed)."""
    sigma, active, sign, act, changed = sites.sigma, sites.active, sites.sign, sites.act, sites.changed
    v, k = rates.values, rates.k
    dt = dyn.dt
    L = sigma.shape[0]
    n = L * L
    q_end = dt / dyn.tau_res
    coeffs = sites.coeffs
    for done in range(1, n_steps + 1):
        n_act = sites.n_act[0]
        k[0] += 1
        kk = k[0]
        if n_act and tracers.pos.shape[0]:
            move_tracers(tracers, v)
        sites.t[0] += dt
        t_now = sites.t[0]
        # activations: thinning over each bin with the bound at its top plus the drift
        n_new = 0
        moved = bins.bound[DRIFT] + kk * bins.bound[VMAX]
        for b in range(bins.top.size):
            lo, hi = bins.start[b], bins.start[b + 1]
            if hi == lo:
                continue
            p_b = min(rate_bound(rule, bins.top[b] + moved) * dt, 1.0)
            bins.bound[EXCESS] += (hi - lo) * (p_b - bins.p_sorted[b])
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
                i = bins.sites[j]
                if active[i // L, i % L]:
                    continue
                rate, p_plus = activation(rule, stress_of(i, sigma, v, kk))
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
                ends = sign[x, y] * stress_of(i, sigma, v, kk) <= 0.0
            if ends:
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
            if measuring and sites.last_act[x, y] >= 0.0:
                sites.psi_counts[edge_slot(t_now - sites.last_act[x, y], sites.psi_edges)] += 1.0
            sites.last_act[x, y] = t_now
        sites.n_act[0] = kept
        sites.stats[0] += 1
        sites.stats[1] += kept
        sites.stats[2] += n_new
        if n_new + n_end == 0:
            if bins.bound[EXCESS] > dyn.resort_after:  # k v has loosened the bound: fold it in, sort again
                bring_up_to_date(sigma, v, k, bins)
                sort_into_bins(sigma, rule, dt, bins)
            continue
        bring_up_to_date(sigma, v, k, bins)
        if n_new + n_end > max_changes:
            return done, True
        for b in range(n_new):
            coeffs[b] = sign[changed[b] // L, changed[b] % L]
        for b in range(n_end):
            i = changed[n - 1 - b]
            changed[n_new + b] = i
            coeffs[n_new + b] = -sign[i // L, i % L]
        add_kernels(v, rates.kernel, changed, coeffs, n_new + n_end)
        rates.increments[0] += n_new + n_end
        inactive_vmax(v, active, bins)
        if bins.bound[EXCESS] > dyn.resort_after:
            sort_into_bins(sigma, rule, dt, bins)
    return n_steps, False

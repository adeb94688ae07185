"""The two-state dynamics of paper 002's rules on the lattice, one step of dt at a time: the
generic steppers that every activation rule (:mod:`epmsweep.model.lattice.activation`)
runs with.

Per step, an inactive site activates with probability rate dt and an active one
deactivates with probability dt/tau_res (and, with ``stop_at_zero``, when its stress has
reached the opposite sign of its event); each site makes at most one transition per
step. Activation trials are exact Bernoulli trials drawn by thinning with geometric
skips: over a group of sites whose rates are all below a bound, candidates are found by
skipping Geometric(p_b) sites, p_b = dt rate_bound, and accepted with probability
p_i / p_b. The cost is O(N p_b) rather than O(N) exponentials per step.

*Lazy* stepping at low activity (:func:`lazy_steps`): the stress field is materialised
only once per sample, not every step. Between materialisations the plastic strain of
the active sites accumulates as *pending* strain e_p on a short list of sites, and the
stress of any site is exactly

    sigma_i = sigma_base_i + 2 mu sum_p e_p G(r_i - r_p),

evaluated in O(n_pending) only where the dynamics needs it: at activation candidates,
at pending sites and at active sites (for ``stop_at_zero``). Candidates are drawn per
bin of |sigma_base| (a counting sort at each materialisation): for a site without
pending strain of its own, |sigma_i - sigma_base_i| <= m = 2 mu g_off sum_p |e_p| with
g_off = max_{r != 0} |G(r)|, so the rate of every site of a bin is bounded by the rate
bound at the bin's top + m. Pending sites are tried one by one with their exact stress.
*Dense* stepping (the field current every step, :mod:`epmsweep.model.lattice.stepped`)
runs the same transitions with no pending strain and one bin: all sites, up to max |sigma|.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from epmsweep.model.histogram import edge_slot
from epmsweep.model.jit import cache_own_types_only
from epmsweep.model.lattice.activation import activation, rate_bound
from epmsweep.model.lattice.tracers import move_tracers_real_space


class Sites(NamedTuple):
    """The two-state sites, their stresses and what is recorded per activation."""

    sigma: np.ndarray  # float64[L, L]: stress (the base stress while strain is pending)
    active: np.ndarray  # int8[L, L]
    sign: np.ndarray  # int8[L, L]: sign of the current or last event
    act: np.ndarray  # int64[N]: the active sites (first n_act entries)
    n_act: np.ndarray  # int64[1]
    new_act: np.ndarray  # int64[N]: scratch, the step's activations
    d_eps: np.ndarray  # float64[N]: scratch, the step's strain increments of the active sites
    last_act: np.ndarray  # float64[L, L]: time of each site's last activation (-1: none yet)
    psi_edges: np.ndarray  # waiting-time bins and counts (edge_slot layout)
    psi_counts: np.ndarray
    t: np.ndarray  # float64[1]: time
    stats: np.ndarray  # float64[3]: steps, sum over steps of the active count, activations


class Pending(NamedTuple):
    """Plastic strain not yet applied to ``Sites.sigma`` (lazy stepping)."""

    site: np.ndarray  # int64[N]: pending sites (first n entries)
    eps: np.ndarray  # float64[N]: their pending strain
    index: np.ndarray  # int64[N]: position of each site in ``site`` (-1: none pending)
    n: np.ndarray  # int64[1]
    m: np.ndarray  # float64[1]: bound on |sigma - sigma_base| at sites without pending strain


class Binning(NamedTuple):
    """Sites grouped by |sigma|: bin b holds sites[start[b]:start[b + 1]], all with |sigma| <= top[b]."""

    start: np.ndarray  # int64[bins + 1]
    sites: np.ndarray  # int64[N]
    top: np.ndarray  # float64[bins]


class Tracers(NamedTuple):
    """Tracer positions (unwrapped, lattice units) and their displacement in the last step."""

    pos: np.ndarray  # float64[M, 2]
    disp: np.ndarray  # float64[M, 2]


class Dynamics(NamedTuple):
    """Parameters of a step: time step, event duration, strain per step, the kernels."""

    dt: float
    tau_res: float
    stop_at_zero: bool
    eps_step: float  # eps0 dt / (strain_divisor tau): strain of an active site per step
    two_mu: float
    g_r: np.ndarray  # real-space stress kernel G(r)
    g_off: float  # max over r != 0 of |G(r)|
    uxy_r: np.ndarray  # real-space displacement kernel (L, L, 2)


@njit(cache=True, inline="always")
def _stress(i, sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu):
    """Exact current stress of site i: base plus the pending strain's contributions."""
    L = sigma_base.shape[0]
    xi, yi = i // L, i % L
    s = sigma_base[xi, yi]
    for p in range(n_pend):
        dx = xi - pend_site[p] // L
        dy = yi - pend_site[p] % L
        if dx < 0:
            dx += L
        if dy < 0:
            dy += L
        s += two_mu * pend_eps[p] * g_r[dx, dy]
    return s


@njit(cache=True)
def stress_at(sites, sigma_base, g_r, pending, two_mu, out):
    """Exact current stresses of ``sites`` (e.g. the C_sigma probes) while strain is pending."""
    for k in range(sites.size):
        out[k] = _stress(sites[k], sigma_base, g_r, pending.site, pending.eps, pending.n[0], two_mu)


@njit(cache=True)
def sort_into_bins(sigma, bins):
    """Counting sort of the sites by |sigma| into equal bins up to max |sigma|."""
    start, sites, top = bins.start, bins.sites, bins.top
    n_bins = top.size
    L = sigma.shape[0]
    n = L * L
    s_max = np.abs(sigma).max()
    width = s_max / n_bins if s_max > 0 else 1.0
    counts = np.zeros(n_bins + 1, np.int64)
    which = np.empty(n, np.int64)
    for i in range(n):
        b = min(int(abs(sigma[i // L, i % L]) / width), n_bins - 1)
        which[i] = b
        counts[b + 1] += 1
    for b in range(n_bins):
        start[b + 1] = start[b] + counts[b + 1]
        top[b] = (b + 1) * width
    fill = start[:n_bins].copy()
    for i in range(n):
        sites[fill[which[i]]] = i
        fill[which[i]] += 1


@cache_own_types_only
@njit(cache=True)
def transitions(sites, pending, bins, rule, dyn, rng, measuring):
    """One step's activations and deactivations (see the module docstring), at the time
    ``sites.t`` (already advanced). Returns the number of activations."""
    sigma, active, sign, act, new_act = sites.sigma, sites.active, sites.sign, sites.act, sites.new_act
    pend_site, pend_eps, pend_idx, n_pend = pending.site, pending.eps, pending.index, pending.n[0]
    g_r, two_mu, dt = dyn.g_r, dyn.two_mu, dyn.dt
    L = sigma.shape[0]
    n_act = sites.n_act[0]
    # activation: pending inactive sites one by one with their exact stress ...
    n_new = 0
    for p in range(n_pend):
        i = pend_site[p]
        if active[i // L, i % L]:
            continue
        s = _stress(i, sigma, g_r, pend_site, pend_eps, n_pend, two_mu)
        rate, p_plus = activation(rule, s)
        if rng.random() < min(rate * dt, 1.0):
            new_act[n_new] = i
            n_new += 1
            sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
    # ... the others by thinning over each bin with the bound at its top
    m = pending.m[0]
    for b in range(bins.top.size):
        lo, hi = bins.start[b], bins.start[b + 1]
        if hi == lo:
            continue
        p_b = min(rate_bound(rule, bins.top[b] + m) * dt, 1.0)
        if p_b <= 0.0:
            continue
        log_q = math.log1p(-p_b) if p_b < 1.0 else -math.inf
        k = lo - 1
        while True:
            if p_b < 1.0:
                skip = math.log(1.0 - rng.random()) / log_q  # Geometric(p_b) number of failures
                if skip >= hi - k - 1:  # compare as floats: skip can exceed any integer
                    break
                k += int(skip) + 1
            else:
                k += 1
            if k >= hi:
                break
            i = bins.sites[k]
            if active[i // L, i % L] or pend_idx[i] >= 0:
                continue
            s = _stress(i, sigma, g_r, pend_site, pend_eps, n_pend, two_mu)
            rate, p_plus = activation(rule, s)
            p_i = min(rate * dt, 1.0)
            if p_i >= p_b or rng.random() * p_b < p_i:
                new_act[n_new] = i
                n_new += 1
                sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
    # deactivation of the sites active at the start of the step
    q_end = dt / dyn.tau_res
    kept = 0
    for a in range(n_act):
        i = act[a]
        x, y = i // L, i % L
        ends = rng.random() < q_end
        if not ends and dyn.stop_at_zero:
            ends = sign[x, y] * _stress(i, sigma, g_r, pend_site, pend_eps, n_pend, two_mu) <= 0.0
        if ends:
            active[x, y] = 0
        else:
            act[kept] = i
            kept += 1
    # admission of the new activations, with each site's waiting time since its last one
    t_now = sites.t[0]
    last_act, psi_edges, psi_counts = sites.last_act, sites.psi_edges, sites.psi_counts
    for b in range(n_new):
        i = new_act[b]
        x, y = i // L, i % L
        active[x, y] = 1
        act[kept] = i
        kept += 1
        if measuring and last_act[x, y] >= 0.0:
            psi_counts[edge_slot(t_now - last_act[x, y], psi_edges)] += 1.0
        last_act[x, y] = t_now
    sites.n_act[0] = kept
    sites.stats[0] += 1
    sites.stats[1] += kept
    sites.stats[2] += n_new
    return n_new


@cache_own_types_only
@njit(cache=True)
def lazy_steps(n_steps, max_active, sites, pending, bins, tracers, rule, dyn, rng, measuring):
    """Up to ``n_steps`` lazy steps; stops early after a step that leaves more than
    ``max_active`` sites active. The tracers move (real space). Returns the steps done."""
    act, sign, d_eps = sites.act, sites.sign, sites.d_eps
    pos, disp = tracers.pos, tracers.disp
    pend_site, pend_eps, pend_idx = pending.site, pending.eps, pending.index
    L = sites.sigma.shape[0]
    bound_per_strain = dyn.two_mu * dyn.g_off
    done = 0
    for _ in range(n_steps):
        n_act = sites.n_act[0]
        n_pend = pending.n[0]
        # plastic strain of the active sites becomes pending strain
        for a in range(n_act):
            i = act[a]
            de = sign[i // L, i % L] * dyn.eps_step
            d_eps[a] = de
            if pend_idx[i] < 0:
                pend_idx[i] = n_pend
                pend_site[n_pend] = i
                pend_eps[n_pend] = 0.0
                n_pend += 1
            pend_eps[pend_idx[i]] += de
            pending.m[0] += bound_per_strain * abs(de)
        pending.n[0] = n_pend
        if pos.shape[0] and n_act:
            move_tracers_real_space(pos, disp, dyn.uxy_r, act, d_eps, n_act)
        sites.t[0] += dyn.dt
        transitions(sites, pending, bins, rule, dyn, rng, measuring)
        done += 1
        if sites.n_act[0] > max_active:
            break
    return done

"""Lazy stepping of paper 002's rules at low activity: the stress field is materialised only
once per sample, not every step. Exact.

Between materialisations the plastic strain of the active sites accumulates as
*pending* strain e_p on a short list of sites. The stress of any site is then exactly

    sigma_i = sigma_base_i + 2 mu sum_p e_p G(r_i - r_p),

evaluated in O(n_pending) only where it is needed: at activation candidates, at
pending sites and at active sites (for ``stop_at_zero``). Activation candidates are
drawn per bin of |sigma_base| (a counting sort at each materialisation): for a site
that has no pending strain itself, |sigma_i - sigma_base_i| <= m = 2 mu g_off sum_p |e_p|
with g_off = max_{r != 0} |G(r)|, so the per-step probability of every site of a bin
is at most p_b = dt rate(|sigma|_bin top + m). Geometric skips over the bin's sites
give candidates with probability p_b, each accepted with p_i / p_b (thinning): exact
Bernoulli trials. Pending sites are tried one by one with their exact stress. The
cost per step is O(n_active M) for the tracers plus O(n_pending) per candidate, with
few candidates at low T, against O(N log N) for an FFT step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from epmsweep.model.lattice.kernels import (
    RANDOM,
    _activation,
    admit,
    move_tracers_real_space,
)


@njit(cache=True, inline="always")
def _rate_bound(s_abs, rule, T, sigma_y, gamma0, rate_random, two_channels):
    """Upper bound of the activation rate for |sigma| <= s_abs (monotone in |sigma|)."""
    if rule == RANDOM:
        return rate_random
    if two_channels:
        return 2.0 * gamma0 * min(math.exp(-sigma_y * (sigma_y - s_abs) / T), 1.0)
    return gamma0 * min(math.exp((s_abs * s_abs - sigma_y * sigma_y) / (2.0 * T)), 1.0)


@njit(cache=True)
def sort_into_bins(sigma, n_bins, bin_start, bin_sites, bin_top):
    """Counting sort of the sites by |sigma| into n_bins equal bins up to max |sigma|."""
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
        bin_start[b + 1] = bin_start[b] + counts[b + 1]
        bin_top[b] = (b + 1) * width
    fill = bin_start[:n_bins].copy()
    for i in range(n):
        bin_sites[fill[which[i]]] = i
        fill[which[i]] += 1


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
def stress_at(sites, sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu, out):
    """Exact current stresses of ``sites`` (e.g. the C_sigma probes)."""
    for k in range(sites.size):
        out[k] = _stress(sites[k], sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu)


@njit(cache=True)
def lazy_steps(n_steps, max_active, sigma_base, active, sign, act, n_act_arr, new_act, pend_site, pend_eps, pend_idx,
               n_pend_arr, bin_start, bin_sites, bin_top, g_r, g_off, two_mu, eps_step, m_arr, pos, disp, uxy_r,
               d_eps, rng, rule, T, sigma_y, gamma0, rate_random, two_channels, dt, tau_res, stop_at_zero, t_arr,
               last_act, psi_edges, psi_counts, measuring, stats):
    """Up to ``n_steps`` steps; stops early after a step that leaves more than ``max_active``
    sites active. ``stats`` accumulates [steps, sum of n_active, activations]. Returns steps done."""
    L = sigma_base.shape[0]
    n_bins = bin_top.size
    q = dt / tau_res
    done = 0
    for _ in range(n_steps):
        n_act = n_act_arr[0]
        n_pend = n_pend_arr[0]
        # plastic strain of the active sites becomes pending strain
        for a in range(n_act):
            i = act[a]
            de = sign[i // L, i % L] * eps_step
            d_eps[a] = de
            if pend_idx[i] < 0:
                pend_idx[i] = n_pend
                pend_site[n_pend] = i
                pend_eps[n_pend] = 0.0
                n_pend += 1
            pend_eps[pend_idx[i]] += de
            m_arr[0] += two_mu * g_off * abs(de)
        n_pend_arr[0] = n_pend
        if pos.shape[0] and n_act:
            move_tracers_real_space(pos, disp, uxy_r, act, d_eps, n_act)
        t_arr[0] += dt
        t_now = t_arr[0]
        # activation: pending inactive sites one by one, the others by bins
        n_new = 0
        for p in range(n_pend):
            i = pend_site[p]
            if active[i // L, i % L]:
                continue
            s = _stress(i, sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu)
            rate, p_plus = _activation(s, rule, T, sigma_y, gamma0, rate_random, two_channels)
            if rng.random() < min(rate * dt, 1.0):
                new_act[n_new] = i
                n_new += 1
                sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
        m = m_arr[0]
        for b in range(n_bins):
            lo, hi = bin_start[b], bin_start[b + 1]
            if hi == lo:
                continue
            p_b = min(_rate_bound(bin_top[b] + m, rule, T, sigma_y, gamma0, rate_random, two_channels) * dt, 1.0)
            if p_b <= 0.0:
                continue
            log_q = math.log1p(-p_b) if p_b < 1.0 else -math.inf
            k = lo - 1
            while True:
                if p_b < 1.0:
                    skip = math.log(1.0 - rng.random()) / log_q
                    if skip >= hi - k - 1:
                        break
                    k += int(skip) + 1
                else:
                    k += 1
                if k >= hi:
                    break
                i = bin_sites[k]
                if active[i // L, i % L] or pend_idx[i] >= 0:
                    continue
                s = _stress(i, sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu)
                rate, p_plus = _activation(s, rule, T, sigma_y, gamma0, rate_random, two_channels)
                p_i = min(rate * dt, 1.0)
                if p_i >= p_b or rng.random() * p_b < p_i:
                    new_act[n_new] = i
                    n_new += 1
                    sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
        # deactivation of the sites active at the start of the step
        kept = 0
        for a in range(n_act):
            i = act[a]
            x, y = i // L, i % L
            ends = rng.random() < q
            if not ends and stop_at_zero:
                ends = sign[x, y] * _stress(i, sigma_base, g_r, pend_site, pend_eps, n_pend, two_mu) <= 0.0
            if ends:
                active[x, y] = 0
            else:
                act[kept] = i
                kept += 1
        kept = admit(active, act, kept, new_act, n_new, t_now, last_act, psi_edges, psi_counts, measuring)
        n_act_arr[0] = kept
        stats[0] += 1
        stats[1] += kept
        stats[2] += n_new
        done += 1
        if kept > max_active:
            break
    return done

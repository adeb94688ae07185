"""An activity-only exact engine of paper 002's thermal rule: the speed baseline at low T.

Written as one would by hand, without the model's stepper: every step each active site
adds its shifted real-space kernel 2 mu eps_step sign G(r - r_a) to the stress field
(O(n_active N), the hand-written update of ``floor.py``), one pass finds max |sigma|, and activations are drawn by
thinning with that global bound (geometric skips over all sites, accepted with
rate/bound); deactivation with probability dt/tau_res. No tracers, no observables but
the activity. Gamma0 = sigma_Y = tau_res = 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from floor import add_shifted


@njit(cache=True)
def _rate(s, T):
    return min(math.exp((s * s - 1.0) / (2.0 * T)), 1.0)


@njit(cache=True)
def run(sigma, active, sign, kernel, T, dt, n_steps, seed):
    """Advance the state in place by ``n_steps``; returns the mean active fraction over them.
    ``kernel`` is 2 mu eps_step G(r), the stress change per step of a site yielding with +1."""
    np.random.seed(seed)
    L = sigma.shape[0]
    n = L * L
    act = np.empty(n, np.int64)
    n_act = 0
    for i in range(n):
        if active[i // L, i % L]:
            act[n_act] = i
            n_act += 1
    new = np.empty(n, np.int64)
    signs = np.empty(n)
    active_sum = 0
    for _ in range(n_steps):
        for a in range(n_act):
            signs[a] = sign[act[a] // L, act[a] % L]
        add_shifted(sigma, kernel, act, signs, n_act)
        s_max = 0.0
        for x in range(L):
            for y in range(L):
                s_max = max(s_max, abs(sigma[x, y]))
        p_max = _rate(s_max, T) * dt
        n_new = 0
        i = -1
        log_q = math.log1p(-min(p_max, 1.0))
        while p_max > 0.0:
            skip = math.log(1.0 - np.random.random()) / log_q  # Geometric(p_max) failures
            if skip >= n - i - 1:
                break
            i += int(skip) + 1
            x, y = i // L, i % L
            if active[x, y]:
                continue
            if np.random.random() * p_max < _rate(sigma[x, y], T) * dt:
                new[n_new] = i
                n_new += 1
                s = sigma[x, y]
                sign[x, y] = 1 if s > 0 else (-1 if s < 0 else (1 if np.random.random() < 0.5 else -1))
        kept = 0
        for a in range(n_act):
            i = act[a]
            if np.random.random() < dt:
                active[i // L, i % L] = 0
            else:
                act[kept] = i
                kept += 1
        for b in range(n_new):
            active[new[b] // L, new[b] % L] = 1
            act[kept] = new[b]
            kept += 1
        n_act = kept
        active_sum += n_act
    return active_sum / (n_steps * n)

"""Stress kernels of the time-stepped lattice (paper 002, Eq. 1): a step's plastic strain
increments d eps (nonzero on the active sites only) change the stress by 2 mu G * d eps.

Two exact ways, equal up to round-off by linearity (tests): one shifted copy of the
real-space kernel per active site (``add_stress_real_space``, O(n_active L^2), cheap at
low T), or one FFT pair for the whole field (``scatter`` the increments, then
:meth:`~epmsweep.model.lattice.propagator.Propagator.stress_change`). Sites are indexed
i = x L + y on the periodic L x L lattice.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def add_stress_real_space(sigma, g_r, act, d_eps, n_act, two_mu):
    """sigma[x, y] += 2 mu sum_a d_eps[a] G(x - x_a, y - y_a); returns max |sigma| afterwards."""
    L = sigma.shape[0]
    for a in range(n_act):
        xa, ya, c = act[a] // L, act[a] % L, two_mu * d_eps[a]
        for x in range(L):
            dx = x - xa
            if dx < 0:
                dx += L
            row = g_r[dx]
            for y in range(ya, L):
                sigma[x, y] += c * row[y - ya]
            for y in range(ya):
                sigma[x, y] += c * row[y - ya + L]
    return np.abs(sigma).max()


@njit(cache=True)
def add_field(sigma, delta):
    """sigma += delta in place; returns max |sigma| (one pass, no temporaries)."""
    s_max = 0.0
    for x in range(sigma.shape[0]):
        for y in range(sigma.shape[1]):
            v = sigma[x, y] + delta[x, y]
            sigma[x, y] = v
            if abs(v) > s_max:
                s_max = abs(v)
    return s_max


@njit(cache=True)
def strain_increments(act, n_act, sign, eps_step, d_eps):
    """d eps = sign * eps_step on each active site, eps_step = eps0 dt / (divisor tau)."""
    L = sign.shape[0]
    for a in range(n_act):
        i = act[a]
        d_eps[a] = sign[i // L, i % L] * eps_step


@njit(cache=True)
def scatter(act, values, n_act, field):
    """Dense field with ``values`` on the active sites (for the FFT path)."""
    field[:] = 0.0
    L = field.shape[0]
    for a in range(n_act):
        field[act[a] // L, act[a] % L] = values[a]

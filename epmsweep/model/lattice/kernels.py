"""numba kernels of the time-stepped lattice rules (paper 002): stress and tracer updates,
activation and deactivation. Sites are indexed i = x L + y on the periodic L x L lattice.

Two exact ways to apply one step's plastic strain increments d eps_j (nonzero only on
the active sites) -- the stress change 2 mu G * d eps and the tracer displacements
K * d eps:

* real space (``add_stress_real_space``, ``move_tracers_real_space``): one shifted
  copy of the real-space kernel per active site, O(n_active L^2) for the stress and
  O(n_active M) for M tracers (bilinear interpolation of each shifted displacement
  kernel at the tracer positions). Cheap when few sites are active (low T);
* Fourier space: one FFT pair for the whole field (in ``lattice.py``), then bilinear
  interpolation of the displacement field at the tracers (``move_tracers_field``).

By linearity both give the same fields up to round-off (checked in the tests).

Activation trials are Bernoulli per inactive site and step. They are drawn exactly by
thinning with geometric skips: sites become candidates with the bound probability
p_max >= p_i (from the largest |sigma|), found by skipping Geometric(p_max) indices,
and a candidate activates with probability p_i / p_max. The cost is O(N p_max)
rather than O(N) exponentials per step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from epmsweep.model.histogram import edge_slot

# Activation rules
THERMAL, RANDOM = 0, 1


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


@njit(cache=True, inline="always")
def _bilinear(field, px, py):
    """Bilinear interpolation of a periodic L x L field at (px, py) in lattice units."""
    L = field.shape[0]
    fx, fy = math.floor(px), math.floor(py)
    wx, wy = px - fx, py - fy
    x0, y0 = int(fx) % L, int(fy) % L
    x1, y1 = (x0 + 1) % L, (y0 + 1) % L
    return ((1 - wx) * (1 - wy) * field[x0, y0] + wx * (1 - wy) * field[x1, y0]
            + (1 - wx) * wy * field[x0, y1] + wx * wy * field[x1, y1])


@njit(cache=True)
def move_tracers_real_space(pos, disp, uxy_r, act, d_eps, n_act):
    """Tracer displacement sum_a d_eps[a] K(r - r_a), each shifted kernel interpolated
    bilinearly (both components at once from the interleaved (L, L, 2) kernel; active
    sites in the outer loop, so one shifted kernel is read at a time, and positions
    wrapped once so the inner loop needs no modulo); adds it to ``pos`` and writes it
    into ``disp``."""
    L = uxy_r.shape[0]
    m = pos.shape[0]
    wrapped = np.empty((m, 2))
    for k in range(m):
        wrapped[k, 0] = pos[k, 0] % L
        wrapped[k, 1] = pos[k, 1] % L
    disp[:] = 0.0
    for a in range(n_act):
        xa, ya, e = act[a] // L, act[a] % L, d_eps[a]
        for k in range(m):
            rx, ry = wrapped[k, 0] - xa, wrapped[k, 1] - ya  # in (-L, L)
            fx, fy = math.floor(rx), math.floor(ry)
            wx, wy = rx - fx, ry - fy
            x0, y0 = int(fx), int(fy)
            if x0 < 0:
                x0 += L
            if y0 < 0:
                y0 += L
            x1 = x0 + 1 if x0 + 1 < L else 0
            y1 = y0 + 1 if y0 + 1 < L else 0
            w00, w10, w01, w11 = (1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy
            disp[k, 0] += e * (w00 * uxy_r[x0, y0, 0] + w10 * uxy_r[x1, y0, 0] + w01 * uxy_r[x0, y1, 0] + w11 * uxy_r[x1, y1, 0])
            disp[k, 1] += e * (w00 * uxy_r[x0, y0, 1] + w10 * uxy_r[x1, y0, 1] + w01 * uxy_r[x0, y1, 1] + w11 * uxy_r[x1, y1, 1])
    for k in range(m):
        pos[k, 0] += disp[k, 0]
        pos[k, 1] += disp[k, 1]


@njit(cache=True)
def move_tracers_field(pos, disp, ux, uy):
    """Tracer displacement from displacement fields on the lattice (FFT path)."""
    for k in range(pos.shape[0]):
        dx, dy = _bilinear(ux, pos[k, 0], pos[k, 1]), _bilinear(uy, pos[k, 0], pos[k, 1])
        disp[k, 0] = dx
        disp[k, 1] = dy
        pos[k, 0] += dx
        pos[k, 1] += dy


@njit(cache=True, inline="always")
def _activation(s, rule, T, sigma_y, gamma0, rate_random, two_channels):
    """(rate per unit time, probability that the event is positive) for stress s.

    thermal, one channel (paper 002, Eq. 2): Gamma0 min(exp((s^2 - sigma_Y^2)/2T), 1),
    sign of the nearer threshold (that of s); two channels: the barrier to each threshold
    linearised there, Gamma0 min(exp(-sigma_Y (sigma_Y -+ s)/T), 1) for +-; random model:
    a constant rate, sign of s.
    """
    if rule == RANDOM:
        rate = rate_random
        p_plus = 1.0 if s > 0 else (0.0 if s < 0 else 0.5)
    elif two_channels:
        r_plus = gamma0 * min(math.exp(-sigma_y * (sigma_y - s) / T), 1.0)
        r_minus = gamma0 * min(math.exp(-sigma_y * (sigma_y + s) / T), 1.0)
        rate = r_plus + r_minus
        p_plus = r_plus / rate if rate > 0 else 0.5
    else:
        rate = gamma0 * min(math.exp((s * s - sigma_y * sigma_y) / (2.0 * T)), 1.0)
        p_plus = 1.0 if s > 0 else (0.0 if s < 0 else 0.5)
    return rate, p_plus


@njit(cache=True)
def transitions(sigma, active, sign, act, n_act_arr, new_act, rng, rule, T, sigma_y, gamma0, rate_random,
                two_channels, dt, tau_res, stop_at_zero, s_max, t_now, last_act, psi_edges, psi_counts, measuring):
    """One step of the two-state dynamics of every site (paper 002, Eq. 2) as per-step
    probabilities: an inactive site activates with probability rate dt, an active one
    deactivates with probability dt/tau_res (and, with ``stop_at_zero``, when its stress
    has reached the opposite sign of its event). Each site makes at most one transition
    per step. Returns the number of activations."""
    L = sigma.shape[0]
    n_sites = L * L
    n_act = n_act_arr[0]
    # Activation candidates among the sites inactive at the start of the step.
    if rule == RANDOM:
        p_max = min(rate_random * dt, 1.0)
    elif two_channels:
        p_max = min(2.0 * gamma0 * min(math.exp(-sigma_y * (sigma_y - s_max) / T), 1.0) * dt, 1.0)
    else:
        p_max = min(gamma0 * min(math.exp((s_max * s_max - sigma_y * sigma_y) / (2.0 * T)), 1.0) * dt, 1.0)
    n_new = 0
    if p_max > 0.0:
        log_q = math.log1p(-p_max) if p_max < 1.0 else -math.inf
        i = -1
        while True:
            if p_max < 1.0:
                skip = math.log(1.0 - rng.random()) / log_q  # Geometric(p_max) number of failures
                if skip >= n_sites - i - 1:  # compare as floats: skip can exceed any integer
                    break
                i += int(skip) + 1
            else:
                i += 1
            if i >= n_sites:
                break
            if active[i // L, i % L]:
                continue
            s = sigma[i // L, i % L]
            rate, p_plus = _activation(s, rule, T, sigma_y, gamma0, rate_random, two_channels)
            p = min(rate * dt, 1.0)
            if p >= p_max or rng.random() * p_max < p:
                new_act[n_new] = i
                n_new += 1
                sign[i // L, i % L] = 1 if rng.random() < p_plus else -1
    # Deactivation of the sites active at the start of the step.
    q = dt / tau_res
    kept = 0
    for a in range(n_act):
        i = act[a]
        x, y = i // L, i % L
        ends = rng.random() < q or (stop_at_zero and sign[x, y] * sigma[x, y] <= 0.0)
        if ends:
            active[x, y] = 0
        else:
            act[kept] = i
            kept += 1
    n_act_arr[0] = admit(active, act, kept, new_act, n_new, t_now, last_act, psi_edges, psi_counts, measuring)
    return n_new


@njit(cache=True, inline="always")
def admit(active, act, kept, new_act, n_new, t_now, last_act, psi_edges, psi_counts, measuring):
    """Append the step's new activations to the active list (after ``kept`` survivors) and
    record each site's waiting time since its previous activation. Returns the new count."""
    L = active.shape[0]
    for b in range(n_new):
        i = new_act[b]
        x, y = i // L, i % L
        active[x, y] = 1
        act[kept] = i
        kept += 1
        if measuring and last_act[x, y] >= 0.0:
            psi_counts[edge_slot(t_now - last_act[x, y], psi_edges)] += 1.0
        last_act[x, y] = t_now
    return kept


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

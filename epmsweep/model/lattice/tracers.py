"""Tracer kernels (paper 002): tracers are advected by the displacement field K * d eps of
each step's plastic strain increments, interpolated bilinearly on the periodic lattice;
positions are unwrapped. Real space (one shifted displacement kernel per active site,
O(n_active M) for M tracers) or from the displacement fields of the FFT path; equal up
to round-off (tests)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


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

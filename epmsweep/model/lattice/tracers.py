"""Tracer kernel (paper 002): tracers are advected by the displacement field of the plastic
strain increments, here the rate field's displacement planes (the displacement per step
of the current active sites), interpolated bilinearly on the periodic lattice; positions
are unwrapped."""

from __future__ import annotations

import math

from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)


@njit(cache=True, nogil=True)
def move_tracers(tracers, values):
    """Each tracer moves by the displacement per step, values[1:3], interpolated
    bilinearly at its position on the periodic lattice (positions unwrapped)."""
    pos, disp = tracers.pos, tracers.disp
    L = values.shape[1]
    for j in range(pos.shape[0]):
        fx, fy = math.floor(pos[j, 0]), math.floor(pos[j, 1])
        wx, wy = pos[j, 0] - fx, pos[j, 1] - fy
        x0, y0 = int(fx) % L, int(fy) % L
        x1 = x0 + 1 if x0 + 1 < L else 0
        y1 = y0 + 1 if y0 + 1 < L else 0
        w00, w10, w01, w11 = (1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy
        for m in range(2):
            u = values[m + 1]
            d = w00 * u[x0, y0] + w10 * u[x1, y0] + w01 * u[x0, y1] + w11 * u[x1, y1]
            disp[j, m] = d
            pos[j, m] += d

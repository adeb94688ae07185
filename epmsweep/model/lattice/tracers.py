"""Tracers (paper 002): particles advected by the displacement field of the plastic strain,
dr/dt = U(r, t), U the displacement per step of the yielding sites, sum_a sign_a u_step
K(r - r_a) (K the displacement kernel of :mod:`epmsweep.model.lattice.propagator`,
interpolated bilinearly on the periodic lattice; u_step the displacement per unit kernel
and step); positions are unwrapped (lattice units).

Between two changes of the active set U is constant in time, so the tracers are not
stepped with the lattice. Two exact-in-time schemes, chosen at each *update* (every sample,
at most a tenth of an event duration apart) by their cost:

* ``RATES`` (few sites active): each tracer carries its rate U evaluated at a reference
  position and moves linearly in time; a change of the active set adds one shifted kernel
  to every tracer's rate (cost M per change; the changes are queued and applied tracer by
  tracer at the next update, in order, so each tracer's data is read once per update). A
  tracer that moves more than ``MIDPOINT_ABOVE`` in an update interval (one near an event)
  takes the interval's displacement at its midpoint, from every active site and the queued
  changes (cost n_act), and gets its rate afresh there; any other tracer gets its rate
  afresh once it is ``REFRESH_AFTER`` times its distance d to the nearest site that yielded
  since (at least one lattice spacing) from its reference: the field of a site falls off
  as 1/d, its gradient as 1/d^2, so the rate's relative error stays below
  ``REFRESH_AFTER`` (per-step Euler with dt = 0.025 errs by ~4e-3/d).
* ``RECORD`` (many sites active): the stepper records each site's signed number of
  yielding steps since the last update and, at the update, every tracer moves by the
  displacement field of that strain, evaluated at the midpoint r + Delta_Euler/2 where the
  Euler step exceeds ``MIDPOINT_ABOVE`` (second order); the field comes from one FFT per
  component (cost ~N log N) or, for a short record, a direct sum (cost M x sites).

A tracer refreshed from all n_act sites costs as much as one FFT of the lattice when
n_act M ~ ``fft_cost``: above it the updates run ``RECORD``, below half of it ``RATES``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)

#: Euler displacements (lattice units) above which the field is evaluated again at the midpoint.
MIDPOINT_ABOVE = 1e-3
#: Distance from its reference position, relative to the distance to the nearest yielding
#: site, at which a tracer's rate is recomputed.
REFRESH_AFTER = 1e-3
RATES, RECORD = 0, 1


class Tracers(NamedTuple):
    """Tracer positions, their rates or the strain recorded since their last update."""

    pos: np.ndarray  # float64[M, 2], unwrapped, at clock ``at`` (RATES) or ``last_update`` (RECORD)
    rate: np.ndarray  # float64[M, 2]: displacement per step at ``ref`` (RATES)
    ref: np.ndarray  # float64[M, 2]: where each rate was evaluated (RATES)
    near: np.ndarray  # float64[M]: distance from ref to the nearest site that yielded since (RATES)
    mode: np.ndarray  # int64[1]: RATES or RECORD
    at: np.ndarray  # int64[1]: the lattice clock the positions are at (RATES)
    queued: np.ndarray  # float64[N, 3]: changes since the last update, (site, coefficient, clock) (RATES)
    n_queued: np.ndarray  # int64[1]
    strain: np.ndarray  # float64[N]: signed yielding steps of each site since the last update (RECORD)
    marked: np.ndarray  # int8[N]: whether a site is in ``touched``
    touched: np.ndarray  # int64[N]: the sites with a record (first n_touched entries)
    n_touched: np.ndarray  # int64[1]
    last_update: np.ndarray  # int64[1]: the lattice clock at the last update
    kernel: np.ndarray  # float64[L, L, 2]: displacement per yielding step at r of a site of sign +1 at 0
    kernel_q: np.ndarray  # complex128[2, L, L // 2 + 1]: its rfft2 per component
    planes: np.ndarray  # float64[L, L, 2]: scratch, the displacement field of the record
    strain_field: np.ndarray  # float64[L, L]: scratch of the FFT path
    fft_cost: int  # one FFT of the lattice, in kernel evaluations


def new_tracers(pos: np.ndarray, ux_r: np.ndarray, uy_r: np.ndarray, u_step: float, clock: int = 0) -> Tracers:
    """Tracers at ``pos`` (at lattice clock ``clock``), moved by ``u_step`` times the
    displacement kernel (ux_r, uy_r) per yielding step; they start in ``RECORD`` mode."""
    L = ux_r.shape[0]
    n = L * L
    m = pos.shape[0]
    kernel = np.ascontiguousarray(np.stack([ux_r, uy_r], axis=-1) * u_step, dtype=np.float32)
    kernel_q = np.stack([np.fft.rfft2(kernel[..., 0]), np.fft.rfft2(kernel[..., 1])])
    # a kernel evaluation costs ~10 ns, the FFTs of one update ~N log2 N ns (measured at L = 64-256)
    fft_cost = max(1, int(n * math.log2(n) / 8))
    return Tracers(np.array(pos, dtype=float), np.zeros((m, 2)), np.array(pos, dtype=float), np.zeros(m),
                   np.array([RECORD], np.int64), np.array([clock], np.int64), np.zeros((n, 3)), np.zeros(1, np.int64),
                   np.zeros(n), np.zeros(n, np.int8),
                   np.zeros(n, np.int64), np.zeros(1, np.int64), np.array([clock], np.int64), kernel, kernel_q,
                   np.zeros((L, L, 2)), np.zeros((L, L)), fft_cost)


@njit(cache=True, inline="always")
def _cell(p, L):
    """Lower-left site index and weight of the bilinear interpolation along one axis."""
    f = math.floor(p)
    return int(f) % L, p - f


@njit(cache=True, inline="always")
def _corner(x, a, L):
    """x - a on the periodic axis, and the next site."""
    d = x - a
    if d < 0:
        d += L
    return d, (d + 1 if d + 1 < L else 0)


@njit(cache=True, inline="always")
def _distance(ax, ay, wx, wy, L):
    """Periodic distance from a point (cell offset ax, ay from a site, weights wx, wy) to the site."""
    ex, ey = ax + wx, ay + wy
    ex, ey = min(ex, L - ex), min(ey, L - ey)
    return math.sqrt(ex * ex + ey * ey)


@njit(cache=True, inline="always")
def _kernel_at(kernel, x0, y0, wx, wy, a):
    """kernel(p - r_a) bilinearly at p (lower-left site x0, y0, weights wx, wy), and |p - r_a|."""
    L = kernel.shape[0]
    w00, w10, w01, w11 = (1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy
    ax, bx = _corner(x0, a // L, L)
    ay, by = _corner(y0, a % L, L)
    return (w00 * kernel[ax, ay, 0] + w10 * kernel[bx, ay, 0] + w01 * kernel[ax, by, 0] + w11 * kernel[bx, by, 0],
            w00 * kernel[ax, ay, 1] + w10 * kernel[bx, ay, 1] + w01 * kernel[ax, by, 1] + w11 * kernel[bx, by, 1],
            _distance(ax, ay, wx, wy, L))


@njit(cache=True, nogil=True)
def _kernels_at(kernel, px, py, sites, weights, n):
    """sum_s weights[sites[s]] kernel(p - r_s) over the first n ``sites``, bilinearly at p,
    and the distance from p to the nearest of them."""
    L = kernel.shape[0]
    x0, wx = _cell(px, L)
    y0, wy = _cell(py, L)
    dx = dy = 0.0
    near = math.inf
    for s in range(n):
        a = sites[s]
        kx, ky, d = _kernel_at(kernel, x0, y0, wx, wy, a)
        dx += weights[a] * kx
        dy += weights[a] * ky
        near = min(near, d)
    return dx, dy, near


@njit(cache=True, nogil=True)
def _interpolate(field, px, py):
    """Bilinear interpolation of the (L, L, 2) ``field`` at (px, py) on the periodic lattice."""
    L = field.shape[0]
    x0, wx = _cell(px, L)
    y0, wy = _cell(py, L)
    x1 = x0 + 1 if x0 + 1 < L else 0
    y1 = y0 + 1 if y0 + 1 < L else 0
    w00, w10, w01, w11 = (1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy
    return (w00 * field[x0, y0, 0] + w10 * field[x1, y0, 0] + w01 * field[x0, y1, 0] + w11 * field[x1, y1, 0],
            w00 * field[x0, y0, 1] + w10 * field[x1, y0, 1] + w01 * field[x0, y1, 1] + w11 * field[x1, y1, 1])


@njit(cache=True, nogil=True)
def _refresh(tracers, j, act, n_act, sign):
    """RATES: tracer j's rate afresh at its position from the n_act active sites."""
    tracers.ref[j, 0], tracers.ref[j, 1] = tracers.pos[j, 0], tracers.pos[j, 1]
    tracers.rate[j, 0], tracers.rate[j, 1], tracers.near[j] = _kernels_at(tracers.kernel, tracers.pos[j, 0],
                                                                          tracers.pos[j, 1], act, sign.ravel(), n_act)


@njit(cache=True, nogil=True)
def _advance(tracers, clock, act, n_act, sign, midpoint):
    """RATES: the positions moved on to ``clock`` and the queued changes applied, tracer by
    tracer: moved at the rate until each change, the change's kernel added to the rate (the
    rate at the reference position: Euler). With ``midpoint``, where that moves a tracer by
    more than ``MIDPOINT_ABOVE`` the interval's displacement is taken at its midpoint instead
    (the field now, from the n_act active sites ``act``, minus each queued change's kernel
    over the time before it) and the tracer's rate refreshed; elsewhere the rate is
    refreshed once the tracer is ``REFRESH_AFTER`` times its distance to the nearest
    yielding site from its reference."""
    pos, rate, ref, queue, near = tracers.pos, tracers.rate, tracers.ref, tracers.queued, tracers.near
    kernel = tracers.kernel
    L = kernel.shape[0]
    n_q = tracers.n_queued[0]
    start = tracers.at[0]
    for j in range(pos.shape[0]):
        t = start
        x0, wx = _cell(ref[j, 0], L)
        y0, wy = _cell(ref[j, 1], L)
        px, py = pos[j, 0], pos[j, 1]
        for p in range(n_q):
            a, c, when = int(queue[p, 0]), queue[p, 1], int(queue[p, 2])
            px += (when - t) * rate[j, 0]
            py += (when - t) * rate[j, 1]
            t = when
            kx, ky, d = _kernel_at(kernel, x0, y0, wx, wy, a)
            rate[j, 0] += c * kx
            rate[j, 1] += c * ky
            near[j] = min(near[j], d)
        px += (clock - t) * rate[j, 0]
        py += (clock - t) * rate[j, 1]
        dx, dy = px - pos[j, 0], py - pos[j, 1]
        if midpoint and max(abs(dx), abs(dy)) > MIDPOINT_ABOVE:
            mx, my = pos[j, 0] + 0.5 * dx, pos[j, 1] + 0.5 * dy
            ux, uy, _ = _kernels_at(kernel, mx, my, act, sign.ravel(), n_act)
            dx, dy = (clock - start) * ux, (clock - start) * uy
            mx0, mwx = _cell(mx, L)
            my0, mwy = _cell(my, L)
            for p in range(n_q):  # each change's kernel was absent (c = sign) or present (c = -sign) before it
                kx, ky, _ = _kernel_at(kernel, mx0, my0, mwx, mwy, int(queue[p, 0]))
                dx -= queue[p, 1] * (queue[p, 2] - start) * kx
                dy -= queue[p, 1] * (queue[p, 2] - start) * ky
            pos[j, 0] += dx
            pos[j, 1] += dy
            _refresh(tracers, j, act, n_act, sign)
        else:
            pos[j, 0], pos[j, 1] = px, py
            if midpoint and max(abs(px - ref[j, 0]), abs(py - ref[j, 1])) > REFRESH_AFTER * max(near[j], 1.0):
                _refresh(tracers, j, act, n_act, sign)
    tracers.n_queued[0] = 0
    tracers.at[0] = clock


@njit(cache=True, nogil=True)
def record_strain(tracers, i, steps):
    """RECORD: site i yielded ``steps`` steps (signed) since the last update."""
    if steps == 0:
        return
    if not tracers.marked[i]:
        tracers.marked[i] = 1
        tracers.touched[tracers.n_touched[0]] = i
        tracers.n_touched[0] += 1
    tracers.strain[i] += steps


@njit(cache=True, nogil=True)
def tracer_change(tracers, i, c, yielded, clock, sign):
    """Site i starts (c = sign) or stops (c = -sign, after ``yielded`` signed steps since the
    last update) yielding at the end of step ``clock`` (``sign``: the sites' event signs)."""
    if tracers.mode[0] == RECORD:
        record_strain(tracers, i, yielded)
        return
    if tracers.n_queued[0] == tracers.queued.shape[0]:  # full (a burst of changes): Euler up to now
        _advance(tracers, clock, tracers.touched, 0, sign, False)
    q = tracers.queued[tracers.n_queued[0]]
    q[0], q[1], q[2] = i, c, clock
    tracers.n_queued[0] += 1


@njit(cache=True, nogil=True)
def _field_by_fft(tracers):
    """The record's displacement field on the lattice into ``planes`` (FFT)."""
    field = tracers.strain_field.ravel()
    field[:] = 0.0
    for s in range(tracers.n_touched[0]):
        a = tracers.touched[s]
        field[a] = tracers.strain[a]
    spectrum = np.fft.rfft2(tracers.strain_field)
    shape = tracers.strain_field.shape
    tracers.planes[:, :, 0] = np.fft.irfft2(spectrum * tracers.kernel_q[0], s=shape)
    tracers.planes[:, :, 1] = np.fft.irfft2(spectrum * tracers.kernel_q[1], s=shape)


@njit(cache=True, nogil=True)
def _move_by_record(tracers):
    """RECORD: every tracer moved by the record's displacement (midpoint rule where it is
    large); the record cleared."""
    n_sites = tracers.n_touched[0]
    pos, touched, strain = tracers.pos, tracers.touched, tracers.strain
    if n_sites == 0:
        return
    direct = pos.shape[0] * n_sites < tracers.fft_cost
    if not direct:
        _field_by_fft(tracers)
    for j in range(pos.shape[0]):
        px, py = pos[j, 0], pos[j, 1]
        if direct:
            dx, dy, _ = _kernels_at(tracers.kernel, px, py, touched, strain, n_sites)
        else:
            dx, dy = _interpolate(tracers.planes, px, py)
        if max(abs(dx), abs(dy)) > MIDPOINT_ABOVE:
            mx, my = px + 0.5 * dx, py + 0.5 * dy
            if direct:
                dx, dy, _ = _kernels_at(tracers.kernel, mx, my, touched, strain, n_sites)
            else:
                dx, dy = _interpolate(tracers.planes, mx, my)
        pos[j, 0] = px + dx
        pos[j, 1] = py + dy
    for s in range(n_sites):
        a = touched[s]
        strain[a] = 0.0
        tracers.marked[a] = 0
    tracers.n_touched[0] = 0


@njit(cache=True, nogil=True)
def update_tracers(tracers, act, n_act, sign, since, clock):
    """Bring the positions to ``clock`` (see the module docstring) and choose the scheme of
    the next interval."""
    L = sign.shape[0]
    pos = tracers.pos
    if tracers.mode[0] == RATES:
        _advance(tracers, clock, act, n_act, sign, True)
        if n_act * pos.shape[0] > tracers.fft_cost:
            tracers.mode[0] = RECORD
    else:
        last = tracers.last_update[0]
        for k in range(n_act):
            i = act[k]
            record_strain(tracers, i, sign[i // L, i % L] * (clock - max(since[i], last)))
        _move_by_record(tracers)
        if 2 * n_act * pos.shape[0] <= tracers.fft_cost:
            tracers.mode[0] = RATES
            tracers.at[0] = clock
            for j in range(pos.shape[0]):
                _refresh(tracers, j, act, n_act, sign)
    tracers.last_update[0] = clock

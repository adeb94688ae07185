"""The stress field of the time-stepped lattice as the stepper keeps it (paper 002, Eq. 1):
the stress ``sigma`` at the last change of the active set, the *rate field* v (the stress
every step adds while the active set stays the same, 2 mu eps_step sum_active sign G(r -
r_a)) and the number k of steps since, so that the current stress is sigma + k v. Sites are
indexed i = x L + y on the periodic L x L lattice; a rate field has planes [0] stress and,
with tracers, [1], [2] the displacement per step (:mod:`epmsweep.model.lattice.tracers`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)
from epmsweep.model.histogram import uniform_slot

DRIFT, VMAX, EXCESS, ONE_BIN = 0, 1, 2, 3  # slots of the thinning bins' bound (transitions.Binning)


@njit(cache=True, inline="always")
def stress_of(i, sigma, v, k):
    """Exact current stress of site i (flat index)."""
    L = sigma.shape[0]
    x, y = i // L, i % L
    return sigma[x, y] + k * v[0, x, y]


@njit(cache=True, nogil=True)
def current_stress(sigma, v, k, out):
    """The whole current stress field, sigma_base + k v, into ``out``."""
    out[:] = sigma + k * v[0]


@njit(cache=True, nogil=True)
def histogram_current(sigma, v, k, bins, counts):
    """Add the current stress of every site to ``counts`` (equal ``bins``, uniform_slot layout)."""
    L = sigma.shape[0]
    for x in range(L):
        for y in range(L):
            counts[uniform_slot(sigma[x, y] + k * v[0, x, y], bins)] += 1.0


@njit(cache=True, nogil=True)
def stress_at(sites, sigma, v, k, out):
    """Exact current stresses of ``sites`` (flat indices, e.g. the C_sigma probes)."""
    for j in range(sites.size):
        out[j] = stress_of(sites[j], sigma, v, k)


@njit(cache=True, nogil=True)
def abs_max(values):
    """max |values| of a float64 array, exactly, as the largest bit pattern with the sign
    bit cleared (for non-negative IEEE doubles the integer order is the float order): an
    integer max reduction vectorises where numba's float max does not, ~10x faster."""
    bits = values.ravel().view(np.int64)
    top = 0
    for i in range(bits.size):
        top = max(top, bits[i] & 0x7FFFFFFFFFFFFFFF)
    return np.array([top]).view(np.float64)[0]


@njit(cache=True, nogil=True)
def bring_up_to_date(sigma, v, k, bins):
    """sigma_base += k v, k = 0 (after a change of the active set); updates the bound on the
    stresses the bins hold: the drift since the last sort, max |sigma_base - sigma_sorted|,
    or, with one bin of all sites, that bin's top, max |sigma_base|."""
    kk = k[0]
    if kk == 0:
        return
    flat, rate = sigma.ravel(), v[0].ravel()
    if bins.bound[ONE_BIN]:
        for i in range(flat.size):
            flat[i] += kk * rate[i]
        bins.top[0] = abs_max(flat)
    else:
        kept, diff = bins.sigma_sorted.ravel(), bins.scratch.ravel()
        for i in range(flat.size):
            s = flat[i] + kk * rate[i]
            flat[i] = s
            diff[i] = s - kept[i]
        bins.bound[DRIFT] = abs_max(diff)
    k[0] = 0


@njit(cache=True, nogil=True)
def add_kernels(values, kernel, sites, coeffs, n):
    """values[m, r] += sum_a coeffs[a] kernel[m, r - r_a] for the first n ``sites`` (periodic)."""
    C, L = values.shape[0], values.shape[1]
    for a in range(n):
        xa, ya, c = sites[a] // L, sites[a] % L, coeffs[a]
        for m in range(C):
            out, ker = values[m], kernel[m]
            for x in range(L):
                dx = x - xa
                if dx < 0:
                    dx += L
                row, dst = ker[dx], out[x]
                for y in range(ya, L):
                    dst[y] += c * row[y - ya]
                for y in range(ya):
                    dst[y] += c * row[y + L - ya]


@njit(cache=True, nogil=True)
def inactive_vmax(v, active, bins):
    """bound[VMAX] = the largest |v| of an inactive site."""
    rate, on, masked = v[0].ravel(), active.ravel(), bins.scratch.ravel()
    for i in range(rate.size):
        masked[i] = rate[i] * (1 - on[i])
    bins.bound[VMAX] = abs_max(masked)

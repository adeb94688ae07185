"""The stress field of the time-stepped lattice as the stepper keeps it (paper 002, Eq. 1).

Between two changes of the active set every step adds the same stress to every site, the
*rate* v_i = sum_{active a} sign_a 2 mu eps_step G(r_i - r_a). The field is kept as a
straight line in the step count k (steps since the last *rebase*):

    sigma_i(k) = base_i + k v_i,    v_i = w_i + active_i sign_i g_self,

where ``w`` is the rate from the *other* active sites (the kernel with its self term
removed) and ``g_self`` = 2 mu eps_step G(r = 0) < 0 a site's own rate. A change of the
active set at step k (site a, coefficient c = +-1) changes the rate by c times a shifted
kernel and the intercept by -k times that, so that the stress is continuous: one pass over
the lattice reading the kernel and updating ``base`` and ``w`` -- two arrays, against one
for the bare rate update -- plus an O(1) correction of site a's intercept for its self term.
The stress of any site is exact in O(1) wherever the dynamics needs it. The same pass
finds max |w|, which bounds |v| of every inactive site (their v is w), for the activation
thinning (:mod:`epmsweep.model.lattice.bins`).

Sites are indexed i = x L + y on the periodic L x L lattice. ``rebase`` folds k v into the
intercept (k = 0), bounding the round-off of k v; ``recompute`` does that and computes w
afresh by FFT from the active set and the signs (when many sites change in one step, and
every ``RECOMPUTE_EVERY`` kernel updates to bound the round-off the increments accumulate).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)
from epmsweep.model.histogram import uniform_slot
from epmsweep.model.lattice.bins import bin_of, move

#: Steps after which the intercept is rebased: k v stays below ~1e5 |v|, so sigma = base +
#: k v keeps ~11 significant digits.
REBASE_STEPS = 1 << 16


class StressField(NamedTuple):
    """sigma_i(k) = base_i + k (w_i + active_i sign_i g_self): see the module docstring."""

    base: np.ndarray  # float64[L, L]: intercept
    w: np.ndarray  # float64[L, L]: stress per step from the other active sites
    kernel: np.ndarray  # float64[L, L]: stress per step at r of a site yielding with sign +1 at 0; 0 at r = 0
    kernel_q: np.ndarray  # float64[L, L // 2 + 1]: its rfft2 (real: the kernel is even)
    g_self: float  # stress per step a yielding site adds to itself, 2 mu eps_step G(0)
    k: np.ndarray  # int64[1]: steps since the last rebase
    increments: np.ndarray  # int64[1]: shifted kernels added since the last recomputation
    signs: np.ndarray  # float64[L, L]: scratch of the FFT recomputation


def new_field(sigma: np.ndarray, kernel_r: np.ndarray) -> StressField:
    """The field at stress ``sigma`` with no site active; ``kernel_r`` the stress per step at
    r of a site yielding with sign +1 at the origin (self term included)."""
    L = sigma.shape[0]
    kernel = np.array(kernel_r, dtype=float)
    g_self = float(kernel[0, 0])
    kernel[0, 0] = 0.0
    kernel_q = np.ascontiguousarray(np.fft.rfft2(kernel).real)
    return StressField(np.array(sigma, dtype=float), np.zeros((L, L)), kernel, kernel_q, g_self,
                       np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros((L, L)))


@njit(cache=True, inline="always")
def stress_of(i, field, active, sign):
    """Exact current stress of site i (flat index)."""
    L = field.base.shape[0]
    x, y = i // L, i % L
    return field.base[x, y] + field.k[0] * (field.w[x, y] + active[x, y] * sign[x, y] * field.g_self)


@njit(cache=True, inline="always")
def inactive_stress(i, field):
    """Exact current stress of site i (flat index) known to be inactive."""
    L = field.base.shape[0]
    x, y = i // L, i % L
    return field.base[x, y] + field.k[0] * field.w[x, y]


@njit(cache=True, nogil=True)
def current_stress(field, active, sign, out):
    """The whole current stress field into ``out``."""
    L = out.shape[0]
    for i in range(L * L):
        out.ravel()[i] = stress_of(i, field, active, sign)


@njit(cache=True, nogil=True)
def histogram_current(field, active, sign, bins, counts):
    """Add the current stress of every site to ``counts`` (equal ``bins``, uniform_slot layout)."""
    L = field.base.shape[0]
    for i in range(L * L):
        counts[uniform_slot(stress_of(i, field, active, sign), bins)] += 1.0


@njit(cache=True, nogil=True)
def stress_at(sites, field, active, sign, out):
    """Exact current stresses of ``sites`` (flat indices, e.g. the C_sigma probes)."""
    for j in range(sites.size):
        out[j] = stress_of(sites[j], field, active, sign)


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
def add_kernel(field, a, c):
    """Site a's rate changes by c (a yields with sign c from the next step, or stops: c =
    -sign): site a's own rate by c g_self, w += c kernel(r - r_a) and base -= k c kernel(r -
    r_a) (the stress continuous). One pass; returns max |w| after it."""
    base, w, kernel = field.base, field.w, field.kernel
    L = base.shape[0]
    xa, ya = a // L, a % L
    kc = field.k[0] * c
    base[xa, ya] -= kc * field.g_self
    w_max = 0.0
    for x in range(L):
        dx = x - xa
        if dx < 0:
            dx += L
        row, dw, db = kernel[dx], w[x], base[x]
        for part in range(2):  # y >= ya, then the wrapped y < ya
            lo, hi, shift = (ya, L, -ya) if part == 0 else (0, ya, L - ya)
            for y in range(lo, hi):
                kr = row[y + shift]
                db[y] -= kc * kr
                wy = dw[y] + c * kr
                dw[y] = wy
                w_max = max(w_max, abs(wy))
    field.increments[0] += 1
    return w_max


@njit(cache=True, nogil=True)
def place_all(field, bins, active, clock):
    """Every inactive site into the bin of its |sigma| (a placement, see
    :mod:`epmsweep.model.lattice.bins`): the last bin's top, the drift and the excess afresh."""
    base, w = field.base.ravel(), field.w.ravel()
    on = active.ravel()
    kk = field.k[0]
    last = bins.used[0] - 1
    w_max = top = 0.0
    for i in range(base.size):
        w_max = max(w_max, abs(w[i]))
        if not on[i]:
            s = abs(base[i] + kk * w[i])
            j = bin_of(bins, s)
            if j != bins.which[i]:
                move(bins, i, j)
            if j == last:
                top = max(top, s)
    bins.top[0] = top
    bins.drift[0] = 0.0
    bins.vmax[0] = w_max
    bins.since[0] = clock
    bins.excess[0] = 0.0


@njit(cache=True, nogil=True)
def rebase(field, active, sign):
    """base = the current stress, k = 0; returns max |sigma| over all sites."""
    kk = field.k[0]
    base, w = field.base.ravel(), field.w.ravel()
    on, sg = active.ravel(), sign.ravel()
    top = 0.0
    for i in range(base.size):
        s = base[i] + kk * (w[i] + on[i] * sg[i] * field.g_self)
        base[i] = s
        top = max(top, abs(s))
    field.k[0] = 0
    return top


@njit(cache=True, nogil=True)
def recompute(field, active, sign):
    """Rebase, then w afresh by FFT from the active sites' signs (exact up to the FFT's
    round-off). Returns (max |sigma| over all sites, max |w|)."""
    s_max = rebase(field, active, sign)
    signs, on, sg = field.signs.ravel(), active.ravel(), sign.ravel()
    for i in range(signs.size):
        signs[i] = on[i] * sg[i]
    spectrum = np.fft.rfft2(field.signs)
    field.w[...] = np.fft.irfft2(spectrum * field.kernel_q, s=field.signs.shape)
    field.increments[0] = 0
    return s_max, abs_max(field.w)

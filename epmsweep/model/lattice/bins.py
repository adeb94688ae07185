"""The thinning bins of the time-stepped lattice's activations: sites grouped by |sigma|.

The sites are held in ``order``, bin b being order[start[b]:start[b + 1]] and the last bin in
use running to the end; bins are equal
intervals of |sigma| of width ``width`` up to the last bin, which is open above and bounded
by ``top``. At a *placement* (clock ``placed``) every inactive site is put into the bin of
its |sigma| (:func:`epmsweep.model.lattice.field.place_all`: one pass, and a swap across
each bin boundary a site crosses, :func:`move`). Since then every inactive site's stress has
moved by at most ``drift`` (accumulated to clock ``since``) plus (clock - since) ``vmax``,
vmax the largest |rate| of an inactive site since the last change of the active set. So
the activation rate of every inactive site of bin b is below the rule's bound at

    bound_b = (b + 1) width (b < used - 1) or top (the last bin)  +  drift(clock).

A site that stops yielding joins the bin that holds its stress under that bound
(:func:`settle`). The bound loosens as the stresses drift; the sites are placed afresh once
the candidates it has cost beyond those at the placement (``excess``) exceed about what a
placement costs. ``used`` = 1 is the mode of high activity: one bin of all sites, bounded
by the largest |sigma| (recomputed with the field at every step there).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)


class Binning(NamedTuple):
    """See the module docstring."""

    start: np.ndarray  # int64[bins + 1]
    order: np.ndarray  # int64[N]: the sites, bin by bin
    slot: np.ndarray  # int64[N]: each site's position in ``order``
    which: np.ndarray  # int64[N]: each site's bin
    width: np.ndarray  # float64[1]: bin width in |sigma|
    used: np.ndarray  # int64[1]: bins in use (1: one bin of all sites)
    top: np.ndarray  # float64[1]: bound of the last bin's |sigma| at the placement
    drift: np.ndarray  # float64[1]: bound of the stresses' drift since the placement, up to ``since``
    vmax: np.ndarray  # float64[1]: largest |rate| of an inactive site since ``since``
    since: np.ndarray  # int64[1]: clock of the last change of the active set (or placement)
    p_placed: np.ndarray  # float64[bins]: each bin's candidate probability per step at the placement
    excess: np.ndarray  # float64[1]: candidates drawn beyond p_placed since the placement


def new_binning(n_sites: int, n_bins: int) -> Binning:
    """All sites in bin 0 (one bin in use); the first placement spreads them."""
    start = np.full(n_bins + 1, n_sites, np.int64)
    start[0] = 0
    return Binning(start, np.arange(n_sites, dtype=np.int64), np.arange(n_sites, dtype=np.int64),
                   np.zeros(n_sites, np.int64), np.ones(1), np.ones(1, np.int64), np.zeros(1), np.zeros(1), np.zeros(1),
                   np.zeros(1, np.int64), np.zeros(n_bins), np.zeros(1))


@njit(cache=True, inline="always")
def bin_of(bins, s_abs):
    """The bin of a site at |sigma| = s_abs (at the placement)."""
    last = bins.used[0] - 1
    if last == 0:
        return 0
    return min(int(s_abs / bins.width[0]), last)


@njit(cache=True, inline="always")
def drift_at(bins, clock):
    """Bound of any inactive site's stress drift since the placement, at ``clock``."""
    return bins.drift[0] + (clock - bins.since[0]) * bins.vmax[0]


@njit(cache=True, inline="always")
def edge_of(bins, b):
    """Bound of bin b's |sigma| at the placement."""
    return bins.top[0] if b == bins.used[0] - 1 else (b + 1) * bins.width[0]


@njit(cache=True, inline="always")
def changed_rates(bins, clock, vmax):
    """The active set changed at ``clock``: the drift so far folded in, ``vmax`` from now."""
    bins.drift[0] = drift_at(bins, clock)
    bins.since[0] = clock
    bins.vmax[0] = vmax


@njit(cache=True, nogil=True)
def settle(bins, i, s_abs, clock):
    """Site i, inactive again at |sigma| = s_abs, into a bin whose bound holds it."""
    d = drift_at(bins, clock)
    if s_abs <= edge_of(bins, bins.which[i]) + d:
        return
    j = bin_of(bins, max(s_abs - d, 0.0))
    if j == bins.used[0] - 1:
        bins.top[0] = max(bins.top[0], s_abs - d)
    move(bins, i, j)


@njit(cache=True, nogil=True)
def move(bins, i, b):
    """Site i into bin b: swapped across each boundary between its bin and b."""
    start, order, slot, which = bins.start, bins.order, bins.slot, bins.which
    c = which[i]
    while c < b:  # up: swap with the last site of bin c, which then ends one slot earlier
        j = order[start[c + 1] - 1]
        si, sj = slot[i], start[c + 1] - 1
        order[si], order[sj] = j, i
        slot[j], slot[i] = si, sj
        start[c + 1] -= 1
        c += 1
    while c > b:  # down: swap with the first site of bin c, which then starts one slot later
        j = order[start[c]]
        si, sj = slot[i], start[c]
        order[si], order[sj] = j, i
        slot[j], slot[i] = si, sj
        start[c] += 1
        c -= 1
    which[i] = b

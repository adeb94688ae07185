"""Binning helpers shared by the models: bin edges and centres, and histograms with
under/overflow slots normalised to densities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)


def uniform_bins(lo: float, hi: float, n: int) -> np.ndarray:
    """``n + 1`` equally spaced edges on ``[lo, hi]``."""
    return np.linspace(lo, hi, n + 1)


def log_edges(lo: float, hi: float, n: int) -> np.ndarray:
    """n log-spaced bins between lo and hi (n + 1 edges)."""
    return np.geomspace(lo, hi, n + 1)


def bin_centres(edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Arithmetic centres of the bins."""
    e = np.asarray(edges, dtype=float)
    return 0.5 * (e[1:] + e[:-1])


def log_centres(edges: np.ndarray) -> np.ndarray:
    """Geometric centres of log-spaced bins."""
    return np.sqrt(edges[1:] * edges[:-1])


@njit(cache=True, inline="always")
def edge_slot(v, edges):
    """Slot of v in counts of length len(edges) + 1: 0 underflow, len(edges) overflow,
    j + 1 for edges[j] <= v < edges[j + 1] (edges increasing; bisection)."""
    n = edges.size
    if v < edges[0]:
        return 0
    if v >= edges[n - 1]:
        return n
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if v >= edges[mid]:
            lo = mid
        else:
            hi = mid
    return lo + 1


class UniformBins(NamedTuple):
    """Equal bins on [lo, lo + n / inv_width], for O(1) slot lookups in the kernels."""

    lo: float
    inv_width: float
    n: int

    @classmethod
    def from_edges(cls, edges: np.ndarray) -> UniformBins:
        n = edges.size - 1
        return cls(float(edges[0]), n / float(edges[-1] - edges[0]), n)


@njit(cache=True, inline="always")
def uniform_slot(v, bins):
    """``edge_slot`` of v for equal bins, in O(1): 0 underflow, bins.n + 1 overflow."""
    x = (v - bins.lo) * bins.inv_width
    if x >= 0.0 and x < bins.n:
        return int(x) + 1
    return 0 if x < 0.0 else bins.n + 1


@njit(cache=True, nogil=True)
def histogram_add(values, edges, counts, weight):
    """Add ``values`` to ``counts`` (see ``edge_slot`` for the layout)."""
    for v in values.ravel():
        counts[edge_slot(v, edges)] += weight


def density(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Probability density on the bins from counts with under/overflow slots; normalised by
    the total count (including out-of-range), so it integrates to the in-range fraction."""
    total = counts.sum()
    if total == 0:
        return np.full(edges.size - 1, np.nan)
    return counts[1:-1] / (total * np.diff(edges))

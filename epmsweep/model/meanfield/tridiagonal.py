"""Many tridiagonal systems at once: one per site of a chain, each with its own matrix.

The time-dependent Fokker-Planck solver needs, at every time step, one tridiagonal solve in
sigma per site (the matrices differ by the site's rate and diffusion coefficient), which
scipy's banded solver would do one Python call at a time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

import epmsweep.model.jit  # noqa: F401  (the package's numba cache key)


@njit(cache=True, nogil=True)
def solve_tridiagonal_rows(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with A_i x[i, :, k] = rhs[i, :, k] for each row i, A_i tridiagonal with diagonal
    ``diag[i]``, ``lower[i, j]`` coupling unknown j to j - 1 (j >= 1) and ``upper[i, j]``
    coupling j to j + 1 (j < m - 1). Thomas algorithm without pivoting: for the diagonally
    dominant matrices of a backward-Euler diffusion step it is stable."""
    n, m, k = rhs.shape
    x = np.empty_like(rhs)
    scaled = np.empty(m)
    for i in range(n):
        pivot = diag[i, 0]
        scaled[0] = upper[i, 0] / pivot
        for c in range(k):
            x[i, 0, c] = rhs[i, 0, c] / pivot
        for j in range(1, m):
            pivot = diag[i, j] - lower[i, j] * scaled[j - 1]
            scaled[j] = upper[i, j] / pivot if j < m - 1 else 0.0
            for c in range(k):
                x[i, j, c] = (rhs[i, j, c] - lower[i, j] * x[i, j - 1, c]) / pivot
        for j in range(m - 2, -1, -1):
            for c in range(k):
                x[i, j, c] -= scaled[j] * x[i, j + 1, c]
    return x

"""The sites of the spatially coupled Fokker-Planck equation: a chain or a square grid, and
the discrete Laplacian of Eq. (6) on it.

Sites are numbered in C order (site (i, j) of an n x n grid is i n + j). The boundary has
zero gradient (a mirror ghost site beyond each edge), so a perturbation at the corner of a
grid is the quarter of one at the centre of a grid twice as wide, and one at the first
site of a chain the half of one at the centre of a chain twice as long.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

GEOMETRIES = {"chain": 1, "square": 2}


def neumann_laplacian(n: int, dimensions: int, spacing: float) -> sparse.csr_matrix:
    """The second-difference Laplacian (1/spacing^2 units) on n**dimensions sites, zero
    gradient at the boundary: each site minus its neighbours, an edge site with one fewer."""
    main = np.full(n, -2.0)
    main[[0, -1]] = -1.0
    line = sparse.diags([np.ones(n - 1), main, np.ones(n - 1)], [-1, 0, 1])
    if dimensions == 1:
        laplacian = line
    else:
        eye = sparse.identity(n)
        laplacian = sparse.kron(line, eye) + sparse.kron(eye, line)
    return sparse.csr_matrix(laplacian / spacing**2)


def distances(n: int, dimensions: int, spacing: float) -> np.ndarray:
    """Each site's distance from site 0 (the corner), in units of sqrt(m)."""
    axis = np.arange(n) * spacing
    if dimensions == 1:
        return axis
    return np.hypot(axis[:, None], axis[None, :]).ravel()

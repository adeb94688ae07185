"""Plain-NumPy, per-event implementation of the Gillespie algorithm of paper 000, App. E.

The reference point of the speed benchmark: one Python iteration per event, every
array operation vectorised over the N sites (rates, cumulative sum, N - 1 kicks).
"""

from __future__ import annotations

import math

import numpy as np


def nu(sigma: np.ndarray, T: float, a: float = 1.5) -> np.ndarray:
    """Eq. (3) in the paper's units."""
    return np.exp(-np.maximum(1.0 - np.abs(sigma), 0.0) ** a / T)


def draw_y(rng: np.random.Generator) -> float:
    """One stress from y(sigma) of Eq. (1) (sigma_c = sigma_0 = 1), by inverse CDF."""
    s = math.log1p(rng.random() * math.expm1(1.0))
    return s if rng.random() < 0.5 else -s


def run_events(sigma: np.ndarray, T: float, alpha: float, n_events: int, rng: np.random.Generator) -> float:
    """Advance ``sigma`` in place by ``n_events`` events; return the elapsed simulated time."""
    n = sigma.size
    kick_sd = math.sqrt(2.0 * alpha / n)
    t = 0.0
    for _ in range(n_events):
        rates = nu(sigma, T)
        cumulative = np.cumsum(rates)
        total = cumulative[-1]
        t += rng.exponential(1.0 / total)
        i = min(int(np.searchsorted(cumulative, rng.random() * total, side="right")), n - 1)
        kicks = rng.normal(0.0, kick_sd, n)
        kicks[i] = 0.0
        sigma += kicks
        sigma[i] = draw_y(rng)
    return t

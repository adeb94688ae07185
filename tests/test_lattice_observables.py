"""The lattice's streamed tracer correlations against direct NumPy sums over the same
trajectories."""

import numpy as np
import pytest

from epmsweep.model.lattice.observables import TimeCorrelations, lag_grid, wave_numbers


def test_wave_numbers_are_powers_of_two_and_three_times_them():
    assert wave_numbers(10).tolist() == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]


def test_msd_and_s_q_equal_the_direct_averages_over_all_time_origins():
    """Random-walk trajectories sampled every 0.1: at the first level's lags (every origin
    kept) MSD and S(q, lag) = <cos(q dx) + cos(q dy)>/2 are plain averages over tracers and
    origins, computed here with NumPy's cosines at each wave number."""
    rng = np.random.default_rng(4)
    n_tr, n_samples, box = 30, 60, 64.0
    steps = rng.normal(0.0, 0.7, (n_samples, n_tr, 2))
    traj = np.cumsum(steps, axis=0)
    n_q = 10
    corr = TimeCorrelations(n_tr, 3, 2, 0.1, n_q, box)
    for pos in traj:
        corr.sample(pos, np.zeros((n_tr, 2)), np.zeros(3))
    out = corr.results()
    lags = lag_grid(0.1, 2)
    q = 2 * np.pi * wave_numbers(n_q) / box
    for i in range(1, 10):
        d = traj[i:] - traj[:-i]
        assert lags[i - 1] == pytest.approx(0.1 * i)
        assert out["msd"][i - 1] == pytest.approx((d**2).sum(-1).mean(), rel=1e-12)
        direct = 0.5 * (np.cos(q * d[..., 0, None]) + np.cos(q * d[..., 1, None])).mean(axis=(0, 1))
        np.testing.assert_allclose(out["s_q"][i - 1], direct, rtol=0, atol=1e-12)

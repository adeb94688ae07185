"""Gillespie simulation (model ``meanfield``) against exact limits, the FP solver, and itself
across algorithms (thinning with lazy kicks vs the O(N) direct method of App. E)."""

import math

import numpy as np
import pytest
from scipy import stats

from conftest import PAPER, renewal_gamma
from epmsweep.model.meanfield import theory
from epmsweep.model.meanfield.fokker_planck import solve_stationary
from epmsweep.model.meanfield.rates import rate_profile
from epmsweep.model.meanfield.relaxation import Relaxation


@pytest.mark.parametrize(("T", "sweeps"), [(0.1, 2000), (0.3, 500), (1.0, 500)])
def test_alpha_zero_matches_renewal_theory(sim, T, sweeps):
    """No kicks: each site is a renewal process, Gamma = 1/int y/nu. Started from y so that
    no site begins deep in the slow centre; windows of >= 25 sweeps exceed the longest
    holding time (e^(1/T) at T = 0.1), so batch means are independent."""
    out = sim.run({**PAPER, "alpha": 0.0, "T": T, "N": 200},
                  {"initial": "y", "burn_in": 200, "duration": sweeps, "n_windows": 20}, seed=7)
    assert abs(out["gamma"] - renewal_gamma(T)) < 3 * out["gamma_err"]
    assert out["gamma_err"] < 0.02 * out["gamma"]  # the check has teeth


def test_gamma_tends_to_one_at_high_temperature(sim):
    """Gamma -> 1 as T -> infinity; at T = 100 the exact 1/T correction (0.319/T) is
    resolved: 4 standard errors from 1."""
    for T in (100.0, 1e4):
        out = sim.run({**PAPER, "T": T, "N": 1000}, {"burn_in": 20, "duration": 2000}, seed=3)
        expected = 1.0 - theory.t_onset_exact(0.11) / T
        assert abs(out["gamma"] - expected) < 3 * out["gamma_err"]
    assert 1.0 - out["gamma"] < 3 * out["gamma_err"]


def _replicas(sim, T, method, n=12):
    settings = {"method": method, "burn_in": 50, "duration": 300, "p_sigma_bins": 30}
    runs = [sim.run({**PAPER, "T": T, "N": 100}, settings, seed=1000 * (method == "direct") + i) for i in range(n)]
    return np.array([r["gamma"] for r in runs]), np.array([r["p_sigma"] for r in runs])


@pytest.mark.parametrize("T", [1.0, 0.2, 0.05])
def test_thinning_and_direct_methods_agree_in_distribution(sim, T):
    """Two-sample tests over independent replicas: Welch and Kolmogorov-Smirnov on Gamma,
    Welch per P(sigma) bin with a Bonferroni correction; family-wise level 1e-3."""
    g_thin, p_thin = _replicas(sim, T, "thinning")
    g_direct, p_direct = _replicas(sim, T, "direct")
    assert stats.ttest_ind(g_thin, g_direct, equal_var=False).pvalue > 1e-3
    assert stats.ks_2samp(g_thin, g_direct).pvalue > 1e-3
    occupied = (p_thin.std(0) > 0) & (p_direct.std(0) > 0)
    pvalues = stats.ttest_ind(p_thin[:, occupied], p_direct[:, occupied], equal_var=False).pvalue
    assert pvalues.min() * occupied.sum() > 1e-3


@pytest.mark.parametrize("T", [1.0, 0.3, 0.1])
def test_simulation_at_n1000_matches_fokker_planck(sim, T):
    """Gamma within 3 standard errors + 1% (finite-N corrections are O(1/N)); P(sigma) within
    an L1 distance of 3x its statistical noise + 0.01. The noise of the two-replica mean is
    estimated from the replicas themselves: for independent errors, E|X - Y|/2 is the mean
    absolute error of (X + Y)/2."""
    runs = [sim.run({**PAPER, "T": T, "N": 1000}, {"burn_in": 100, "duration": 500}, seed=s) for s in (1, 2)]
    edges = np.linspace(-1.5, 1.5, 61)
    exact = solve_stationary({**PAPER, "T": T}, edges=edges)
    for r in runs:
        assert abs(r["gamma"] - exact.gamma) < 3 * r["gamma_err"] + 0.01 * exact.gamma
    width = np.diff(edges)
    p1, p2 = (r["p_sigma"] * width for r in runs)
    noise = np.abs(p1 - p2).sum() / 2
    distance = np.abs((p1 + p2) / 2 - exact.bin_average(edges) * width).sum()
    assert distance < 3 * noise + 0.01, (distance, noise)


def test_low_temperature_gap_to_fokker_planck_shrinks_with_n(sim):
    """At T = 0.05 the simulation lies below the N = infinity FP value by ~25/N (Gamma
    fluctuations weigh on the steep activation); the gap shrinks from N = 250 to 1000."""
    exact = solve_stationary({**PAPER, "T": 0.05}).gamma
    gaps = {}
    for n, sweeps in ((250, 2000), (1000, 500)):
        r = sim.run({**PAPER, "T": 0.05, "N": n}, {"burn_in": 100, "duration": sweeps}, seed=5)
        gaps[n] = ((exact - r["gamma"]) / exact, r["gamma_err"] / exact)
    (gap_small, err_small), (gap_large, err_large) = gaps[250], gaps[1000]
    assert gap_small > 3 * err_small
    assert gap_small - gap_large > 3 * math.hypot(err_small, err_large)


def test_relaxation_from_the_gaussian_matches_time_dependent_fokker_planck(sim):
    """Gamma in windows of one tau after the App. E Gaussian start, N = 20000, against the
    window averages of Gamma(t) from Eq. (5) (Simpson, 9 points per window)."""
    T, windows = 0.3, 12
    out = [sim.run({**PAPER, "T": T, "N": 20000},
                   {"unit": "time", "burn_in": 0, "duration": windows, "n_windows": windows}, seed=s) for s in (1, 2)]
    simulated = np.mean([o["gamma_t"] for o in out], axis=0)
    relax = Relaxation(rate_profile("exact", {**PAPER, "T": T}), 0.11, 1.0, 1.0, 1.0)
    averages = []
    for w in range(windows):
        t = np.linspace(w, w + 1, 9)
        values = np.array([relax.gamma_at(x) if x > 0 else relax.activities()[0] for x in t])
        averages.append((values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum()) / 24)
    np.testing.assert_allclose(simulated, averages, rtol=0.03)
    assert averages[0] / averages[-1] > 1.3  # the check sees a real relaxation

"""Closed forms of paper 000 against its quoted numbers and the exact Fokker-Planck solution.

Each printed formula found inconsistent keeps a test that shows the inconsistency,
next to a test that the corrected form matches the numerical solution in its regime.
"""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from conftest import PAPER
from epmsweep.model.meanfield import theory
from epmsweep.model.meanfield.fokker_planck import solve_stationary

ALPHA = 0.11


def fp_gamma(T, rate="exact", **kw):
    return solve_stationary({**PAPER, "T": T, **kw}, rate=rate, log_rate_step=0.005)


# ---- Eqs. (17), (18): the T -> 0 frozen state --------------------------------
def test_sigma_bar_is_the_papers_0749():
    assert theory.sigma_bar(0.110) == pytest.approx(0.749, abs=1e-3)


def test_eq17_is_normalised_and_vanishes_at_the_support_edge():
    sb = theory.sigma_bar(ALPHA)
    assert 2 * quad(theory.p0_frozen, 0, sb, args=(ALPHA,), epsabs=1e-14)[0] == pytest.approx(1.0, abs=1e-10)
    assert theory.p0_frozen(sb * (1 - 1e-12), ALPHA) == pytest.approx(0.0, abs=1e-9)
    assert theory.p0_frozen(sb + 1e-3, ALPHA) == 0.0


def test_sigma_bar_refuses_couplings_without_a_frozen_state():
    with pytest.raises(ValueError, match="alpha = 0.5"):
        theory.sigma_bar(0.5)


# ---- high-T regime: Eqs. (7), (9), (B6) ---------------------------------------
def test_b6_as_printed_has_the_wrong_sign():
    assert theory.t_onset_printed(ALPHA) == pytest.approx(-0.284, abs=5e-4)


def test_corrected_b6_is_the_papers_0284_and_the_eq7_asymptote():
    """T (1 - Gamma) of the exact solution with the rate of Eq. (7) tends to T_onset;
    extrapolated from T = 1e3 and 2e3 (corrections are O(1/T))."""
    assert theory.t_onset(ALPHA) == pytest.approx(0.284, abs=5e-4)
    x1, x2 = (T * (1 - fp_gamma(T, "high-T").gamma) for T in (1e3, 2e3))
    assert 2 * x2 - x1 == pytest.approx(theory.t_onset(ALPHA), rel=1e-4)


def test_high_t_law_for_the_exact_rate():
    """With the exact nu the 1/T coefficient is <dE> in the T = inf state: 0.319, not 0.284."""
    x1, x2 = (T * (1 - fp_gamma(T).gamma) for T in (1e3, 2e3))
    assert 2 * x2 - x1 == pytest.approx(theory.t_onset_exact(ALPHA), rel=1e-4)
    assert theory.t_onset_exact(ALPHA) == pytest.approx(0.319, abs=1e-3)
    np.testing.assert_allclose(theory.gamma_high_t(20.0, theory.t_onset_exact(ALPHA)), fp_gamma(20.0).gamma, rtol=1e-3)


def test_infinite_t_density_is_a_normalised_solution():
    p_inf = lambda s: theory.p_infinite_t(s, ALPHA)  # noqa: E731
    assert 2 * quad(p_inf, 0, 12, points=[1.0], epsabs=1e-13)[0] == pytest.approx(1.0, abs=1e-10)
    sol = fp_gamma(1e7)
    s = np.linspace(0, 2, 9)
    np.testing.assert_allclose(sol.density_at(s), theory.p_infinite_t(s, ALPHA), rtol=1e-5)


# ---- MCT-like regime: Eqs. (10)-(14), (C3) ------------------------------------
def test_tc_rounds_to_the_papers_007():
    assert round(theory.t_c(ALPHA), 2) == 0.07
    _, _, s_b = theory.mct_linearisation(theory.t_c(ALPHA), 1.5)
    assert s_b == pytest.approx(theory.sigma_bar(ALPHA), abs=1e-12)


def test_eq10_linearisation_is_tangent_at_nu_one_half():
    T, a = 0.5, 1.5
    delta, s_half, s_b = theory.mct_linearisation(T, a)
    nu = lambda s: math.exp(-((1 - s) ** a) / T)  # noqa: E731
    assert nu(s_half) == pytest.approx(0.5, rel=1e-12)
    assert (nu(s_half + 1e-6) - nu(s_half - 1e-6)) / 2e-6 == pytest.approx(delta, rel=1e-6)
    assert 0.5 + delta * (s_b - s_half) == pytest.approx(0.0, abs=1e-12)


def test_mct_rate_freezes_below_tc_and_flows_above():
    tc = theory.t_c(ALPHA)
    assert fp_gamma(0.95 * tc, "mct").log_gamma == -math.inf
    assert fp_gamma(1.05 * tc, "mct").gamma > 0


def test_eq12_as_printed_is_negative_above_tc():
    assert theory.gamma_mct_printed(1.1 * theory.t_c(ALPHA), ALPHA) < 0


@pytest.mark.parametrize("excess", [1e-3, 1e-2])
def test_corrected_eq12_matches_the_exact_solution_near_tc(excess):
    T = theory.t_c(ALPHA) * (1 + excess)
    exact = fp_gamma(T, "mct").gamma
    assert theory.gamma_mct(T, ALPHA) == pytest.approx(exact, rel=0.5 * excess + 1e-3)
    # The printed form, even with its sign and 1/alpha restored, is low by a factor
    # ~2.6: the beta's of the approximate App. C solution instead of the exact layer.
    assert 2.3 < exact * ALPHA / abs(theory.gamma_mct_printed(T, ALPHA)) < 2.9


def test_mct_exponent_is_three():
    tc = theory.t_c(ALPHA)
    g1, g2 = (fp_gamma(tc * (1 + x), "mct").gamma for x in (1e-3, 2e-3))
    assert math.log(g2 / g1) / math.log(2.0) == pytest.approx(3.0, abs=0.01)


# ---- low-T regime: Eqs. (19)-(22), (D8) ---------------------------------------
def test_low_t_prefactor_is_t_squared_not_t():
    """gamma = Gamma exp(Ebar/T) against T: log-slope 2 (corrected), not 1 (printed Eq. 22)."""
    e_bar = theory.e_bar(ALPHA)
    g = {T: math.exp(fp_gamma(T).log_gamma + e_bar / T) for T in (0.002, 0.004)}
    slope = math.log(g[0.004] / g[0.002]) / math.log(2.0)
    assert slope == pytest.approx(2.0, abs=0.1)
    printed = {T: theory.gamma_low_t_printed(T, ALPHA) * math.exp(e_bar / T) for T in g}
    assert math.log(printed[0.004] / printed[0.002]) / math.log(2.0) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("rate", ["exact", "low-T"])
def test_corrected_low_t_law_is_the_exact_asymptote(rate):
    """FP / corrected law -> 1 as T -> 0, with O(T) corrections: extrapolated to T = 0 from
    T = 0.002 and 0.001 it is 1 within 1%; the printed law misses by a factor ~ T."""
    ratio = {T: fp_gamma(T, rate).gamma / theory.gamma_low_t(T, ALPHA) for T in (0.001, 0.002)}
    assert 2 * ratio[0.001] - ratio[0.002] == pytest.approx(1.0, abs=0.01)
    assert fp_gamma(0.002, rate).gamma / theory.gamma_low_t_printed(0.002, ALPHA) < 0.05


def test_eq19_rate_is_tangent_to_the_barrier_at_sigma_bar():
    T = 0.04
    sb = theory.sigma_bar(ALPHA)
    t1 = theory.t1(T, sb, 1.5)
    log_nu = lambda s: -((1 - s) ** 1.5) / T  # noqa: E731
    assert log_nu(sb) == pytest.approx(-theory.e_bar(ALPHA) / T, rel=1e-12)
    assert (log_nu(sb + 1e-6) - log_nu(sb - 1e-6)) / 2e-6 == pytest.approx(1 / t1, rel=1e-6)

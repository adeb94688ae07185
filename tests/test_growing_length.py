"""The growing length xi of paper 000 (Secs. V C, VI C) from the exact linearisation of the
Fokker-Planck normalisation, against exact identities and the asymptotes of the closed
forms (Eqs. 16, 23, 24), with the printed forms' errata."""

import math

import pytest
from conftest import PAPER

from epmsweep.model.meanfield import theory
from epmsweep.model.meanfield.fokker_planck import growing_length

ALPHA = PAPER["alpha"]


@pytest.mark.parametrize(("T", "rate"), [(5.0, "exact"), (0.5, "exact"), (0.05, "exact"), (0.005, "exact"),
                                         (theory.t_c(ALPHA) + 1e-3, "mct")])
def test_the_two_derivatives_of_the_normalisation_obey_their_exact_identity(T, rate):
    """int P = Gamma I(D) exactly (Eq. 8 is linear in Gamma at fixed D), so the slope along
    D = alpha Gamma is 1 - s, s the elasticity in D at fixed Gamma: two independent finite-
    difference derivatives of the solver's normalisation agree to ~1e-7."""
    length = growing_length({**PAPER, "T": T}, rate)
    assert length.branch_slope == pytest.approx(1.0 - length.elasticity, abs=1e-6)
    assert 0.0 < length.elasticity < 1.0 and length.decays  # a local perturbation decays at every T
    assert length.xi == pytest.approx(math.sqrt(length.elasticity / (ALPHA * (1.0 - length.elasticity))))


def test_xi_grows_monotonically_from_hot_to_cold():
    temps = [5.0, 1.0, 0.3, 0.1, 0.05, 0.02, 0.01, 0.005]
    xis = [growing_length({**PAPER, "T": T}).xi for T in temps]
    assert all(b > a for a, b in zip(xis, xis[1:])), xis
    assert xis[0] < 0.3 < 15.0 < xis[-1]


def test_low_t_xi_approaches_the_corrected_eq_23_as_t_to_the_minus_half():
    """Exact rate, T -> 0: xi/sqrt(m) -> 1/sqrt(F'(sigma_bar) T_1) (corrections O(T): 1.8% at
    T = 0.02, 0.1% at 0.0025), so xi ~ T^(-1/2) (Eq. 24); the printed Eq. (23) is off by the
    factor sqrt(alpha^2 |c_1| / F'(sigma_bar)) = 1.18 at alpha = 0.11."""
    errors = []
    for T in (0.01, 0.005, 0.0025):
        errors.append(abs(growing_length({**PAPER, "T": T}).xi / theory.xi_low_t(T, ALPHA) - 1.0))
    assert errors[-1] < 2e-3 and errors[0] > errors[1] > errors[2]
    sb = theory.sigma_bar(ALPHA)
    factor = math.sqrt(2.0 * math.exp(sb) / (math.e * (math.exp(sb) - 1.0)))  # alpha^2 |c_1| / F', from Eq. (D8)
    printed = growing_length({**PAPER, "T": 0.0025}).xi / theory.xi_low_t_printed(0.0025, ALPHA)
    assert printed == pytest.approx(factor, rel=2e-3) and factor == pytest.approx(1.181, abs=1e-3)
    slope = math.log(growing_length({**PAPER, "T": 0.0025}).xi / growing_length({**PAPER, "T": 0.005}).xi) / math.log(0.5)
    assert slope == pytest.approx(-0.5, abs=0.01)


def test_mct_xi_approaches_the_corrected_eq_16_as_the_distance_to_tc_to_the_minus_half():
    """Rate of Eq. (10), T -> T_c+: xi/sqrt(m) -> sqrt(3/(F'(sigma_bar)(sigma_bar - sigma_B)))
    (corrections O(T - T_c): 0.3% at 1e-3, 0.08% at 3e-4), so xi ~ (T - T_c)^(-1/2); the printed
    Eq. (16), with beta_1 = -(4/7) b instead of -(2/3) b, is sqrt(7/6) = 1.080 times too long."""
    tc = theory.t_c(ALPHA)
    near = [growing_length({**PAPER, "T": tc + d}, "mct").xi for d in (1e-3, 3e-4)]
    assert near[1] == pytest.approx(theory.xi_mct(tc + 3e-4, ALPHA), rel=2e-3)
    assert abs(near[0] / theory.xi_mct(tc + 1e-3, ALPHA) - 1) > abs(near[1] / theory.xi_mct(tc + 3e-4, ALPHA) - 1)
    assert near[1] / theory.xi_mct_printed(tc + 3e-4, ALPHA) == pytest.approx(math.sqrt(6.0 / 7.0), rel=2e-3)
    assert math.log(near[1] / near[0]) / math.log(0.3) == pytest.approx(-0.5, abs=0.01)


def test_the_model_reports_xi(fp):
    out = fp.run({**PAPER, "T": 0.1}, {"n_times": 0})
    exact = growing_length({**PAPER, "T": 0.1})
    assert out["xi"] == pytest.approx(exact.xi, rel=1e-9) and out["xi_decays"] == 1
    assert out["d_log_mass_d_log_d"] == pytest.approx(-exact.elasticity, rel=1e-9)

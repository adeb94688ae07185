"""The spatially coupled Fokker-Planck equation (Eq. 8, or Eq. 5 in time, at each site of a
chain or square grid, coupled by Eq. 6) against the linearised length xi of paper 000: a
local perturbation decays over xi where it is small, and the profile departs from the
linear theory where it is not; in time, a heated region's change spreads until the
stationary profile."""

import math

import numpy as np
import pytest
from scipy.linalg import solve_banded
from conftest import PAPER

from epmsweep.model import InvalidInput, get_model
from epmsweep.model.meanfield.fokker_planck import solve_stationary
from epmsweep.model.meanfield.rates import rate_profile
from epmsweep.model.meanfield.relaxation import Relaxation
from epmsweep.model.meanfield.spatial import decay_length
from epmsweep.model.meanfield.tridiagonal import solve_tridiagonal_rows

CHAIN = get_model("meanfield-fp-spatial")


@pytest.mark.parametrize("T", [0.5, 0.05])
def test_a_small_pinned_change_decays_over_the_linear_xi(T):
    """Gamma_0 held 0.1% above the homogeneous value: the chain's stationary profile decays
    as the linear theory's pin lambda^i (lambda = exp(-2 asinh(h/(2 xi))) on the chain), and
    the fitted length equals xi within 1e-3 (the nonlinear correction is O(pin))."""
    out = CHAIN.run({**PAPER, "T": T, "pin": 1e-3}, {})
    assert out["xi_fit"] == pytest.approx(out["xi_linear"], rel=1e-3)
    spacing = out["x"][1]
    decay = math.exp(-2.0 * math.asinh(spacing / (2.0 * out["xi_linear"])))
    near = out["x"] <= 8 * out["xi_linear"]
    excess = out["gamma_x"][near] / out["gamma"] - 1.0
    np.testing.assert_allclose(excess, 1e-3 * decay ** np.arange(near.sum()), rtol=3e-3)


def test_a_strong_pin_departs_from_the_linear_profile_near_the_pin_but_not_far_away():
    """Gamma_0 three times the homogeneous value: within one xi the profile differs from the
    linear theory by more than 10%; far away, where the change is small again, it decays over xi."""
    out = CHAIN.run({**PAPER, "T": 0.1, "pin": 2.0}, {})
    xi, spacing = out["xi_linear"], out["x"][1]
    decay = math.exp(-2.0 * math.asinh(spacing / (2.0 * xi)))
    first = (out["x"] > 0) & (out["x"] <= xi)
    linear = 2.0 * decay ** np.arange(out["x"].size)[first]
    assert np.max(np.abs(out["gamma_x"][first] / out["gamma"] - 1.0 - linear) / linear) > 0.1
    far = CHAIN.run({**PAPER, "T": 0.1, "pin": 2.0}, {"fit_from": 4.0, "fit_to": 10.0})
    assert far["xi_fit"] == pytest.approx(xi, rel=1e-2)


def test_a_warmer_region_spreads_over_xi_and_a_hot_one_breaks_the_gradient_expansion():
    """Ten sites at T = 0.12 in a chain at T = 0.1: the activity outside decays over xi (1%);
    at T_region = 1 the edge of the region would need D < 0: refused, saying so."""
    out = CHAIN.run({**PAPER, "T": 0.1, "T_region": 0.12}, {"perturbation": "hot-region", "n_sites": 72})
    assert out["xi_fit"] == pytest.approx(out["xi_linear"], rel=1e-2)
    assert out["gamma_x"][0] > out["gamma_x"][20] > out["gamma"]
    with pytest.raises(InvalidInput, match="gradient expansion of Eq. \\(6\\) would need a negative D"):
        CHAIN.run({**PAPER, "T": 0.1, "T_region": 1.0}, {"perturbation": "hot-region", "n_sites": 40, "fit_to": 2.0})


def test_a_heated_region_spreads_in_time_until_the_stationary_chain():
    """The time-dependent chain (Eq. 5 at each site, D_i of Eq. 6, implicit steps) against the
    stationary chain, an independent solver (exponentially fitted Eq. 8 per site, Newton on the
    profile): after 10^3 relaxation times the heated region's relative change agrees with the
    stationary one to 1e-3 of its size at every site (the two sigma meshes alone differ by
    ~1e-6 in Gamma, which cancels in the ratio); before, the change has not spread: its fitted
    length grows with time and is below half the stationary one at t = 0.1/Gamma."""
    T = 0.3
    out = CHAIN.run({**PAPER, "T": T, "T_region": T * 1.005},
                    {"perturbation": "hot-region", "n_sites": 60, "fit_to": 6.0, "n_times": 5, "t_min": 0.1,
                     "t_max": 1e3})
    stationary = out["gamma_x"] / out["gamma"] - 1.0
    final = out["gamma_xt"][-1] / out["gamma_xt"][-1, -1] - 1.0 + stationary[-1]
    assert stationary[0] > 1e-3  # the region's change is there to compare
    np.testing.assert_allclose(final, stationary, rtol=1e-3, atol=1e-3 * stationary[0])
    assert out["xi_t"][-1] == pytest.approx(out["xi_fit"], rel=1e-3)
    assert out["xi_t"][0] < 0.5 * out["xi_fit"]
    assert np.all(np.diff(out["xi_t"][:3]) > 0)


def test_decoupled_sites_relax_each_to_its_own_temperature():
    """m = 0 (no spatial coupling): each site of the chain is the mean field at its own T, so
    heated sites relax from the stationary state at T to the stationary Gamma at T_region of the
    stationary solver (an independent scheme), the others stay at T; each site keeps int P = 1."""
    hot, cold = ({**PAPER, "T": T} for T in (0.4, 0.3))
    chain = Relaxation([rate_profile("exact", hot)] * 2 + [rate_profile("exact", cold)] * 3, 0.11, 1.0, 1.0, 1.0)
    density, gamma = chain.stationary(site=4)
    chain.p[:] = density
    after = chain.activities_at(200.0 / gamma)
    np.testing.assert_allclose(after[:2], solve_stationary(hot).gamma, rtol=2e-4)
    np.testing.assert_allclose(after[2:], solve_stationary(cold).gamma, rtol=2e-4)
    assert solve_stationary(hot).gamma > 1.2 * solve_stationary(cold).gamma  # the two differ
    np.testing.assert_allclose(2.0 * chain.p @ chain.volume, 1.0, atol=1e-10)


def test_a_region_heated_too_abruptly_is_refused_and_time_needs_a_heated_region():
    """Heating T = 0.1 to 0.12 at once makes the region's activity jump by ~50%, which Eq. (6)
    at spacing xi/6 cannot carry (D < 0 at its edge): refused, naming the remedy; so are time
    without a heated region, a chain too short for the fitted range (whose far edge reflects
    the change: 60 sites with fit_to = 8 gave xi 2.4% long) and a time-dependent grid too
    large for memory (before any work)."""
    with pytest.raises(InvalidInput, match="jump more than Eq. \\(6\\) can carry"):
        CHAIN.run({**PAPER, "T": 0.1, "T_region": 0.12},
                  {"perturbation": "hot-region", "n_sites": 40, "fit_to": 2.0, "n_times": 2})
    with pytest.raises(InvalidInput, match="n_times = 3 with perturbation = 'pinned'"):
        CHAIN.run({**PAPER, "T": 0.1}, {"n_times": 3})
    with pytest.raises(InvalidInput, match="n_sites = 40 spans 6.5 xi .* must end 2 xi before the far edge .* "
                                           "use n_sites >= 61 or fit_to <= 4.5"):
        CHAIN.run({**PAPER, "T": 0.1}, {"n_sites": 40})
    with pytest.raises(InvalidInput, match="n_sites = 1000 with geometry = 'square': at most 500 per side"):
        CHAIN.run({**PAPER, "T": 0.1}, {"geometry": "square", "n_sites": 1000})
    with pytest.raises(InvalidInput, match="14400 sites x .* stress nodes needs ~4.7 GB"):
        CHAIN.run({**PAPER, "T": 0.1, "T_region": 0.1002}, {"geometry": "square", "perturbation": "hot-region",
                                                            "n_times": 2})


def test_the_batched_tridiagonal_solver_agrees_with_lapack():
    """Each site's system (diagonally dominant, as a backward-Euler diffusion step) with two
    right-hand sides, against scipy's banded LU with pivoting, to round-off."""
    rng = np.random.default_rng(3)
    n, m = 4, 50
    lower, upper = -rng.uniform(0, 1, (n, m)), -rng.uniform(0, 1, (n, m))
    lower[:, 0] = upper[:, -1] = 0.0
    diag = 1e-3 - lower - upper
    rhs = rng.normal(size=(n, m, 2))
    x = solve_tridiagonal_rows(lower, diag, upper, rhs)
    for i in range(n):
        bands = np.array([np.r_[0.0, upper[i, :-1]], diag[i], np.r_[lower[i, 1:], 0.0]])
        np.testing.assert_allclose(x[i], solve_banded((1, 1), bands, rhs[i]), rtol=1e-9, atol=1e-12)


def _mirror_laplacian(n: int, spacing: float) -> np.ndarray:
    """Dense 5-point Laplacian on n x n sites with zero gradient at the boundary, built site by site."""
    lap = np.zeros((n * n, n * n))
    for i in range(n):
        for j in range(n):
            for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= a < n and 0 <= b < n:
                    lap[i * n + j, a * n + b] += 1.0
                    lap[i * n + j, i * n + j] -= 1.0
    return lap / spacing**2


def test_a_small_pin_on_the_square_grid_solves_the_linear_lattice_equation_and_decays_as_k0():
    """Eq. (8) at every site of a 40 x 40 grid, Gamma held 0.1% high at the corner: the change
    solves (lap - 1/xi^2) dGamma = 0 with item 1's xi (dense solve, Laplacian built here) within
    5e-4 of the pin (measured 6e-5: the O(pin) nonlinearity; with xi 1% off the two differ by
    2e-3, so this catches xi errors above ~0.25%); along the axis it decays as K_0(r/xi), the
    fitted length within 2% of xi (the grid's edge and the lattice), where the chain's
    exponential would be more than 10% off."""
    n, pin = 40, 1e-3
    out = CHAIN.run({**PAPER, "T": 0.3, "pin": pin}, {"geometry": "square", "n_sites": n, "fit_to": 4.5})
    matrix = _mirror_laplacian(n, out["x"][1]) - np.eye(n * n) / out["xi_linear"] ** 2
    linear = np.r_[pin, np.linalg.solve(matrix[1:, 1:], -matrix[1:, 0] * pin)]
    np.testing.assert_allclose(out["gamma_xy"].ravel() / out["gamma"] - 1.0, linear, rtol=0, atol=5e-4 * pin)
    assert out["xi_fit"] == pytest.approx(out["xi_linear"], rel=0.02)
    exponential = decay_length(out["x"], out["gamma_x"] / out["gamma"] - 1.0, out["xi_linear"], 5 * out["xi_linear"],
                               out["x"][1], dimensions=1)
    assert abs(exponential / out["xi_linear"] - 1.0) > 0.1


def test_a_heated_block_of_the_grid_relaxes_to_the_stationary_grid():
    """The time-dependent equation on an 8 x 8 grid, a 2 x 2 corner block heated by 0.2% at
    t = 0: after 10^3 relaxation times the change along the axis equals the stationary grid's
    (the independent Newton solution) within 1e-3 of its size at every site (7e-5 measured)."""
    T = 0.3
    out = CHAIN.run({**PAPER, "T": T, "T_region": T * 1.002},
                    {"geometry": "square", "perturbation": "hot-region", "region": 2, "n_sites": 8, "spacing": 0.25,
                     "n_times": 2, "t_min": 1.0, "t_max": 1e3})
    stationary = out["gamma_x"] / out["gamma"] - 1.0
    final = out["gamma_xt"][-1] / out["gamma_xt"][-1, -1] - 1.0 + stationary[-1]
    assert stationary[0] > 1e-4
    np.testing.assert_allclose(final, stationary, rtol=0, atol=1e-3 * stationary[0])
    assert math.isnan(out["xi_fit"])  # 8 sites at spacing 0.25 (xi/5.6) are too short for a fit: no length

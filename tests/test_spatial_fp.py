"""The spatially coupled Fokker-Planck chain (Eq. 8 at each site, coupled by Eq. 6) against
the linearised length xi of paper 000: a local perturbation decays over xi where it is
small, and the profile departs from the linear theory where it is not."""

import math

import numpy as np
import pytest
from conftest import PAPER

from epmsweep.model import InvalidInput, get_model

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
    out = CHAIN.run({**PAPER, "T": 0.1, "T_region": 0.12}, {"perturbation": "hot-region"})
    assert out["xi_fit"] == pytest.approx(out["xi_linear"], rel=1e-2)
    assert out["gamma_x"][0] > out["gamma_x"][20] > out["gamma"]
    with pytest.raises(InvalidInput, match="gradient expansion of Eq. \\(6\\) would need a negative D"):
        CHAIN.run({**PAPER, "T": 0.1, "T_region": 1.0}, {"perturbation": "hot-region", "n_sites": 40})

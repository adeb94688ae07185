"""A new activation rule for the lattice, added from this file alone (as CONTRIBUTING.md
describes), the rate bound of every rule checked against its rate, and, with the new rule's
independent events, the tracers' diffusion against the Eshelby displacement field."""

import math
from typing import NamedTuple

import numpy as np
import pytest
from numba import njit
from numba.extending import overload

from epmsweep.model import get_model
from epmsweep.model.lattice.activation import (
    RandomActivation,
    ThermalOneChannel,
    activation,
    is_rule,
    rate_bound,
)
from epmsweep.model.lattice.model import RULES, LatticeRule, register_rule


class ConstantRate(NamedTuple):
    """Toy rule: every inactive site activates at the same rate, with a random sign (so that
    events are independent of each other, unlike the random model's, whose sign is that of
    the stress)."""

    rate: float


@overload(activation)
def _constant_rate(rule, s):
    if is_rule(rule, ConstantRate):
        return lambda rule, s: (rule.rate, 0.5)
    return None


@overload(rate_bound)
def _constant_rate_bound(rule, s_abs):
    if is_rule(rule, ConstantRate):
        return lambda rule, s_abs: rule.rate
    return None


TOY = LatticeRule("toy-constant-rate", "every site activates at rate Gamma0",
                  frozenset({"L", "eps0", "mu", "tau_res", "tau", "Gamma0"}),
                  lambda params, settings: ConstantRate(float(params["Gamma0"])))


def test_a_rule_registered_from_a_test_file_runs_and_gives_the_two_state_activity():
    """A two-state chain with activation probability r dt and deactivation dt/tau_res per
    step (one transition per site and step) has the stationary active fraction
    r tau_res / (1 + r tau_res) exactly, whatever the stresses. L = 16 (256 sites), 400 tau
    measured: about 256 x 400 / 2 independent site states, so a relative standard error of
    about sqrt((1 - a) / (a 5e4)) = 2% at a = 0.048; the tolerance is 4 of those."""
    register_rule(TOY)
    assert "toy-constant-rate" in get_model("lattice").settings["rules"].choices
    r, tau_res = 0.05, 1.0
    out = get_model("lattice").run({"L": 16, "Gamma0": r, "tau_res": tau_res},
                                   {"rules": "toy-constant-rate", "burn_in": 50.0, "duration": 400.0, "n_tracers": 10,
                                    "n_probes": 16, "q_modes": 4, "lag_levels": 2}, seed=3)
    expected = r * tau_res / (1 + r * tau_res)
    assert out["activity"] == pytest.approx(expected, rel=4 * math.sqrt((1 - expected) / (expected * 256 * 200)))
    assert out["events"] > 1000


def eshelby_displacement_square_sum(L: int) -> float:
    """sum over the lattice of |u(r)|^2 averaged over each unit cell under bilinear
    interpolation (the tracers' rule), for a unit plastic strain eps_xy = eps_yx = 1 at
    the origin, derived here independently: for an incompressible medium with modulus mu,
    equilibrium -mu q^2 u_i - 2 i mu q_j eps_ij + i q_i p = 0 with q.u = 0 gives
    u(q) = -(2i/q^2) (1 - q q/q^2) (q_y, q_x), whose symmetric gradient puts the stress
    2 mu [eps_xy(u) - 1] = -2 mu 4 qx^2 qy^2/q^4 (the kernel of Eq. 1 of paper 002)."""
    q = 2 * np.pi * np.fft.fftfreq(L)
    qx, qy = np.meshgrid(q, q, indexing="ij")
    q2 = qx**2 + qy**2
    q2[0, 0] = 1.0
    total = 0.0
    for u_q in (-2j * qy * (qy**2 - qx**2) / q2**2, -2j * qx * (qx**2 - qy**2) / q2**2):
        u = np.fft.ifft2(u_q).real

        def shifted(dx, dy):
            return np.roll(np.roll(u, -dx, 0), -dy, 1)

        c00, c10, c01, c11 = u, shifted(1, 0), shifted(0, 1), shifted(1, 1)
        # the cell average of (sum_i w_i c_i)^2: the bilinear weights' moments 1/9, 1/18, 1/36
        total += (((c00**2 + c10**2 + c01**2 + c11**2) / 9 + (c00 * c10 + c01 * c11 + c00 * c01 + c10 * c11) / 9
                   + (c00 * c11 + c10 * c01) / 18).sum())
    return float(total)


@pytest.mark.parametrize(("convention", "u_per_strain"), [("tensor", 1.0), ("engineering", 2.0)])
def test_tracers_diffuse_as_independent_eshelby_events_displace_them(convention, u_per_strain):
    """Independent events (random sign, constant rate): a tracer's mean-square displacement
    grows by 4 D per unit time with D = (events per site and time) <|sum of its
    displacements over one event|^2> / 4. An event lasts n ~ Geometric(q) steps, q = dt/tau_res
    (<n^2> = (2 - q)/q^2), yielding eps_step = eps0 dt/(2 tau) per step; events per site and
    time = a q/dt. So D = f^2 a eps_step^2 (2 - q) S / (4 q dt), S the kernel's square sum
    above and f the displacement per unit strain of the convention. This pins the scale of
    the tracers' displacements (paper 002's S(q, t) and D(t) are at f = 2, docs/paper002.md).
    Eight seeds at this length gave a relative spread of 5.4% at 2,000 tau, so about 2.7% at
    8,000 tau; the tolerance, 12%, catches a factor 1.25 in D (1.12 in u)."""
    register_rule(TOY)
    L, dt = 16, 0.025
    settings = {"rules": "toy-constant-rate", "burn_in": 20.0, "duration": 8000.0, "dt": dt, "n_tracers": 100,
                "n_probes": 16, "q_modes": 4, "lag_levels": 3, "displacement_strain": convention}
    lattice = get_model("lattice")
    lags = lattice.outputs(lattice.resolve_settings(settings)).coords["lag"].values
    out = lattice.run({"L": L, "Gamma0": 0.05}, settings, seed=11)
    i, j = int(np.argmin(np.abs(lags - 10.0))), int(np.argmin(np.abs(lags - 90.0)))  # lags >> tau_res = 1
    measured = (out["msd"][j] - out["msd"][i]) / (4 * (lags[j] - lags[i]))
    q, eps_step = dt / 1.0, dt / 2.0
    expected = u_per_strain**2 * out["activity"] * eps_step**2 * (2 - q) * eshelby_displacement_square_sum(L) / (4 * q * dt)
    assert measured == pytest.approx(expected, rel=0.12)


def test_the_toy_rule_is_refused_as_an_axis_where_it_ignores_the_parameter():
    from epmsweep.model import InvalidInput
    from epmsweep.sweep.spec import build_spec

    register_rule(TOY)
    with pytest.raises(InvalidInput, match="axis T: rule 'toy-constant-rate' does not read it"):
        build_spec("lattice", {"T": "0.1,0.2"}, settings={"rules": "toy-constant-rate"})


@njit(cache=True)
def _bound_and_rates(rule, stresses):
    rates = np.empty(stresses.size)
    for k in range(stresses.size):
        rates[k] = activation(rule, stresses[k])[0]
    bounds = np.empty(stresses.size)
    for k in range(stresses.size):
        bounds[k] = rate_bound(rule, abs(stresses[k]))
    return rates, bounds


RULES_TO_CHECK = [ThermalOneChannel(0.1, 1.0, 1.0), ThermalOneChannel(0.05, 1.3, 2.0), RandomActivation(0.02),
                  ConstantRate(0.3)]


@pytest.mark.parametrize("rule", RULES_TO_CHECK)
def test_each_rules_bound_is_at_least_its_rate(rule):
    """Thinning is exact only if rate(s) <= rate_bound(|s|) for every s."""
    stresses = np.linspace(-3.0, 3.0, 6001)
    rates, bounds = _bound_and_rates(rule, stresses)
    assert np.all(rates <= bounds * (1 + 1e-12))


@pytest.mark.parametrize("rule", RULES_TO_CHECK)
def test_bounds_are_the_largest_rate_at_that_magnitude(rule):
    """The bound at |s| is reached at s or -s: no candidate is wasted."""
    for s_abs in (0.5, 1.0, 2.0):
        rates, bounds = _bound_and_rates(rule, np.array([s_abs, -s_abs]))
        assert rates.max() == pytest.approx(bounds[0], rel=1e-12)


def test_built_in_rules_are_registered():
    assert {"ferrero-thermal", "ferrero-random", "baron-biroli"} <= set(RULES)


@pytest.mark.parametrize("rules, axis", [("baron-biroli", "eps0"), ("baron-biroli", "mu"), ("baron-biroli", "tau_res"),
                                         ("ferrero-random", "T"), ("ferrero-random", "sigma_Y"),
                                         ("ferrero-thermal", "target_activity"), ("ferrero-thermal", "sigma_c")])
def test_axes_the_chosen_rule_ignores_are_refused_naming_the_parameter_and_the_rule(rules, axis):
    from epmsweep.model import InvalidInput
    from epmsweep.sweep.spec import build_spec

    with pytest.raises(InvalidInput, match=f"axis {axis}: rule '{rules}' does not read it"):
        build_spec("lattice", {axis: "0.1,0.2"}, settings={"rules": rules})


def test_time_step_checks_apply_only_to_the_time_stepped_rules():
    """The event-driven rule has no time step: a dt that the stepped rules refuse is irrelevant
    to it (before, it was refused for baron-biroli too)."""
    from epmsweep.model import InvalidInput

    lattice = get_model("lattice")
    settings = {"dt": 0.5, "burn_in": 1.0, "duration": 2.0, "n_windows": 4, "n_probes": 4, "lag_levels": 1,
                "sample_interval": 0.5,
                "u_interval": 0.5}
    out = lattice.run({"L": 8, "T": 0.3}, {**settings, "rules": "baron-biroli"}, seed=1)
    assert out["events"] > 0
    with pytest.raises(InvalidInput, match="dt = 0.5 is too large for rule 'ferrero-thermal'"):
        lattice.run({"L": 8, "T": 0.3}, {**settings, "rules": "ferrero-thermal"}, seed=1)

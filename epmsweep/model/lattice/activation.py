"""Activation rules of the time-stepped lattice (paper 002): when an inactive site starts a
plastic event, and with which sign.

A rule is a NamedTuple of its parameters plus two functions implemented for its type
with :func:`numba.extending.overload`, which the generic steppers
(:mod:`epmsweep.model.lattice.transitions`) call:

* ``activation(rule, s)`` -- (rate per unit time, probability that the event is
  positive) for a site at stress s;
* ``rate_bound(rule, s_abs)`` -- an upper bound of that rate over |sigma| <= s_abs,
  nondecreasing in s_abs. The steppers draw candidates with the bound and accept them
  with rate/bound (thinning), so a bound below the rate would bias the sampling: the
  tests check each rule's bound against its rate.

The built-in rules:

* :class:`ThermalOneChannel` -- paper 002, Eq. 2 as printed: Gamma0 min(exp((s^2 -
  sigma_Y^2)/2T), 1), with the sign of the nearer threshold, i.e. of s (footnote 24);
* :class:`RandomActivation` -- paper 002's random model: a constant rate, sign of s.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from numba import njit

import epmsweep.model.jit  # noqa: F401  (kernels' cache keys cover the package's source)
from numba.extending import overload


class ThermalOneChannel(NamedTuple):
    T: float
    sigma_y: float
    gamma0: float


class RandomActivation(NamedTuple):
    rate: float


def activation(rule, s):
    """(rate per unit time, probability of a positive event) at stress s."""
    raise NotImplementedError("implemented per rule type with numba.extending.overload")


def rate_bound(rule, s_abs):
    """Upper bound of the activation rate for |sigma| <= s_abs (nondecreasing in s_abs)."""
    raise NotImplementedError("implemented per rule type with numba.extending.overload")


def is_rule(rule, cls: type) -> bool:
    """In an overload: whether the numba type ``rule`` is the NamedTuple ``cls``."""
    return getattr(rule, "instance_class", None) is cls


@njit(cache=True, inline="always")
def sign_of_stress(s):
    """Probability of a positive event when the sign is that of the stress (0.5 at s = 0)."""
    return 1.0 if s > 0 else (0.0 if s < 0 else 0.5)


@overload(activation)
def _activation_one_channel(rule, s):
    if not is_rule(rule, ThermalOneChannel):
        return None

    def impl(rule, s):
        rate = rule.gamma0 * min(math.exp((s * s - rule.sigma_y * rule.sigma_y) / (2.0 * rule.T)), 1.0)
        return rate, sign_of_stress(s)

    return impl


@overload(rate_bound)
def _bound_one_channel(rule, s_abs):
    if is_rule(rule, ThermalOneChannel):
        return lambda rule, s_abs: rule.gamma0 * min(math.exp((s_abs * s_abs - rule.sigma_y * rule.sigma_y)
                                                              / (2.0 * rule.T)), 1.0)
    return None


@overload(activation)
def _activation_random(rule, s):
    if is_rule(rule, RandomActivation):
        return lambda rule, s: (rule.rate, sign_of_stress(s))
    return None


@overload(rate_bound)
def _bound_random(rule, s_abs):
    if is_rule(rule, RandomActivation):
        return lambda rule, s_abs: rule.rate
    return None

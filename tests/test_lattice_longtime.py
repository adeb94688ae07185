"""The lattice's long-time regime: the D_inf estimator on walkers of known diffusion, and
the setting that chooses which observables drive a run."""

import math

import numpy as np
import pytest

from epmsweep.model import get_model
from epmsweep.model.core import InvalidInput
from epmsweep.model.lattice.longtime import long_time_diffusion

LATTICE = get_model("lattice")


def _walkers(rng, n_snapshots, walkers, d, tau=0.0, amplitude=0.0):
    """Positions every unit time of walkers diffusing with coefficient d, plus (``tau`` > 0)
    an Ornstein-Uhlenbeck displacement of relaxation time tau and variance ``amplitude`` per
    axis: MSD(t) = 4 d t + 4 amplitude (1 - e^{-t/tau}), a transient on top of diffusion."""
    steps = rng.normal(0.0, math.sqrt(2 * d), (n_snapshots, walkers, 2))
    pos = np.concatenate([np.zeros((1, walkers, 2)), np.cumsum(steps, axis=0)])
    if tau > 0:
        a = math.exp(-1.0 / tau)
        ou = np.zeros_like(pos)
        ou[0] = rng.normal(0.0, math.sqrt(amplitude), (walkers, 2))
        kicks = rng.normal(0.0, math.sqrt(amplitude * (1 - a * a)), pos.shape)
        for t in range(1, pos.shape[0]):
            ou[t] = a * ou[t - 1] + kicks[t]
        pos += ou
    return pos


def test_d_inf_of_walkers_with_a_transient_is_unbiased_and_its_error_honest():
    """128 walkers (the tracers D_inf uses) with D = 0.01 and a transient relaxing over 5 time
    units (the local D 2.5 D at t = 5, 1.07 D at t = 15): over 40 runs of 4096 units the
    regime is reached (at least 38 times: measured 59 of 60), after the transient, D_inf is
    unbiased (mean within 3.5 standard errors of the truth, ~1.5%) and its errors honest
    (the scatter over the quoted error within 0.7-1.4: for 40 runs the ratio's own 3-sigma
    range is about 0.66-1.34; measured 1.01). A 5% bias, or errors half or twice the truth,
    fail."""
    rng = np.random.default_rng(11)
    values, errors, reached = [], [], 0
    for _ in range(40):
        d = long_time_diffusion(_walkers(rng, 4096, 128, 0.01, tau=5.0, amplitude=0.2), 1.0, 0.05)
        reached += d.reached
        assert math.isnan(d.onset) or d.onset >= 5.0
        values.append(d.value)
        errors.append(d.error)
    assert reached >= 38
    values, errors = np.array(values), np.array(errors)
    ratio = values.std(ddof=1) / math.sqrt((errors**2).mean())
    assert 0.7 <= ratio <= 1.4, ratio
    assert abs(values.mean() - 0.01) < 3.5 * values.std(ddof=1) / math.sqrt(values.size)


def test_subdiffusive_walkers_do_not_reach_the_long_time_regime():
    """A sum of relaxing modes with times from 1 to 10^5 (MSD ~ t^0.5 throughout the run):
    the local D keeps falling, so no decade passes and the point says so."""
    rng = np.random.default_rng(12)
    pos = np.zeros((4097, 64, 2))
    for tau in np.geomspace(1.0, 1e5, 11):
        pos += _walkers(rng, 4096, 64, 0.0, tau=tau, amplitude=math.sqrt(tau))
    assert not long_time_diffusion(pos, 1.0, 0.05).reached


def test_measure_until_names_what_drives_the_run():
    """An activity-only run stops at the activity's target error, where a run with every
    observable goes on for the tracers' long-time regime (here asked to 2%, within 5000
    tau); unknown names are refused, naming the setting and what it allows."""
    quick, precise = {"L": 16, "T": 0.2}, {"n_tracers": 16, "diffusion_rel_err": 0.02, "max_duration": 5000}
    activity_only = LATTICE.run(quick, {**precise, "measure_until": "activity"}, seed=1)
    full = LATTICE.run(quick, precise, seed=1)
    assert activity_only["rel_err"] <= 0.01 and activity_only["duration_used"] < full["duration_used"]
    with pytest.raises(InvalidInput, match="measure_until = 'diffusion,msd'.*'activity'"):
        LATTICE.check(LATTICE.resolve_params(quick), LATTICE.resolve_settings({"measure_until": "diffusion,msd"}))

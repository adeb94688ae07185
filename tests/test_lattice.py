"""Lattice model: exact limits, the random model, exactness of the fast paths, the thermal
rule's activity with frozen stresses, dt convergence, paper 000's rule, and a sweep
through the service."""

import math

import numpy as np
import pytest
import xarray as xr

from epmsweep.model import get_model
from epmsweep.model.lattice.activation import ThermalOneChannel
from epmsweep.model.lattice.stepped import TimeSteppedLattice, dynamics
from epmsweep.model.lattice.transitions import stress_at
from epmsweep.model.histogram import log_edges
from epmsweep.model.lattice.propagator import eshelby
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

LATTICE = get_model("lattice")
QUICK = {"burn_in": 10, "duration": 100, "n_tracers": 0, "n_probes": 64, "lag_levels": 3}


def batch_error(series: np.ndarray) -> float:
    return float(np.std(series, ddof=1) / np.sqrt(series.size))


def test_zero_temperature_without_sites_above_threshold_never_activates():
    out = LATTICE.run({"T": 1e-3, "L": 32}, {**QUICK, "initial_std": 0.1}, seed=1)
    assert out["events"] == 0 and out["activity"] == 0.0


@pytest.mark.parametrize(("gamma0", "tau_res"), [(1.0, 1.0), (2.0, 0.5)])
def test_capped_activation_is_a_two_state_markov_chain(gamma0, tau_res):
    """sigma_Y = 0 caps p_on at Gamma0 for every site: the active fraction is
    Gamma0 tau_res / (1 + Gamma0 tau_res), exactly for the per-step probabilities too."""
    out = LATTICE.run({"T": 0.1, "L": 32, "sigma_Y": 0.0, "Gamma0": gamma0, "tau_res": tau_res},
                      {**QUICK, "duration": 200, "n_windows": 40}, seed=2)
    expected = gamma0 * tau_res / (1 + gamma0 * tau_res)
    err = batch_error(out["activity_t"])
    assert err < 0.003
    assert abs(out["activity"] - expected) < 4 * err


def test_random_model_matches_its_activity_and_is_ballistic_then_diffusive():
    out = LATTICE.run({"T": 0.1, "L": 32, "activity": 0.02},
                      {**QUICK, "rules": "ferrero-random", "duration": 1600, "dt": 0.05, "n_tracers": 200,
                       "n_windows": 40}, seed=3)
    err = batch_error(out["activity_t"])
    assert abs(out["activity"] - 0.02) < 4 * err and err < 0.002
    lags, msd = LATTICE.outputs(LATTICE.resolve_settings(QUICK)).coords["lag"].values, out["msd"]

    def slope(lo, hi):
        i, j = np.argmin(np.abs(lags - lo)), np.argmin(np.abs(lags - hi))
        return math.log(msd[j] / msd[i]) / math.log(lags[j] / lags[i])

    assert slope(0.1, 0.3) == pytest.approx(2.0, abs=0.15)  # lag << tau_res: an event moves a tracer steadily
    assert slope(10.0, 80.0) == pytest.approx(1.0, abs=0.2)  # lag >> tau_res: independent events


def _lattice(seed, threshold=None, T=0.2):
    prop = eshelby(32)
    dyn = dynamics(prop, dt=0.05, tau_res=1.0, stop_at_zero=False, eps_step=0.025, mu=1.0)
    sim = TimeSteppedLattice(prop, ThermalOneChannel(T=T, sigma_y=1.0, gamma0=1.0), dyn, np.random.default_rng(seed), 50,
                             0.5, log_edges(0.05, 1e3, 10))
    if threshold is not None:
        sim.fft_threshold = threshold
    return sim


def test_real_space_updates_equal_the_fft_stepper():
    """The same seed, hence the same sequence of events: the incremental real-space kernel
    copies and the FFT-every-step path give the same stress field and tracer positions."""
    real, fourier = _lattice(4, threshold=10**9), _lattice(4)
    events = [(real.step(False), fourier.step(False, force_fft=True)) for _ in range(300)]
    assert all(a == b for a, b in events) and sum(a for a, _ in events) > 50
    np.testing.assert_array_equal(real.sites.active, fourier.sites.active)
    np.testing.assert_allclose(real.sigma, fourier.sigma, atol=1e-10)
    np.testing.assert_allclose(real.pos, fourier.pos, atol=1e-10)
    assert np.abs(real.pos - _lattice(4).pos).max() > 1e-3  # the tracers did move


def test_baron_biroli_rule_thinning_and_direct_agree_and_hot_limit():
    settings = {**QUICK, "rules": "baron-biroli", "duration": 50, "n_windows": 10}
    thin = [LATTICE.run({"T": 0.2, "L": 16}, {**settings, "event_method": "thinning"}, seed=s)["gamma"] for s in range(6)]
    direct = [LATTICE.run({"T": 0.2, "L": 16}, {**settings, "event_method": "direct"}, seed=10 + s)["gamma"] for s in range(6)]
    spread = math.hypot(np.std(thin, ddof=1) / math.sqrt(6), np.std(direct, ddof=1) / math.sqrt(6))
    assert abs(np.mean(thin) - np.mean(direct)) < 4 * spread
    hot = LATTICE.run({"T": 1e6, "L": 16}, {**settings, "duration": 200}, seed=1)
    assert hot["gamma"] == pytest.approx(1.0, abs=4 * batch_error(hot["gamma_t"]) + 1e-3)


def test_lattice_sweep_over_t_and_eps0_lands_in_a_labelled_store(tmp_path):
    spec = build_spec("lattice", {"T": "0.15,0.3", "eps0": "0.5,1"}, {"L": 16},
                      {**QUICK, "duration": 20, "n_tracers": 20, "q_modes": 4, "lag_levels": 2}, 1, 5, "lat")
    outcome = run_sweep(spec, tmp_path / "lat.zarr", ClusterOptions(kind="sync"), progress=False)
    assert outcome.done == 4
    ds = xr.open_zarr(tmp_path / "lat.zarr")
    for name in LATTICE.outputs(spec.settings).variables:
        assert ds[name].dims[:3] == ("T", "eps0", "replica"), name
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"], name
    assert ds.s_q.dims == ("T", "eps0", "replica", "lag", "k")
    assert float(ds.activity.sel(T=0.3, eps0=1.0, replica=0)) > float(ds.activity.sel(T=0.15, eps0=1.0, replica=0))


def _replicas(params, settings, seeds):
    runs = [LATTICE.run(params, settings, seed=s) for s in seeds]
    acts, msds = np.array([r["activity"] for r in runs]), np.array([r["msd"][18] for r in runs])  # MSD at lag 10
    return acts.mean(), acts.std(ddof=1) / np.sqrt(acts.size), msds.mean(), msds.std(ddof=1) / np.sqrt(msds.size)


def test_default_dt_is_converged():
    """Halving the default dt changes the activity and the MSD by less than their statistical
    error: the difference of the means of 8 replicas each (L = 32, T = 0.15) is within two
    standard errors of the difference (a one-sigma check would fail a converged dt one time in
    three)."""
    default_dt = LATTICE.settings["dt"].default
    settings = {"burn_in": 30, "duration": 200, "n_tracers": 100, "lag_levels": 3, "n_probes": 16}
    a1, ea1, m1, em1 = _replicas({"T": 0.15, "L": 32}, {**settings, "dt": default_dt}, range(300, 308))
    a2, ea2, m2, em2 = _replicas({"T": 0.15, "L": 32}, {**settings, "dt": default_dt / 2}, range(400, 408))
    assert abs(a1 - a2) < 2 * math.hypot(ea1, ea2)
    assert abs(m1 - m2) < 2 * math.hypot(em1, em2)
    assert ea1 < 0.01 * a1 and em1 < 0.1 * m1  # the comparison has teeth


@pytest.mark.parametrize("T", [0.1, 0.2])
def test_frozen_stresses_give_the_exact_two_state_activity_of_the_thermal_rule(T):
    """mu = 0: no event changes any stress, so each site is a two-state chain with per-step
    probabilities p_on = Gamma0 dt min(exp((s^2 - sigma_Y^2)/2T), 1) (Eq. 2) and p_off =
    dt/tau_res, and the activity is the average of p_on/(p_on + p_off) over the initial
    Gaussian stresses (std 0.3), computed here by quadrature. This checks the rate of Eq. 2,
    its temperature dependence and the thinning with the rule's bound. The tolerance is 4
    standard errors from the quenched stresses (4096 sites) and the 500 tau of time average."""
    dt, std, L = 0.025, 0.3, 64
    s = np.linspace(-8 * std, 8 * std, 40001)
    weight = np.exp(-0.5 * (s / std) ** 2)
    weight /= weight.sum()
    p_on = dt * np.minimum(np.exp((s**2 - 1.0) / (2 * T)), 1.0)
    a_site = p_on / (p_on + dt)
    expected = float(weight @ a_site)
    quenched_var = float(weight @ (a_site - expected) ** 2) / L**2
    time_var = expected * (1 - expected) * 2 * 1.0 / 500 / L**2  # correlation time ~ tau_res per site
    out = LATTICE.run({"T": T, "L": L, "mu": 0.0}, {**QUICK, "duration": 500, "initial_std": std, "dt": dt}, seed=7)
    assert out["activity"] == pytest.approx(expected, abs=4 * math.sqrt(quenched_var + time_var))
    assert 4 * math.sqrt(quenched_var + time_var) < 0.2 * expected  # the check has teeth


def test_lazy_stresses_are_exact_and_materialise_to_the_fft_field():
    """Lazy mode: pending strain, evaluated exactly at any site, and its materialisation equal
    the stress field updated by FFT with the same strain."""
    sim = _lattice(5)
    sim.advance(200, False)
    L = sim.prop.L
    rng = np.random.default_rng(0)
    sites = rng.choice(L * L, size=12, replace=False)
    eps = rng.normal(0, 0.05, size=12)
    base = sim.sigma.copy()
    pending = sim.pending
    for i, e in zip(sites, eps):
        pending.index[i] = pending.n[0]
        pending.site[pending.n[0]] = i
        pending.eps[pending.n[0]] = e
        pending.n[0] += 1
    field = np.zeros((L, L))
    field.ravel()[sites] = eps
    expected = base + sim.prop.stress_change(field, sim.dyn.two_mu)
    probes = np.arange(L * L)
    lazy = np.empty(L * L)
    stress_at(probes, sim.sigma, sim.prop.g_r, pending, sim.dyn.two_mu, lazy)
    np.testing.assert_allclose(lazy.reshape(L, L), expected, atol=1e-12)
    sim.materialize()
    np.testing.assert_allclose(sim.sigma, expected, atol=1e-12)


def test_lazy_and_dense_stepping_agree_in_distribution():
    """Different random streams, same process: activity of lazy and forced-dense stepping at
    T = 0.1, L = 32 (low activity, lazy mode active) agrees within 3 standard errors."""
    def activities(allow_lazy, seeds):
        out = []
        for s in seeds:
            sim = _lattice(s, T=0.1)
            sim.advance(200, False, allow_lazy)
            sim.stats[:] = 0
            sim.advance(2400, True, allow_lazy)
            out.append(sim.stats[1] / (sim.stats[0] * 32 * 32))
        return np.array(out)

    lazy, dense = activities(True, range(20, 25)), activities(False, range(30, 35))
    err = math.hypot(lazy.std(ddof=1), dense.std(ddof=1)) / math.sqrt(5)
    assert abs(lazy.mean() - dense.mean()) < 3 * err
    assert err < 0.1 * lazy.mean()

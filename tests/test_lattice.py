"""Lattice model: exact limits, the random model, exactness of the fast paths, the thermal
rule's activity with frozen stresses, dt convergence, paper 000's rule, and a sweep
through the service."""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
import xarray as xr

from epmsweep.model import get_model
from epmsweep.model.lattice.activation import ThermalOneChannel
from epmsweep.model.lattice.stepped import TimeSteppedLattice, initial_stresses
from epmsweep.model.lattice.tracers import RATES, update_tracers
from epmsweep.model.lattice.transitions import Dynamics
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
    out = LATTICE.run({"L": 32, "target_activity": 0.02},
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


def _lattice(seed, threshold=10**9, T=0.2, recompute_every=10**9, L=32):
    """A lattice at dt = 0.05 from a Gaussian start; ``threshold``: changes per step above which
    the rate field is recomputed by FFT (default: never, kernels only)."""
    prop = eshelby(L)
    dyn = Dynamics(dt=0.05, tau_res=1.0, stop_at_zero=False, place_after=0.1 * L * L, max_changes=threshold,
                   recompute_every=recompute_every)
    rng = np.random.default_rng(seed)
    return TimeSteppedLattice(prop, ThermalOneChannel(T=T, sigma_y=1.0, gamma0=1.0), dyn, rng,
                              initial_stresses(prop, "gaussian", 0.5, rng), log_edges(0.05, 1e3, 10), 2.0, 0.025)


def test_incremental_rate_field_equals_the_fft_recomputation():
    """After 300 steps in which the rate field was kept by one shifted real-space kernel per
    changed site (and the intercept by the same kernel times the step count), it equals the
    field recomputed by FFT from the active set and the signs, and the current stresses are
    unchanged by the recomputation (which rebases the intercept)."""
    sim = _lattice(4)
    sim.advance(300)
    assert sim.field.increments[0] > 100 and sim.n_active > 5
    incremental, sigma = sim.field.w.copy(), sim.sigma
    sim.recompute_rates()
    np.testing.assert_allclose(incremental, sim.field.w, atol=1e-12)
    np.testing.assert_allclose(sim.sigma, sigma, atol=1e-13)
    assert np.abs(incremental).max() > 1e-3


def test_stresses_are_the_start_plus_the_kernel_of_the_accumulated_plastic_strain():
    """Eq. (1) of paper 002 integrated: whatever the bookkeeping (base stress, rate field,
    steps since), the current stress equals the initial field plus 2 mu G * eps_pl, with
    eps_pl summed here step by step from the active sites and their signs, and applied by
    one FFT."""
    sim = _lattice(5, T=0.15, threshold=5, recompute_every=50)  # kernels, FFT steps and recomputations
    start = sim.sigma.copy()
    eps_pl = np.zeros((32, 32))
    for _ in range(400):
        act = sim.sites.act[:sim.n_active]
        eps_pl.ravel()[act] += 0.025 * sim.sites.sign.ravel()[act]
        sim.advance(1)
    assert sim.stats[2] > 20
    expected = start + sim.prop.stress_change(eps_pl, 2.0)
    np.testing.assert_allclose(sim.sigma, expected, atol=1e-10)
    probes = np.arange(0, 32 * 32, 7)
    exact = np.empty(probes.size)
    sim.stress_at(probes, exact)
    np.testing.assert_allclose(exact, expected.ravel()[probes], atol=1e-10)


def _bilinear(field, p):
    """Bilinear interpolation of the periodic (L, L) ``field`` at the points p (n, 2), sites at
    integer coordinates."""
    L = field.shape[0]
    f = np.floor(p)
    w = p - f
    x0, y0 = f[:, 0].astype(int) % L, f[:, 1].astype(int) % L
    x1, y1 = (x0 + 1) % L, (y0 + 1) % L
    return ((1 - w[:, 0]) * (1 - w[:, 1]) * field[x0, y0] + w[:, 0] * (1 - w[:, 1]) * field[x1, y0]
            + (1 - w[:, 0]) * w[:, 1] * field[x0, y1] + w[:, 0] * w[:, 1] * field[x1, y1])


@pytest.mark.parametrize("scheme", ["rates", "record"])
def test_tracers_follow_the_displacement_field_of_the_plastic_strain(scheme):
    """dr/dt = U(r, t), U the displacement field of the yielding sites' plastic strain
    (paper 002), integrated here independently: each step's strain from the active set, its
    displacement field by NumPy FFT (the package's kernel only), four RK4 substeps per step
    with NumPy's bilinear interpolation. The tracers' schemes (rates at reference positions,
    or the strain record, both with the midpoint rule where a tracer moves) agree with it
    within 0.5% of each tracer's displacement (measured 1.4e-3 at most, 1e-4 in the median,
    for both); a kernel off by one site or of the wrong sign misses by O(1)."""
    sim = _lattice(6, T=0.15, L=16)
    sim.advance(200)
    rng = np.random.default_rng(7)
    tracers = sim.tracers_at(rng.random((60, 2)) * 16)._replace(fft_cost=10**9 if scheme == "rates" else -1)
    start, ref = tracers.pos.copy(), tracers.pos.copy()

    def velocity(field_x, field_y, p):
        return np.stack([_bilinear(field_x, p), _bilinear(field_y, p)], axis=1)

    for _ in range(100):
        for _ in range(2):
            eps = np.zeros((16, 16))
            act = sim.sites.act[:sim.n_active]
            eps.ravel()[act] = 0.025 * sim.sites.sign.ravel()[act]  # this step's plastic strain
            ux, uy = sim.prop.displacement(eps)
            h = 0.25
            for _ in range(4):
                k1 = velocity(ux, uy, ref)
                k2 = velocity(ux, uy, ref + 0.5 * h * k1)
                k3 = velocity(ux, uy, ref + 0.5 * h * k2)
                k4 = velocity(ux, uy, ref + h * k3)
                ref += h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
            sim.advance(1, True, tracers)
        update_tracers(tracers, sim.sites.act, sim.sites.n_act[0], sim.sites.sign, sim.sites.since,
                       sim.sites.clock[0])
    assert (tracers.mode[0] == RATES) == (scheme == "rates") and sim.stats[2] > 10
    moved = np.linalg.norm(ref - start, axis=1)
    error = np.linalg.norm(tracers.pos - ref, axis=1)
    assert moved.min() > 1e-3
    assert (error <= 5e-3 * moved).all(), (error / moved).max()


def _numpy_activity(seed, T, L=32, dt=0.05, burn=500.0, duration=2000.0):
    """Paper 002's thermal rule written independently with NumPy: every step, the stress of
    the active sites' strain increments by FFT (the package's G(q) only), then Bernoulli
    trials for every site (p_on = dt min(exp((s^2 - 1)/2T), 1), p_off = dt, the sign of s) from
    a cold start."""
    prop, rng = eshelby(L), np.random.default_rng(seed)
    sigma, active, sign = np.zeros((L, L)), np.zeros((L, L), bool), np.zeros((L, L))
    total, steps = 0, 0
    for step in range(round((burn + duration) / dt)):
        sigma += scipy.fft.irfft2(2.0 * prop.g_q * scipy.fft.rfft2(np.where(active, sign * 0.5 * dt, 0.0)), s=(L, L))
        turn_on = ~active & (rng.random((L, L)) < dt * np.minimum(np.exp((sigma**2 - 1.0) / (2 * T)), 1.0))
        turn_off = active & (rng.random((L, L)) < dt)
        coin = np.where(rng.random((L, L)) < 0.5, 1.0, -1.0)  # the sign at sigma = 0 (a cold start)
        sign[turn_on] = np.where(sigma == 0.0, coin, np.sign(sigma))[turn_on]
        active ^= turn_on | turn_off
        if step * dt >= burn:
            total += active.sum()
            steps += 1
    return total / (steps * L * L)


@pytest.mark.parametrize("T, burn, duration", [(0.1, 500.0, 2000.0), (0.2, 100.0, 600.0)])
def test_activity_agrees_with_an_independent_numpy_implementation(T, burn, duration):
    """Activity at L = 32, dt = 0.05 from cold starts, burn-ins of ~7 and ~13 relaxation
    times: the model and the plain NumPy stepper above, 4 seeds each. At T = 0.1 the rate
    field is kept by real-space kernels, at T = 0.2 (~13 changes per step) mostly by FFT
    with one thinning bin. The difference of the means must be within 3.5 standard errors
    of the difference, ~1% of a: a bias of ~4% fails (e.g. a thinning bound below the rate)."""
    settings = {"dt": 0.05, "burn_in": burn, "duration": duration, "n_tracers": 0, "n_probes": 16, "lag_levels": 2}
    ours = np.array([LATTICE.run({"T": T, "L": 32}, settings, seed=s)["activity"] for s in range(4)])
    theirs = np.array([_numpy_activity(100 + s, T, burn=burn, duration=duration) for s in range(4)])
    err = math.hypot(ours.std(ddof=1), theirs.std(ddof=1)) / 2
    assert abs(ours.mean() - theirs.mean()) < 3.5 * err
    assert err < 0.015 * ours.mean()  # the check has teeth


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
    error: the difference of the means of 24 replicas each (L = 32, T = 0.15) is within three
    standard errors of the difference, which are ~0.8% of a and ~1.8% of the MSD, so a bias
    of ~2.5% in a or ~6% in the MSD fails."""
    default_dt = LATTICE.settings["dt"].default
    settings = {"burn_in": 30, "duration": 200, "n_tracers": 100, "lag_levels": 3, "n_probes": 16}
    a1, ea1, m1, em1 = _replicas({"T": 0.15, "L": 32}, {**settings, "dt": default_dt}, range(300, 324))
    a2, ea2, m2, em2 = _replicas({"T": 0.15, "L": 32}, {**settings, "dt": default_dt / 2}, range(400, 424))
    assert abs(a1 - a2) < 3 * math.hypot(ea1, ea2)
    assert abs(m1 - m2) < 3 * math.hypot(em1, em2)
    assert ea1 < 0.008 * a1 and em1 < 0.03 * m1  # the comparison has teeth


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
    out = LATTICE.run({"T": T, "L": L, "mu": 0.0}, {**QUICK, "duration": 500, "initial": "gaussian", "initial_std": 0.3, "dt": dt},
                      seed=7)
    assert out["activity"] == pytest.approx(expected, abs=4 * math.sqrt(quenched_var + time_var))
    assert 4 * math.sqrt(quenched_var + time_var) < 0.2 * expected  # the check has teeth


def test_random_model_sweep_takes_its_activities_from_a_thermal_store(tmp_path):
    """`--activity-from STORE`: the random model's `target_activity` axis is the replica-mean
    activity of every grid point of a thermal sweep (paper 002 compares them at matched a)."""
    spec = build_spec("lattice", {"T": "0.15,0.3"}, {"L": 16},
                      {**QUICK, "duration": 20, "n_tracers": 0, "q_modes": 4, "lag_levels": 2}, 2, 5, "thermal")
    run_sweep(spec, tmp_path / "thermal.zarr", ClusterOptions(kind="sync"), progress=False)
    thermal = xr.open_zarr(tmp_path / "thermal.zarr")
    expected = thermal.activity.where(thermal.status == 1).mean("replica").values
    args = ["run", "lattice", "--set", "rules=ferrero-random", "--activity-from", "thermal.zarr", "--set", "L=16",
            "--set", "burn_in=5", "--set", "duration=20", "--set", "n_tracers=0", "--set", "q_modes=4",
            "--cluster", "sync", "--out", "random.zarr", "--no-progress"]
    result = subprocess.run([sys.executable, "-m", "epmsweep", *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    random = xr.open_zarr(tmp_path / "random.zarr")
    np.testing.assert_array_equal(random.target_activity.values, expected)
    assert random.activity.dims == ("target_activity", "replica") and int((random.status == 1).sum()) == 2

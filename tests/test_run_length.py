"""Run lengths chosen by the run: the drivers on synthetic runs with known answers, and the
models' defaults (auto burn-in and duration) on the lattice at low temperature: stationary,
independent of the start, Arrhenius as in paper 002, linear in cost, flagged when capped."""

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from epmsweep.model import get_model
from epmsweep.analysis.selection import missing_note, select
from epmsweep.model.run_length import DRIFT_LIMIT, Chunk, RunLength, burn_in, drift, measure
from epmsweep.sweep import store

LATTICE = get_model("lattice")
AUTO = RunLength(None, None, relaxations=5.0, max_burn_in=1e4, max_duration=1e5, target_rel_err=0.01)


class Relaxing:
    """A synthetic run: per-site event rate nu(t) = nu_inf (1 - e^{-t/t_r}) and Poisson
    events of N sites, i.e. a cold start relaxing with time constant t_r; the observable is
    the event rate."""

    def __init__(self, t_r: float, nu_inf: float = 0.5, n_sites: int = 1000, seed: int = 0):
        self.t_r, self.nu_inf, self.n, self.t = t_r, nu_inf, n_sites, 0.0
        self.rng = np.random.default_rng(seed)

    def rate(self, t: float) -> float:
        return self.nu_inf * (1 - math.exp(-t / self.t_r)) if self.t_r > 0 else self.nu_inf

    def advance_to(self, t: float) -> Chunk:
        span, mid = t - self.t, 0.5 * (t + self.t)
        events = self.rng.poisson(self.n * self.rate(mid) * span)
        self.t = t
        return Chunk(span, events / self.n, events, self.n * span)


def test_drift_is_small_for_a_stationary_series_and_large_for_a_trend():
    """20 windows of Poisson counts: constant mean 500, or a ramp from 300 to 700 (the halves'
    means differ by 200; their errors, inflated by the ramp within each half, are ~20 each,
    so the expected drift is ~7)."""
    rng = np.random.default_rng(1)
    den = np.full(20, 1000.0)
    flat = rng.poisson(500.0, 20).astype(float)
    trend = rng.poisson(np.linspace(300.0, 700.0, 20)).astype(float)
    assert abs(drift(flat, den)) < DRIFT_LIMIT
    assert drift(trend, den) > DRIFT_LIMIT
    assert drift(np.zeros(20), den) == 0.0  # no events at all: no evidence of a trend


@pytest.mark.parametrize("t_r", [2.0, 20.0, 200.0])
def test_auto_burn_in_waits_for_the_relaxation_and_then_stops(t_r):
    """A cold start relaxing with time constant t_r: the burn-in lasts at least the time in
    which every site relaxed k = 5 times, and ends before the rate is 2% below its
    steady value (the drift test has ~1% resolution here), long before the cap."""
    run = Relaxing(t_r, seed=int(t_r))
    result = burn_in(run.advance_to, AUTO, chunk=1.0)
    assert result.passed
    assert result.length >= 5 / run.nu_inf
    assert run.rate(result.length) > 0.98 * run.nu_inf
    assert result.length < 20 * t_r + 200
    assert result.rate == pytest.approx(run.nu_inf, rel=0.05)


def test_a_burn_in_capped_far_too_short_fails_its_trend_test():
    run = Relaxing(500.0)
    result = burn_in(run.advance_to, RunLength(None, None, 5.0, 100.0, 1e5, 0.01), chunk=1.0)
    assert not result.passed and result.length == pytest.approx(100.0)


def test_fixed_lengths_are_run_exactly():
    run = Relaxing(0.0)
    fixed = RunLength(30.0, 40.0, 5.0, 1e4, 1e5, 0.01)
    assert burn_in(run.advance_to, fixed, chunk=1.0).length == pytest.approx(30.0)
    start = run.t
    meas = measure(lambda t: run.advance_to(start + t), fixed, 8, 0.5, 0.1)
    assert meas.duration == pytest.approx(40.0) and len(meas.windows) == 8
    assert all(w.time == pytest.approx(5.0) for w in meas.windows)


def test_auto_duration_doubles_until_the_target_error_and_the_error_is_honest():
    """Poisson events at rate 0.5 on 1000 sites: the batch-means error of the measured rate
    reaches 1% and agrees with the exact sqrt(nu / (N T)); the measured values of 40 runs
    scatter around the truth as their errors say (chi^2 per run within 1 +- 0.5)."""
    values, errors = [], []
    for seed in range(40):
        run = Relaxing(0.0, seed=seed)
        meas = measure(run.advance_to, AUTO, 20, 0.5, 0.1)
        assert meas.rel_err <= 0.01 and len(meas.windows) == 20
        exact = math.sqrt(0.5 / (1000 * meas.duration)) / 0.5
        assert meas.rel_err == pytest.approx(exact, rel=0.5)
        values.append(meas.value)
        errors.append(meas.rel_err * meas.value)
    chi2 = np.mean(((np.array(values) - 0.5) / np.array(errors)) ** 2)
    assert 0.5 < chi2 < 1.6


def test_auto_duration_stops_at_its_cap():
    run = Relaxing(0.0, n_sites=10)
    capped = RunLength(None, None, 5.0, 1e4, 100.0, 1e-4)
    meas = measure(run.advance_to, capped, 10, 0.5, 0.1)
    assert meas.duration <= 100.0 and meas.rel_err > 1e-4


# ---- the lattice with its defaults ----------------------------------------------------
LOW_T = {"L": 32}
NO_TRACERS = {"n_tracers": 0, "target_rel_err": 0.02, "measure_until": "activity"}


def test_the_lattice_activity_errors_match_the_scatter_of_replicas():
    """64 replicas of L = 16, T = 0.1 (1000 tau each, 6-tau blocks: the activity's
    collective correlation time is several blocks long): the scatter of the activities over
    their rms quoted error lies in 0.75-1.33, the ratio's 3-sigma range for honest errors
    (its standard deviation is 1/sqrt(2 x 63) = 0.09). Errors 1.44 times too small (batch
    means over windows of one relaxation time, as before) or 1.4 times too large fail."""
    values, errors = [], []
    for seed in range(1, 65):
        out = LATTICE.run({"L": 16, "T": 0.1}, {**NO_TRACERS, "n_probes": 1, "duration": 1000}, seed=seed)
        values.append(float(out["activity"]))
        errors.append(float(out["activity_err"]))
    ratio = np.std(values, ddof=1) / math.sqrt(np.mean(np.square(errors)))
    assert 0.75 <= ratio <= 1.33, ratio


def test_default_runs_give_paper_002s_arrhenius_energy():
    """Auto burn-in and duration from the default (cold) start at T = 0.1 and 0.07, L = 32:
    E = ln(a(0.1)/a(0.07)) / (1/0.07 - 1/0.1) is paper 002's 0.48 within 0.03 (each activity
    to 2%, so E to +-0.007). Short fixed runs as the default had before (50 tau burn-in) gave
    E ~ 0.41-0.43."""
    runs = {T: LATTICE.run({**LOW_T, "T": T}, NO_TRACERS, seed=3) for T in (0.1, 0.07)}
    for out in runs.values():
        assert out["stationary"] == 1 and out["rel_err"] <= 0.02
    E = math.log(runs[0.1]["activity"] / runs[0.07]["activity"]) / (1 / 0.07 - 1 / 0.1)
    assert E == pytest.approx(0.48, abs=0.03)


def test_cold_and_hot_starts_reach_the_same_steady_state():
    """L = 32, T = 0.08 (1/nu ~ 200 tau), auto burn-in and duration (2%): three replicas from
    the default cold start, three quenched from the steady state at T = 0.2 (hot: a 37 times higher),
    and three from the 'gaussian' start agree in the activity within 3.5 standard errors of
    the differences (batch means of each run, ~1.7% of a, ~1.4% for the difference of two
    means of three: a bias of ~5% fails) and in C_sigma at a lag of 10 tau."""
    settings = NO_TRACERS

    def runs(starts):
        out = [LATTICE.run({**LOW_T, "T": 0.08}, {**settings, **extra}, seed=s, start=start) for s, start, extra in starts]
        assert all(r["stationary"] == 1 for r in out)
        return (np.array([r["activity"] for r in out]), np.array([r["activity_err"] for r in out]),
                np.array([r["c_sigma"][18] for r in out]))  # lag 10 tau

    hot_states = [LATTICE.run({**LOW_T, "T": 0.2}, NO_TRACERS, seed=s, hand_over=True)[1] for s in (7, 8, 9)]
    cold = runs([(s, None, {}) for s in (1, 2, 3)])
    for other in (runs([(s, st, {}) for s, st in zip((4, 5, 6), hot_states)]),
                  runs([(s, None, {"initial": "gaussian"}) for s in (10, 11, 12)])):
        err_a = math.sqrt((cold[1] ** 2).sum() + (other[1] ** 2).sum()) / 3
        assert abs(cold[0].mean() - other[0].mean()) < 3.5 * err_a
        err_c = math.hypot(cold[2].std(ddof=1), other[2].std(ddof=1)) / math.sqrt(3)
        assert abs(cold[2].mean() - other[2].mean()) < 3.5 * err_c + 0.01


def test_the_default_start_leaves_no_frozen_stress():
    """C_sigma decays to 0: at T = 0.1 (1/nu ~ 70 tau) the correlation of all 1024 sites at
    lags of 300-900 tau over 6000 tau averages to 0 within 0.015 (seeds scatter by ~0.005). From the
    former default (white noise of std 0.3, frozen modes included) it stayed near 0.05 at
    L = 32."""
    out = LATTICE.run({**LOW_T, "T": 0.1}, {**NO_TRACERS, "lag_levels": 3, "sample_interval": 1.0, "u_interval": 1.0,
                                             "n_probes": 1024, "duration": 6000}, seed=2)
    assert abs(out["c_sigma"][20:].mean()) < 0.015
    assert out["c_sigma"][0] > 0.5  # it did start correlated


def test_burn_in_cost_is_linear_in_its_length():
    """4x the burn-in costs at most 5x the time (L = 32, T = 0.1, stationary after ~500 tau;
    best of three runs each). The former single lazy stretch cost ~16x."""
    settings = {**NO_TRACERS, "duration": 2.0, "n_windows": 4, "n_probes": 4, "lag_levels": 1}

    def wall(burn):
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            LATTICE.run({**LOW_T, "T": 0.1}, {**settings, "burn_in": burn}, seed=1)
            best = min(best, time.perf_counter() - start)
        return best

    wall(10.0)  # compiled
    assert wall(8000.0) <= 5 * wall(2000.0)


def test_a_lattice_run_capped_far_too_short_is_flagged_and_listed_by_status(tmp_path):
    """T = 0.07 from the cold start with max_burn_in = 20 tau (1/nu ~ 500 tau): the burn-in
    cannot pass its test, the point is stored with stationary = 0; and with max_duration = 40
    tau no point reaches its tracers' long-time regime (at L = 16 it takes ~10^3 tau at T =
    0.3): diffusion_inf_reached = 0. `epmsweep status` and `show` list both reasons, the
    report page lists them and its figures say so."""
    args = ["run", "lattice", "--T", "0.07,0.3", "--set", "L=16", "--set", "max_burn_in=20", "--set", "n_tracers=16",
            "--set", "max_duration=40", "--set", "q_modes=4", "--set", "lag_levels=3", "--cluster", "sync",
            "--out", "s.zarr"]
    run = subprocess.run([sys.executable, "-m", "epmsweep", *args], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    ds = xr.open_zarr(tmp_path / "s.zarr")
    assert int(ds.stationary.sel(T=0.07, replica=0)) == 0
    assert (ds.diffusion_inf_reached.values == 0).all() and (ds.duration_used.values <= 40 * (1 + 1e-9)).all()
    for command in ("status", "show"):
        out = subprocess.run([sys.executable, "-m", "epmsweep", command, "s.zarr"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert "not shown stationary" in out.stdout and "T=0.07" in out.stdout, out.stdout
        assert "diffusion_inf" in out.stdout and "not measured by" in out.stdout and "T=0.3" in out.stdout, out.stdout
    report = subprocess.run([sys.executable, "-m", "epmsweep", "report", "s.zarr", "-o", "rep"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Points to check" in page and "T=0.07" in page and "diffusion_inf, psi not measured by max_duration" in page
    sub, _ = select(ds, store.read_spec(tmp_path / "s.zarr"), ("T",), {})
    assert "not shown stationary: T = 0.07" in missing_note(sub)

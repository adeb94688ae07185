"""The CTRW of paper 002 (Fig. 3c, inset) on waiting-time densities with known answers."""

import math

import numpy as np
import pytest
import xarray as xr
from scipy.special import gamma as gamma_fn

from epmsweep.analysis.ctrw import ctrw_from_store, ctrw_prediction, laplace_of_histogram
from epmsweep.sweep import store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

EDGES = np.geomspace(1e-3, 1e5, 321)


def binned(pdf_cdf) -> np.ndarray:
    """Exact bin averages of a density from its CDF."""
    return np.diff(pdf_cdf(EDGES)) / np.diff(EDGES)


def test_exponential_waiting_times_give_plain_diffusion_without_a_dip():
    """psi = lam e^(-lam tau): psi~ = lam/(lam + s), so N~ = lam/s^2 exactly (a Poisson
    process, N(t) = lam t): local exponent -2 everywhere, no sub-diffusive regime."""
    lam = 0.3
    out = ctrw_prediction(EDGES, binned(lambda t: -np.expm1(-lam * t)))
    inside = (out.s > 1e-4) & (out.s < 1e1)
    np.testing.assert_allclose(out.n_laplace.where(inside, drop=True), lam / out.s.where(inside, drop=True) ** 2,
                               rtol=2e-2)
    assert float(abs(out.count_exponent.where(inside, drop=True) - 1.0).max()) < 0.02


def test_laplace_transform_of_the_histogram_is_exact_for_piecewise_constant_densities():
    edges = np.array([0.5, 1.0, 3.0])
    density = np.array([0.4, 0.4])  # uniform on [0.5, 3) with mass 1
    s = np.array([0.7])
    exact = 0.4 * (math.exp(-0.7 * 0.5) - math.exp(-0.7 * 3.0)) / 0.7
    assert laplace_of_histogram(edges, density, s)[0] == pytest.approx(exact, rel=1e-12)


def test_a_heavy_tailed_density_gives_the_sub_diffusive_exponent():
    """Pareto waiting times psi = mu tau0^mu tau^(-1-mu), tau > tau0, mu = 2/3 (paper 002's
    psi ~ tau^-2/3 ... its tail): psi~ = 1 - Gamma(1 - mu) (s tau0)^mu + ..., so N~ ~ s^-(1+mu)
    for s tau0 << 1 and N(t) ~ t^(2/3)."""
    mu, tau0 = 2.0 / 3.0, 1.0
    out = ctrw_prediction(EDGES, binned(lambda t: np.where(t > tau0, 1 - (tau0 / np.maximum(t, tau0)) ** mu, 0.0)))
    small = (out.s > 3e-4) & (out.s < 3e-3)  # s tau0 << 1, s tau_max >> 1 (the histogram ends at 1e5)
    assert float(abs(out.count_exponent.where(small, drop=True) - mu).max()) < 0.05
    leading = 1.0 / (gamma_fn(1 - mu) * tau0**mu * out.s.where(small, drop=True) ** (1 + mu))
    np.testing.assert_allclose(out.n_laplace.where(small, drop=True), leading, rtol=0.1)


def test_ctrw_of_a_random_model_store_is_diffusive_at_long_times(tmp_path):
    """The random model's sites wait exponentially (then stay active ~tau_res): from its
    store's psi the CTRW gives N(t) ~ t (exponent 1) for s far below the inverse mean
    waiting time (~1/20 here); the function reads the psi bins from the store's settings."""
    spec = build_spec("lattice", {"target_activity": "0.05"}, {"L": 16},
                      {"rules": "ferrero-random", "burn_in": 20, "duration": 2000, "n_tracers": 0, "q_modes": 4,
                       "psi_max": 1e4}, 1, 3, "random")
    run_sweep(spec, tmp_path / "r.zarr", ClusterOptions(kind="sync"), progress=False)
    out = ctrw_from_store(xr.open_zarr(tmp_path / "r.zarr"), store.read_spec(tmp_path / "r.zarr"))
    beta = out.count_exponent.squeeze()
    assert float(beta[(out.s > 1e-3) & (out.s < 3e-3)].mean()) == pytest.approx(1.0, abs=0.1)

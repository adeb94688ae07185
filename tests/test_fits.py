"""Fits recover known parameters from synthetic data within their stated (standard) errors:
|estimate - truth| <= 2 standard errors in at least 90% of seeded trials."""

import numpy as np
import xarray as xr

from epmsweep.analysis import fits

TRIALS = 40
REPLICAS = 12


def coverage(make_data, fit, truth: dict) -> dict:
    hits = {name: 0 for name in truth}
    for trial in range(TRIALS):
        result = fit(make_data(np.random.default_rng(trial)))
        for name, value in truth.items():
            hits[name] += abs(float(result[name]) - value) <= 2 * float(result[f"{name}_err"])
    return {name: h / TRIALS for name, h in hits.items()}


def with_replicas(values: np.ndarray, coords: dict, dims: list[str], rng, noise: float) -> xr.DataArray:
    """Multiplicative log-normal noise, independent per replica."""
    noisy = values[..., None] * np.exp(noise * rng.standard_normal(values.shape + (REPLICAS,)))
    return xr.DataArray(noisy, coords={**coords, "replica": np.arange(REPLICAS)}, dims=[*dims, "replica"])


def test_arrhenius_recovers_e_and_a():
    T = np.linspace(0.05, 0.2, 8)
    truth = {"E": 0.48, "A": 3.1}

    def data(rng):
        return with_replicas(3.1 * np.exp(-0.48 / T), {"T": T}, ["T"], rng, 0.1)

    rates = coverage(data, lambda d: fits.arrhenius(d, k=0), truth)
    assert min(rates.values()) >= 0.9, rates


def test_arrhenius_with_free_prefactor_exponent():
    T = np.geomspace(0.01, 0.1, 10)

    def data(rng):
        return with_replicas(50 * T**2 * np.exp(-0.125 / T), {"T": T}, ["T"], rng, 0.05)

    rates = coverage(data, lambda d: fits.arrhenius(d, k=None), {"E": 0.125, "k": 2.0})
    assert min(rates.values()) >= 0.9, rates


def test_power_law_recovers_tc_and_exponent():
    T = np.linspace(0.08, 0.3, 10)

    def data(rng):
        return with_replicas(5.0 * (T - 0.066) ** 3, {"T": T}, ["T"], rng, 0.05)

    rates = coverage(data, lambda d: fits.power_law(d, n_boot=100), {"T_c": 0.066, "exponent": 3.0})
    assert min(rates.values()) >= 0.9, rates


def test_compressed_exponential_recovers_its_exponent_and_n():
    lag = np.geomspace(0.1, 30, 12)
    q = 2 * np.pi * np.arange(1, 9) / 64

    def data(rng):
        s = np.exp(-0.07 * (q[None, :] ** 1.125 * lag[:, None]) ** 1.8)
        noisy = s[..., None] + 0.005 * rng.standard_normal(s.shape + (REPLICAS,))
        return xr.DataArray(noisy, coords={"lag": lag, "k": np.arange(1, 9), "replica": np.arange(REPLICAS)},
                            dims=["lag", "k", "replica"])

    rates = coverage(data, lambda d: fits.stretched_exponential(d, q), {"stretch": 1.8, "n": 1.125})
    assert min(rates.values()) >= 0.9, rates


def test_high_t_law_recovers_t_onset():
    T = np.linspace(2, 20, 10)

    def data(rng):
        return with_replicas(1 - 0.284 / T, {"T": T}, ["T"], rng, 0.002)

    rates = coverage(data, fits.high_t, {"T_onset": 0.284})
    assert min(rates.values()) >= 0.9, rates


def test_power_law_tail_recovers_its_exponent():
    u = np.geomspace(0.1, 10, 20)

    def data(rng):
        return with_replicas(2.0 * u**-3.0, {"u": u}, ["u"], rng, 0.05)

    rates = coverage(data, lambda d: fits.power_law_tail(d, "u", 0.5, 10), {"beta": 3.0})
    assert min(rates.values()) >= 0.9, rates


def test_fits_loop_over_other_dimensions_and_skip_missing_points():
    T = np.linspace(0.05, 0.2, 6)
    alpha = np.array([0.08, 0.11])
    values = np.stack([3.1 * np.exp(-0.48 / T), 2.0 * np.exp(-0.3 / T)], axis=1)
    da = with_replicas(values, {"T": T, "alpha": alpha}, ["T", "alpha"], np.random.default_rng(0), 0.02)
    da[0, 0, :] = np.nan  # a point that is not done
    fit = fits.arrhenius(da)
    assert fit.E.dims == ("alpha",)
    np.testing.assert_allclose(fit.E.values, [0.48, 0.3], rtol=0.05)
    assert fit.fit.sizes == {"T": 6, "alpha": 2}


def test_with_fewer_than_five_replicas_the_errors_come_from_the_fit_and_cover_the_truth():
    """Before: a bootstrap over 2 replicas (3 distinct resamples) gave errors many times too
    small (here: 2-sigma coverage of E well below 90%)."""
    T = np.linspace(0.05, 0.2, 8)
    hits, trials = 0, 60
    for trial in range(trials):
        rng = np.random.default_rng(1000 + trial)
        noisy = 3.1 * np.exp(-0.48 / T)[:, None] * np.exp(0.1 * rng.standard_normal((T.size, 2)))
        result = fits.arrhenius(xr.DataArray(noisy, coords={"T": T, "replica": [0, 1]}, dims=["T", "replica"]), k=0)
        hits += abs(float(result.E) - 0.48) <= 2 * float(result.E_err)
    assert "least-squares covariance" in result.attrs["errors"] and "2 replicas" in result.attrs["errors"]
    assert hits / trials >= 0.85, hits / trials  # t with 6 dof: 2 sigma covers ~91%


def test_chi2_per_dof_is_near_one_for_the_true_law_and_large_for_a_wrong_one():
    """chi2/dof of the replica mean against the law, with each point's error across 12
    replicas: ~1 (times (n - 1)/(n - 3) = 1.22 for errors estimated from 12 replicas) when
    the data follow the law; >> 1 for an Arrhenius law fitted to a power law."""
    T = np.linspace(0.08, 0.3, 10)
    right, wrong = [], []
    for trial in range(30):
        rng = np.random.default_rng(trial)
        right.append(fits.arrhenius(with_replicas(3.1 * np.exp(-0.48 / T), {"T": T}, ["T"], rng, 0.05), k=0)
                     .attrs["chi2_dof"])
        wrong.append(fits.arrhenius(with_replicas(5.0 * (T - 0.066) ** 3, {"T": T}, ["T"], rng, 0.05), k=0)
                     .attrs["chi2_dof"])
    assert 0.9 < np.mean(right) < 1.6, np.mean(right)
    assert min(wrong) > 10, min(wrong)
    fit = fits.arrhenius(with_replicas(3.1 * np.exp(-0.48 / T), {"T": T}, ["T"], np.random.default_rng(0), 0.05))
    assert fit.attrs["window"] == [0.08, 0.3] and fit.attrs["n_points"] == 10 and "bootstrap" in fit.attrs["errors"]

"""Fits of sweep results: xarray in, xarray out.

Every fit takes a DataArray with the fitted coordinate as a dimension (``T``, or ``lag``
and ``k`` for S(q, t)) and optionally ``replica``; it returns a Dataset with one
variable per parameter, its standard error ``<name>_err``, and the fitted curve
``fit`` on the data's coordinates. Any other dimensions are looped over (one fit per
combination), so a fit works on whatever subset a user selects with ``.sel``.

Uncertainties: with more than one replica, the parameters are refitted on bootstrap
resamples of the replicas (``n_boot``, seeded) and the standard error is the spread of
those refits; with one replica, it is the least-squares covariance, scaled by the
residuals. Points that are NaN (not done, or failed) are left out.

* :func:`arrhenius` -- Gamma = A T^k exp(-E/T), k fixed (0, 1, 2, ...) or free;
* :func:`power_law` -- MCT-like Gamma = C (T - T_c)^gamma, T_c free (paper 000, Eq. 14);
* :func:`high_t` -- Gamma = 1 - T_onset/T (paper 000, Eq. 9);
* :func:`stretched_exponential` -- S(q, t) = exp(-scale (q^n t)^stretch): the collapse
  variable q^n t and the shape gamma of paper 002's Fig. 2, from the linear relation
  log(-log S) = log scale + stretch n log q + stretch log t;
* :func:`power_law_tail` -- density ~ x^-beta over a range (P(u) ~ u^-3, psi ~ tau^-2/3).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy.optimize import OptimizeWarning, curve_fit


def _linear_fit(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares y ~ design @ beta; returns (beta, covariance scaled by the residuals)."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(y.size - beta.size, 1)
    resid = y - design @ beta
    cov = np.linalg.pinv(design.T @ design) * (resid @ resid) / dof
    return beta, cov


def _fit_with_errors(x: np.ndarray, y: np.ndarray, estimate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     covariance: Callable[[np.ndarray, np.ndarray], np.ndarray], n_boot: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Parameters from the replica mean of y (shape (n_x, n_rep)) and their standard errors:
    bootstrap over replicas when there are several, else the fit covariance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        mean = np.nanmean(y, axis=1)
    params = estimate(x, mean)
    n_rep = y.shape[1]
    if n_rep > 1:
        rng = np.random.default_rng(seed)
        boot = []
        for _ in range(n_boot):
            pick = rng.integers(0, n_rep, n_rep)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
                sample = np.nanmean(y[:, pick], axis=1)
            try:
                boot.append(estimate(x, sample))
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                continue
        # the bootstrap variance of a mean of n replicas is (n - 1)/n of the unbiased one
        errors = np.nanstd(np.array(boot), axis=0, ddof=1) * np.sqrt(n_rep / (n_rep - 1))
    else:
        errors = np.sqrt(np.diag(covariance(x, mean)))
    return params, errors


def _per_group(data: xr.DataArray, core: list[str], fit_one: Callable[[xr.DataArray], xr.Dataset]) -> xr.Dataset:
    """Apply ``fit_one`` to every combination of the dims other than ``core`` and ``replica``."""
    other = [d for d in data.dims if d not in core and d != "replica"]
    if not other:
        return fit_one(data)
    stacked = data.stack(_group=other)
    results = [fit_one(stacked.isel(_group=i)) for i in range(stacked.sizes["_group"])]
    combined = xr.concat([r.drop_vars(other, errors="ignore") for r in results], dim="_group", coords="minimal",
                         compat="override")
    index = xr.Coordinates.from_pandas_multiindex(stacked.indexes["_group"], "_group")
    return combined.assign_coords(index).unstack("_group")


def _as_matrix(da: xr.DataArray, dim: str) -> tuple[np.ndarray, np.ndarray]:
    """(coordinate values, values as (n_dim, n_replica)) with NaN rows dropped."""
    if "replica" not in da.dims:
        da = da.expand_dims("replica", axis=-1)
    da = da.transpose(dim, "replica")
    x, y = da[dim].values.astype(float), da.values.astype(float)
    keep = ~np.all(np.isnan(y), axis=1)
    return x[keep], y[keep]


def _result(names: list[str], params: np.ndarray, errors: np.ndarray, curve: xr.DataArray, attrs: dict) -> xr.Dataset:
    data = {name: ((), float(p)) for name, p in zip(names, params)}
    data.update({f"{name}_err": ((), float(e)) for name, e in zip(names, errors)})
    ds = xr.Dataset(data, attrs=attrs)
    ds["fit"] = curve
    return ds


# ---- temperature laws -----------------------------------------------------------
def arrhenius(gamma: xr.DataArray, k: float | None = 0.0, dim: str = "T", n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """Gamma = A T^k exp(-E/T): fitted as log Gamma = log A + k log T - E/T (k fixed, or free
    when ``k`` is None). Returns E, A (and k) with standard errors, and the curve."""

    def fit_one(da: xr.DataArray) -> xr.Dataset:
        x, y = _as_matrix(da, dim)
        logy = np.log(np.where(y > 0, y, np.nan))

        def design(t):
            cols = [np.ones_like(t), -1.0 / t] + ([np.log(t)] if k is None else [])
            return np.column_stack(cols)

        def estimate(t, ly):
            ok = np.isfinite(ly)
            target = ly[ok] - (0.0 if k is None else k * np.log(t[ok]))
            beta, _ = _linear_fit(design(t[ok]), target)
            out = [np.exp(beta[0]), beta[1]] + ([beta[2]] if k is None else [])
            return np.array(out)

        def covariance(t, ly):
            ok = np.isfinite(ly)
            target = ly[ok] - (0.0 if k is None else k * np.log(t[ok]))
            beta, cov = _linear_fit(design(t[ok]), target)
            # A = exp(beta0): delta method
            jac = np.eye(beta.size)
            jac[0, 0] = np.exp(beta[0])
            return jac @ cov @ jac.T

        params, errors = _fit_with_errors(x, logy, estimate, covariance, n_boot, seed)
        k_used = params[2] if k is None else k
        t = da[dim]
        curve = params[0] * t**k_used * np.exp(-params[1] / t)
        names = ["A", "E"] + (["k"] if k is None else [])
        return _result(names, params, errors, curve, {"law": "Gamma = A T^k exp(-E/T)", "k_fixed": "free" if k is None else k})

    return _per_group(gamma, [dim], fit_one)


def power_law(gamma: xr.DataArray, dim: str = "T", n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """MCT-like Gamma = C (T - T_c)^gamma with T_c free (below the smallest fitted T)."""

    def model(t, log_c, t_c, expo):
        return log_c + expo * np.log(np.clip(t - t_c, 1e-300, None))

    def fit_one(da: xr.DataArray) -> xr.Dataset:
        x, y = _as_matrix(da, dim)
        logy = np.log(np.where(y > 0, y, np.nan))

        def solve(t, ly):
            ok = np.isfinite(ly)
            t, ly = t[ok], ly[ok]
            lo = t.min()
            p0 = [ly.max(), lo - 0.5 * (t.max() - lo) / max(t.size, 2), 3.0]
            return curve_fit(model, t, ly, p0=p0, bounds=([-np.inf, -np.inf, 0.0], [np.inf, lo * (1 - 1e-9), 50.0]),
                             maxfev=20000)

        def estimate(t, ly):
            with warnings.catch_warnings():  # curve_fit's covariance, unused here, may be inestimable
                warnings.simplefilter("ignore", OptimizeWarning)
                return solve(t, ly)[0]

        params, errors = _fit_with_errors(x, logy, estimate, lambda t, ly: solve(t, ly)[1], n_boot, seed)
        t = da[dim]
        curve = np.exp(params[0]) * np.clip(t - params[1], 0, None) ** params[2]
        return _result(["log_C", "T_c", "exponent"], params, errors, curve, {"law": "Gamma = C (T - T_c)^exponent"})

    return _per_group(gamma, [dim], fit_one)


def high_t(gamma: xr.DataArray, dim: str = "T", n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """High-T law Gamma = 1 - T_onset/T (paper 000, Eq. 9): T_onset = mean of T (1 - Gamma)
    in the least-squares sense."""

    def fit_one(da: xr.DataArray) -> xr.Dataset:
        x, y = _as_matrix(da, dim)

        def estimate(t, g):
            ok = np.isfinite(g)
            beta, _ = _linear_fit((-1.0 / t[ok])[:, None], g[ok] - 1.0)
            return beta

        def covariance(t, g):
            ok = np.isfinite(g)
            return _linear_fit((-1.0 / t[ok])[:, None], g[ok] - 1.0)[1]

        params, errors = _fit_with_errors(x, y, estimate, covariance, n_boot, seed)
        curve = 1.0 - params[0] / da[dim]
        return _result(["T_onset"], params, errors, curve, {"law": "Gamma = 1 - T_onset/T"})

    return _per_group(gamma, [dim], fit_one)


# ---- S(q, t) collapse ---------------------------------------------------------------
def stretched_exponential(s_q: xr.DataArray, q: xr.DataArray | np.ndarray, t_dim: str = "lag", q_dim: str = "k",
                          s_range: tuple[float, float] = (0.1, 0.9), n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """S(q, t) = exp(-scale (q^n t)^stretch) over the points with S in ``s_range``.

    log(-log S) = log scale + stretch n log q + stretch log t is linear: one least-squares
    fit gives the exponent ``stretch`` (compressed > 1, stretched < 1), n (the collapse
    exponent of q^n t) and ``scale``. (Named so, not gamma and alpha, to keep apart from
    the activity Gamma and the coupling alpha of a store.) ``q`` holds the wave numbers
    along ``q_dim``.
    """
    q_values = np.asarray(q.values if isinstance(q, xr.DataArray) else q, dtype=float)

    def fit_one(da: xr.DataArray) -> xr.Dataset:
        if "replica" not in da.dims:
            da = da.expand_dims("replica", axis=-1)
        da = da.transpose(t_dim, q_dim, "replica")
        t = da[t_dim].values.astype(float)
        tt, qq = np.meshgrid(t, q_values, indexing="ij")
        x = np.column_stack([np.log(qq.ravel()), np.log(tt.ravel())])
        y = da.values.reshape(-1, da.sizes["replica"]).astype(float)

        def transform(s):
            with np.errstate(invalid="ignore", divide="ignore"):
                ok = (s > s_range[0]) & (s < s_range[1])
                return np.where(ok, np.log(-np.log(np.where(ok, s, 0.5))), np.nan)

        def solve(xx, s):
            z = transform(s)
            ok = np.isfinite(z)
            if ok.sum() < 4 or np.unique(xx[ok, 1]).size < 2 or np.unique(xx[ok, 0]).size < 2:
                raise ValueError(f"too few points with {s_range[0]} < S < {s_range[1]} at two or more q and t")
            design = np.column_stack([np.ones(ok.sum()), xx[ok]])
            beta, cov = _linear_fit(design, z[ok])
            g = beta[2]
            params = np.array([g, beta[1] / g, np.exp(beta[0])])
            jac = np.array([[0, 0, 1], [0, 1 / g, -beta[1] / g**2], [np.exp(beta[0]), 0, 0]])
            return params, jac @ cov @ jac.T

        params, errors = _fit_with_errors(x, y, lambda xx, s: solve(xx, s)[0], lambda xx, s: solve(xx, s)[1], n_boot, seed)
        stretch, n, scale = params
        curve = np.exp(-scale * (xr.DataArray(q_values, dims=[q_dim]) ** n * da[t_dim]) ** stretch)
        return _result(["stretch", "n", "scale"], params, errors, curve.transpose(t_dim, q_dim),
                       {"law": "S(q, t) = exp(-scale (q^n t)^stretch)"})

    return _per_group(s_q, [t_dim, q_dim], fit_one)


def power_law_tail(density: xr.DataArray, dim: str, lo: float, hi: float, n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """density ~ C x^-beta for lo <= x <= hi: a straight line in log-log."""

    def fit_one(da: xr.DataArray) -> xr.Dataset:
        sub = da.sel({dim: slice(lo, hi)})
        x, y = _as_matrix(sub, dim)
        logy = np.log(np.where(y > 0, y, np.nan))

        def solve(xx, ly):
            ok = np.isfinite(ly)
            beta, cov = _linear_fit(np.column_stack([np.ones(ok.sum()), np.log(xx[ok])]), ly[ok])
            return np.array([-beta[1], np.exp(beta[0])]), np.array([[cov[1, 1], 0], [0, cov[0, 0] * np.exp(2 * beta[0])]])

        params, errors = _fit_with_errors(x, logy, lambda xx, ly: solve(xx, ly)[0], lambda xx, ly: solve(xx, ly)[1],
                                          n_boot, seed)
        curve = params[1] * da[dim] ** (-params[0])
        return _result(["beta", "C"], params, errors, curve, {"law": f"density ~ C {dim}^-beta", "range": [lo, hi]})

    return _per_group(density, [dim], fit_one)

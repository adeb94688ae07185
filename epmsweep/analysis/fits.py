"""Fits of sweep results: xarray in, xarray out.

Every fit takes a DataArray with the fitted coordinate as a dimension (``T``, or ``lag``
and ``k`` for S(q, t)) and optionally ``replica``; it returns a Dataset with one
variable per parameter, its standard error ``<name>_err``, and the fitted curve
``fit`` on the data's coordinates. Any other dimensions are looped over (one fit per
combination), so a fit works on whatever subset a user selects with ``.sel``.

Uncertainties: with at least MIN_BOOTSTRAP_REPLICAS replicas, the parameters are
refitted on bootstrap resamples of the replicas (``n_boot``, seeded) and the standard
error is the spread of those refits; with fewer (two replicas have three distinct
resamples: a spread of a few numbers, not an error), it is the least-squares covariance
of the fit to the replica mean, scaled by the residuals. The result's attributes say
which (``errors``), over which window of the fitted coordinate the law was fitted
(``window``, ``n_points``), and how well it describes the data: ``chi2_dof``, the
chi-squared per degree of freedom of the replica mean against the law, in the fitted
space (log Gamma for the temperature laws), with each point's standard error across its
replicas (NaN with one replica: no error to compare with; ~1 when the law holds, >> 1
when it does not). Points that are NaN (not done, or failed) are left out.

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

#: Fewest replicas for bootstrap errors; below, the fit's own covariance (see the module docstring).
MIN_BOOTSTRAP_REPLICAS = 5


def _linear_fit(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares y ~ design @ beta; returns (beta, covariance scaled by the residuals)."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(y.size - beta.size, 1)
    resid = y - design @ beta
    cov = np.linalg.pinv(design.T @ design) * (resid @ resid) / dof
    return beta, cov


def _nanmean(y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        return np.nanmean(y, axis=1)


def _fit_with_errors(x: np.ndarray, y: np.ndarray, estimate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     covariance: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     predict: Callable[[np.ndarray, np.ndarray], np.ndarray], n_boot: int, seed: int,
                     transform: Callable[[np.ndarray], np.ndarray] = lambda v: v) -> tuple[np.ndarray, np.ndarray, dict]:
    """Parameters from the replica mean of y (shape (n_x, n_rep)), their standard errors and
    what was done (the result's attributes, see the module docstring). ``predict(x, params)``
    is the law in the fitted space, ``transform`` takes y there (log(-log S) for S(q, t))."""
    mean = _nanmean(y)
    params = estimate(x, mean)
    n_rep = y.shape[1]
    if n_rep >= MIN_BOOTSTRAP_REPLICAS:
        rng = np.random.default_rng(seed)
        boot = []
        for _ in range(n_boot):
            try:
                boot.append(estimate(x, _nanmean(y[:, rng.integers(0, n_rep, n_rep)])))
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                continue
        # the bootstrap variance of a mean of n replicas is (n - 1)/n of the unbiased one
        errors = np.nanstd(np.array(boot), axis=0, ddof=1) * np.sqrt(n_rep / (n_rep - 1))
        how = f"bootstrap over the {n_rep} replicas ({len(boot)} resamples)"
    else:
        errors = np.sqrt(np.diag(covariance(x, mean)))
        how = (f"least-squares covariance of the fit to the replica mean, scaled by its residuals ({n_rep} "
               f"replica{'s' if n_rep > 1 else ''}: fewer than {MIN_BOOTSTRAP_REPLICAS} for a bootstrap)")
    fitted = transform(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # points with one replica: no spread (NaN)
        spread = np.nanstd(fitted, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(fitted), axis=1))
    residual = transform(mean[:, None])[:, 0] - predict(x, params)
    used = np.isfinite(residual)
    dof = int(used.sum()) - params.size
    chi2_dof = (float(np.sum((residual[used] / spread[used]) ** 2) / dof)
                if dof > 0 and np.all(spread[used] > 0) else float("nan"))
    return params, errors, {"errors": how, "chi2_dof": chi2_dof, "n_points": int(used.sum())}


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


def _units(da: xr.DataArray) -> str:
    """The unit of a quantity for a fit's parameters: its reduced unit, else its CF unit."""
    units = da.attrs.get("reduced_units") or da.attrs.get("units", "")
    return "" if units == "1" else units


def _result(names: list[str], params: np.ndarray, errors: np.ndarray, curve: xr.DataArray, attrs: dict,
            info: dict, window: tuple[str, np.ndarray], units: dict[str, str]) -> xr.Dataset:
    """The fit as a Dataset: parameters with ``units``, their ``_err``, the curve, and the
    law, the error method, chi2_dof, the window (dim, values used) as attributes."""
    data = {name: ((), float(p), {"units": units.get(name, "")}) for name, p in zip(names, params)}
    data.update({f"{name}_err": ((), float(e), {"units": units.get(name, "")}) for name, e in zip(names, errors)})
    dim, values = window
    span = [float(np.min(values)), float(np.max(values))] if np.size(values) else [np.nan, np.nan]
    ds = xr.Dataset(data, attrs={**attrs, **info, "window_dim": dim, "window": span})
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

        def predict(t, p):
            return np.log(p[0]) + (p[2] if k is None else k) * np.log(t) - p[1] / t

        params, errors, info = _fit_with_errors(x, logy, estimate, covariance, predict, n_boot, seed)
        k_used = params[2] if k is None else k
        t = da[dim]
        curve = params[0] * t**k_used * np.exp(-params[1] / t)
        names = ["A", "E"] + (["k"] if k is None else [])
        return _result(names, params, errors, curve, {"law": "Gamma = A T^k exp(-E/T)", "k_fixed": "free" if k is None else k},
                       info, (dim, x), {"A": _units(da), "E": _units(da[dim])})

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

        params, errors, info = _fit_with_errors(x, logy, estimate, lambda t, ly: solve(t, ly)[1],
                                                lambda t, p: model(t, *p), n_boot, seed)
        t = da[dim]
        curve = np.exp(params[0]) * np.clip(t - params[1], 0, None) ** params[2]
        return _result(["log_C", "T_c", "exponent"], params, errors, curve, {"law": "Gamma = C (T - T_c)^exponent"},
                       info, (dim, x), {"T_c": _units(da[dim])})

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

        params, errors, info = _fit_with_errors(x, y, estimate, covariance, lambda t, p: 1.0 - p[0] / t, n_boot, seed)
        curve = 1.0 - params[0] / da[dim]
        return _result(["T_onset"], params, errors, curve, {"law": "Gamma = 1 - T_onset/T"}, info, (dim, x),
                       {"T_onset": _units(da[dim])})

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

        def predict(xx, p):
            stretch, n, scale = p
            return np.log(scale) + stretch * n * xx[:, 0] + stretch * xx[:, 1]

        params, errors, info = _fit_with_errors(x, y, lambda xx, s: solve(xx, s)[0], lambda xx, s: solve(xx, s)[1],
                                                predict, n_boot, seed, transform)
        stretch, n, scale = params
        curve = np.exp(-scale * (xr.DataArray(q_values, dims=[q_dim]) ** n * da[t_dim]) ** stretch)
        lags = tt.ravel()[np.isfinite(transform(_nanmean(y)[:, None])[:, 0])]
        return _result(["stretch", "n", "scale"], params, errors, curve.transpose(t_dim, q_dim),
                       {"law": "S(q, t) = exp(-scale (q^n t)^stretch)", "s_range": list(s_range)}, info, (t_dim, lags),
                       {})

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

        params, errors, info = _fit_with_errors(x, logy, lambda xx, ly: solve(xx, ly)[0],
                                                lambda xx, ly: solve(xx, ly)[1],
                                                lambda xx, p: np.log(p[1]) - p[0] * np.log(xx), n_boot, seed)
        curve = params[1] * da[dim] ** (-params[0])
        return _result(["beta", "C"], params, errors, curve, {"law": f"density ~ C {dim}^-beta"}, info, (dim, x),
                       {"C": _units(da)})

    return _per_group(density, [dim], fit_one)

"""Fits of a store's results by name, each on its own regime (``epmsweep fit``, the report).

| kind | store | variable | fitted on |
|---|---|---|---|
| ``arrhenius`` | meanfield, lattice | gamma / activity | meanfield: T < 1.6 T_c (below the MCT-like crossover); lattice: all T (paper 002's range is Arrhenius) |
| ``arrhenius-k`` | meanfield, lattice | gamma / activity | the same, prefactor exponent k free |
| ``power-law`` | meanfield | gamma | 1.3 T_c < T <= 0.5 (MCT-like regime; T_c of Eq. 10) |
| ``high-t`` | meanfield | gamma | the hottest third of the T values (at least 3) |
| ``s-q`` | lattice (tracer rules) | s_q | highest T (or ``--sel T=...``) |
| ``p-u-tail`` | lattice (tracer rules) | p_u | the upper decade of u with data |
| ``psi-tail`` | lattice | psi | two decades below the largest waiting time with data |

Other sweep axes are fixed by the selection (or their first value); pending and failed
points are left out. Each fit carries :func:`notes`: where a fitted exponent is incompatible
with the papers' value (EXPECTED) or the law does not describe the data within their
errors (chi2_dof above POOR_CHI2_DOF), in words.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from epmsweep.analysis import fits
from epmsweep.analysis.selection import parameter, point_parameters, select
from epmsweep.model import InvalidInput
from epmsweep.model.meanfield import theory
from epmsweep.sweep.spec import SweepSpec

FIT_KINDS = ("arrhenius", "arrhenius-k", "power-law", "high-t", "s-q", "p-u-tail", "psi-tail")
#: The papers' values of fitted exponents: kind -> ((parameter, value, where it comes from), ...).
EXPECTED = {
    "power-law": (("exponent", 3.0, "paper 000's MCT-like law Gamma ~ (T - T_c)^3, Eq. (14)"),),
    "s-q": (("n", 2.0, "diffusion, S(q, t) a function of q^2 t (paper 002, Fig. 2, long times)"),
            ("stretch", 1.0, "diffusion, a simple exponential (paper 002, Fig. 2, long times)")),
    "p-u-tail": (("beta", 3.0, "paper 002's tail P(u) ~ u^-3 (Fig. 3a)"),),
}
#: A fit whose chi-squared per degree of freedom exceeds this is noted as a poor description.
POOR_CHI2_DOF = 3.0
#: A fitted exponent this many standard errors from the papers' value is noted.
INCOMPATIBLE_SIGMAS = 3.0


def _activity_name(ds: xr.Dataset) -> str:
    return "gamma" if "gamma" in ds else "activity"


def available_fits(ds: xr.Dataset, spec: SweepSpec) -> list[str]:
    out = []
    if "T" in spec.axes and spec.model in ("meanfield", "lattice"):
        out += ["arrhenius", "arrhenius-k"]
        if spec.model == "meanfield":
            out += ["power-law", "high-t"]
    if "s_q" in ds:
        out.append("s-q")
    if "p_u" in ds:
        out.append("p-u-tail")
    if "psi" in ds:
        out.append("psi-tail")
    return out


def fit_store(kind: str, ds: xr.Dataset, spec: SweepSpec, sel: Mapping[str, float] | None = None) -> xr.Dataset:
    """The fit ``kind`` (see the table above) on a store's done points."""
    if kind not in available_fits(ds, spec):
        raise InvalidInput(f"fit {kind!r} does not apply to this store; available: {', '.join(available_fits(ds, spec))}")
    sel = dict(sel or {})
    keep = ("T",) if kind in ("arrhenius", "arrhenius-k", "power-law", "high-t") else ()
    sub, _ = select(ds, spec, keep, sel)
    if kind in ("s-q", "p-u-tail", "psi-tail") and "T" in sub.dims:
        sub = sub.sel(T=sel.get("T", float(sub.T.values[-1])), method="nearest")
    done = sub.status == 1
    if kind in ("arrhenius", "arrhenius-k", "power-law", "high-t"):
        var = sub[_activity_name(sub)].where(done)
        temps = sub.T.values
        tc = _mct_temperature(sub, spec)
        if kind.startswith("arrhenius"):
            chosen = temps[temps < 1.6 * tc] if tc else temps
        elif kind == "high-t":
            chosen = np.sort(temps)[-max(3, temps.size // 3):]
        elif tc is None:
            why = theory.units_mismatch(point_parameters(sub, spec)) or "this alpha has no frozen T -> 0 state"
            raise InvalidInput(f"fit 'power-law' needs the MCT-like temperature T_c of Eq. (10): {why}")
        else:
            chosen = temps[(temps > 1.3 * tc) & (temps <= 0.5)]
        need = 4 if kind in ("power-law", "arrhenius-k") else 3  # one more than the fit's parameters
        if chosen.size < need:
            raise InvalidInput(f"fit {kind!r} needs at least {need} temperatures in its regime (one more than its "
                               f"parameters, for an error estimate); the store has {chosen.size}")
        var = var.sel(T=chosen)
        if kind == "arrhenius":
            return fits.arrhenius(var, k=0)
        if kind == "arrhenius-k":
            return fits.arrhenius(var, k=None)
        if kind == "high-t":
            return fits.high_t(var)
        return fits.power_law(var)
    if kind == "s-q":
        q = sub.q.where(done).mean("replica")
        return fits.stretched_exponential(sub.s_q.where(done), q)
    name, dim = ("p_u", "u") if kind == "p-u-tail" else ("psi", "tau_ev")
    density = sub[name].where(done)
    has = density.mean("replica").dropna(dim)
    has = has.where(has > 0, drop=True)
    if has.sizes[dim] < 4:
        raise InvalidInput(f"fit {kind!r}: too few bins with data")
    top = float(has[dim].max())
    lo = top / 10 if kind == "p-u-tail" else top / 100
    return fits.power_law_tail(density, dim, lo, top)


def _mct_temperature(sub: xr.Dataset, spec: SweepSpec) -> float | None:
    """T_c of Eq. (10) for a mean-field store in the paper's units (None otherwise, or
    without a frozen state)."""
    if spec.model != "meanfield" or theory.units_mismatch(point_parameters(sub, spec)):
        return None
    try:
        return theory.t_c(parameter(sub, spec, "alpha"), parameter(sub, spec, "a"))
    except ValueError:
        return None


def notes(kind: str, fit: xr.Dataset) -> list[str]:
    """What a reader of the fit should know: exponents incompatible with the papers' values,
    a law that does not describe the data within their errors."""
    out = []
    window = f"{fit.attrs.get('window_dim', '')} from {fit.attrs['window'][0]:.4g} to {fit.attrs['window'][1]:.4g}" \
        if "window" in fit.attrs else "its window"
    for name, expected, source in EXPECTED.get(kind, ()):
        if name not in fit or fit[name].ndim:
            continue
        value, error = float(fit[name]), float(fit[f"{name}_err"])
        if np.isfinite(value) and abs(value - expected) > INCOMPATIBLE_SIGMAS * error:
            out.append(f"{name} = {value:.3g} ± {error:.2g} is incompatible with {expected:g}, {source}: the data in "
                       f"{window} may not be in that regime (or not converged)")
    chi2 = float(fit.attrs.get("chi2_dof", np.nan))
    if chi2 > POOR_CHI2_DOF:
        out.append(f"chi2/dof = {chi2:.3g}: the law {fit.attrs.get('law', '')!r} does not describe the data in "
                   f"{window} within their errors")
    return out


def table_rows(fit: xr.Dataset) -> list[tuple[str, float, float, str]]:
    """(parameter, value, standard error, units) for every scalar parameter of a fit."""
    rows = []
    for name in fit.data_vars:
        if name == "fit" or name.endswith("_err") or fit[name].ndim:
            continue
        rows.append((name, float(fit[name]), float(fit[f"{name}_err"]), fit[name].attrs.get("units", "")))
    return rows


def summary_lines(kind: str, fit: xr.Dataset) -> list[str]:
    """The window, the error method, chi2/dof and the notes of a fit, one line each."""
    lines = []
    if "window" in fit.attrs:
        lo, hi = fit.attrs["window"]
        lines.append(f"window: {fit.attrs['window_dim']} from {lo:.4g} to {hi:.4g} ({fit.attrs['n_points']} points)")
    if "errors" in fit.attrs:
        lines.append(f"errors: {fit.attrs['errors']}")
    if "chi2_dof" in fit.attrs:
        chi2 = float(fit.attrs["chi2_dof"])
        lines.append(f"chi2/dof: {chi2:.3g}" if np.isfinite(chi2) else "chi2/dof: - (one replica: no error per point)")
    return lines + [f"note: {n}" for n in notes(kind, fit)]

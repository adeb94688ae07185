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
points are left out.
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


def table_rows(fit: xr.Dataset) -> list[tuple[str, float, float]]:
    """(parameter, value, standard error) for every scalar parameter of a fit."""
    rows = []
    for name in fit.data_vars:
        if name == "fit" or name.endswith("_err") or fit[name].ndim:
            continue
        rows.append((name, float(fit[name]), float(fit[f"{name}_err"])))
    return rows

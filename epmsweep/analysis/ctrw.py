"""The continuous-time random walk of paper 002 (Fig. 3c, inset): tracers move only when an
event happens close by, so their mean-square displacement follows the mean number N(t) of
events in a time t, a renewal process with the measured waiting-time density psi(tau_ev).
Its Laplace transform is

    N~(s) = psi~(s) / (s (1 - psi~(s))),

and a power law N~ ~ s^-(1 + beta) means N(t) ~ t^beta, and in this picture <dr^2>(t) ~ N(t).
The paper reads s^-2 (N ~ t: diffusion) at small s and s^-5/3 (N ~ t^(2/3)) in between,
and quotes from it <dr^2> ~ t^(1/3).

psi~(s) is computed exactly for the histogram: on each bin [a, b) the density is constant,
and int_a^b e^(-s tau) dtau = (e^(-s a) - e^(-s b)) / s. The density is renormalised over
its bins (the store's psi integrates to the fraction of waiting times inside them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from epmsweep.analysis.selection import done_mean, select
from epmsweep.sweep.spec import SweepSpec


def laplace_of_histogram(edges: np.ndarray, density: np.ndarray, s: np.ndarray) -> np.ndarray:
    """psi~(s) of a piecewise-constant density on ``edges``, renormalised to 1 over the bins."""
    edges, density = np.asarray(edges, float), np.nan_to_num(np.asarray(density, float))
    mass = density * np.diff(edges)
    if mass.sum() <= 0:
        raise ValueError("the waiting-time density is empty: no event was recorded twice at one site")
    s = np.asarray(s, float)[:, None]
    bins = (np.exp(-s * edges[:-1]) - np.exp(-s * edges[1:])) / s  # int over each bin of e^(-s tau)
    return (bins * density).sum(axis=1) / mass.sum()


def renewal_count(s: np.ndarray, psi_laplace: np.ndarray) -> np.ndarray:
    """N~(s) = psi~/(s (1 - psi~)): the Laplace transform of the mean number of renewals."""
    s, p = np.asarray(s, float), np.asarray(psi_laplace, float)
    with np.errstate(divide="ignore"):
        return p / (s * (1.0 - p))


def local_exponent(s: np.ndarray, values: np.ndarray) -> np.ndarray:
    """d ln N~ / d ln s on the s grid (centred differences); NaN where N~ underflowed to 0
    (s far above the inverse of the shortest waiting time)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.gradient(np.log(np.where(values > 0, values, np.nan)), np.log(s))


def ctrw_prediction(edges: np.ndarray, density: np.ndarray, points_per_decade: int = 10) -> xr.Dataset:
    """N~(s), its local exponent and the exponent beta = -exponent - 1 of N(t) ~ t^beta it
    implies, on s from the inverse of the largest to the inverse of the smallest waiting-time
    edge."""
    edges = np.asarray(edges, float)
    lo, hi = 1.0 / edges[-1], 1.0 / edges[0]
    s = np.geomspace(lo, hi, max(2, int(points_per_decade * np.log10(hi / lo)) + 1))
    counts = renewal_count(s, laplace_of_histogram(edges, density, s))
    slope = local_exponent(s, counts)
    return xr.Dataset({"n_laplace": ("s", counts, {"long_name": "Laplace transform of the mean number of events"}),
                       "exponent": ("s", slope, {"long_name": "d ln N~ / d ln s"}),
                       "count_exponent": ("s", -slope - 1.0, {"long_name": "beta of N(t) ~ t^beta"})},
                      coords={"s": ("s", s, {"units": "1/time", "long_name": "Laplace variable"})})


def ctrw_from_store(ds: xr.Dataset, spec: SweepSpec, sel: Mapping[str, float] | None = None) -> xr.Dataset:
    """The CTRW prediction for every temperature of a lattice store with a done replica,
    from the replica-mean waiting-time density psi (on the psi bins the store's settings
    declare)."""
    sub, _ = select(ds, spec, ("T",), sel or {})
    edges = np.geomspace(float(spec.settings["psi_min"]), float(spec.settings["psi_max"]),
                         int(spec.settings["psi_bins"]) + 1)
    if "T" not in sub.dims:
        return ctrw_prediction(edges, done_mean(sub.psi, sub.status)[0].values)
    temps = [T for T in sub["T"].values if bool((sub.status.sel(T=T) == 1).any())]
    if not temps:
        raise ValueError("no point is done yet")
    out = [ctrw_prediction(edges, done_mean(sub.psi.sel(T=T), sub.status.sel(T=T))[0].values) for T in temps]
    return xr.concat(out, dim=xr.DataArray(temps, dims="T"))

"""Paper 002's claims (Figs. 2-3 and text) measured on three stores: the thermal sweep
(examples/paper002_lattice.toml), the random model at matched activity and the random model
at a = 0.0034 (examples/paper002_random.toml).

    python benchmarks/paper002_claims.py THERMAL RANDOM_MATCHED RANDOM_0034 \
        [--json benchmarks/paper002_summary.json] [--figures docs/figures/paper002]

Writes the summary numbers (JSON: what docs/paper002.md quotes; the stores themselves are
not kept) and the figures, and prints the numbers. Errors are standard errors across
replicas (jackknife for derived quantities).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import xarray as xr

from epmsweep.analysis import fits, figures
from epmsweep.analysis.ctrw import ctrw_from_store
from epmsweep.analysis.selection import longest_reliable_lag
from epmsweep.analysis.store_fits import fit_store
from epmsweep.sweep import store

#: Paper 002's S(q, t) collapses: (n, gamma, prefactor) of exp(-prefactor (q^n t)^gamma)
#: (Fig. 2 caption), the temperature and the lag window (in tau) of each regime.
PAPER_COLLAPSES = {"ballistic": (1.125, 1.8, 0.07, 0.2), "crossover": (2.3, 0.86, 0.0015, 0.07),
                   "diffusive": (2.0, 1.0, 0.1, 0.2)}
S_RANGE = (0.1, 0.9)


def jackknife(values: np.ndarray, estimate) -> tuple[float, float]:
    """estimate(values) and its jackknife standard error over the last axis (replicas)."""
    full = float(estimate(values))
    n = values.shape[-1]
    if n < 2:
        return full, float("nan")
    leave = np.array([estimate(np.delete(values, i, axis=-1)) for i in range(n)], dtype=float)
    return full, float(np.sqrt((n - 1) / n * ((leave - leave.mean()) ** 2).sum()))


def done(ds: xr.Dataset, var: str) -> xr.DataArray:
    return ds[var].where(ds.status == 1)


def lag_window(point: xr.Dataset, lo: float, hi: float) -> xr.Dataset:
    return point.sel(lag=slice(lo, hi))


def msd_exponent(msd: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """d ln MSD / d ln t between neighbouring lags (the MSD's local exponent)."""
    return np.diff(np.log(msd)) / np.diff(np.log(lags))


def diffusion_summary(point: xr.Dataset) -> dict:
    """D at the end of the ballistic regime (t = tau_res = 1), its peak, the last lag with
    ten independent windows of the shortest replica's run (the plateau where reached), and
    the smallest local exponent of the MSD between t = 1 and that lag (< 1: sub-diffusive),
    each with its jackknife error."""
    msd = done(point, "msd").transpose("lag", "replica")
    ok = np.isfinite(msd.values).all(axis=1) & (msd.lag.values >= 0.1) & (msd.lag.values <= longest_reliable_lag(point))
    msd = msd.isel(lag=np.flatnonzero(ok))
    lags = msd.lag.values
    vals = msd.values[:, np.isfinite(msd.values).all(axis=0)]
    after = lags >= 1.0

    def d_at(v, i):
        return v[i].mean() / (4 * lags[i])

    def min_exponent(v):
        x = msd_exponent(v.mean(axis=1), lags)
        return np.nanmin(x[after[1:]])

    i1 = int(np.argmin(np.abs(lags - 1.0)))
    peak = int(np.argmax(vals.mean(axis=1) / lags))
    x = msd_exponent(vals.mean(axis=1), lags)
    where_min = float(np.sqrt(lags[1:] * lags[:-1])[after[1:]][np.nanargmin(x[after[1:]])])
    return {"D_tau_res": jackknife(vals, lambda v: d_at(v, i1)),
            "D_peak": jackknife(vals, lambda v: d_at(v, peak)), "t_peak": float(lags[peak]),
            "D_last": jackknife(vals, lambda v: d_at(v, -1)), "t_last": float(lags[-1]),
            "min_exponent": jackknife(vals, min_exponent), "t_min_exponent": where_min,
            "ballistic_exponent": jackknife(vals, lambda v: np.log(v[i1].mean() / v[0].mean()) / np.log(lags[i1] / lags[0]))}


def fixed_shape_prefactor(point: xr.Dataset, lo: float, hi: float, n: float, gamma: float) -> tuple[float, float]:
    """The prefactor c of S = exp(-c (q^n t)^gamma) with n and gamma fixed at the paper's:
    the mean of log(-log S) - gamma log(q^n t) over the points with S in S_RANGE, as exp."""
    sub = lag_window(point, lo, hi)
    s = done(sub, "s_q").transpose("lag", "k", "replica").dropna("replica", how="all").values
    q = point.q.where(point.status == 1).mean("replica").values
    x = (q[None, :] ** n) * sub.lag.values[:, None]

    def estimate(v):
        m = v.mean(axis=-1)
        ok = (m > S_RANGE[0]) & (m < S_RANGE[1])
        return np.exp(np.mean(np.log(-np.log(m[ok])) - gamma * np.log(x[ok]))) if ok.sum() >= 3 else np.nan

    return jackknife(s, estimate)


def collapse_fit(point: xr.Dataset, lo: float, hi: float) -> dict:
    """n, gamma and the prefactor of the free collapse fit in a lag window."""
    sub = lag_window(point, lo, hi)
    fit = fits.stretched_exponential(done(sub, "s_q"), point.q.where(point.status == 1).mean("replica"),
                                     s_range=S_RANGE)
    return {name: (float(fit[name]), float(fit[f"{name}_err"])) for name in ("n", "stretch", "scale")}


def slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y) & (y > 0)
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0]) if ok.sum() >= 3 else float("nan")


def tail_slopes(point: xr.Dataset, var: str, dim: str, rescale: float, windows: dict) -> dict:
    """Log-log slopes of a replica-mean density in windows of the rescaled variable."""
    dens = done(point, var).transpose(dim, "replica")
    x = dens[dim].values * rescale
    out = {}
    for name, (lo, hi) in windows.items():
        sel = (x >= lo) & (x <= hi)
        out[name] = jackknife(dens.values[sel], lambda v, s=sel: slope(x[s], np.nanmean(v, axis=-1)))
    return out


def corr_summary(point: xr.Dataset, activity: float) -> dict:
    """C_u's most negative value and where (lags with ten independent windows of the
    shortest run); a t at which C_sigma falls to 1/e."""
    cu = done(point, "c_u").transpose("lag", "replica")
    cu = cu.sel(lag=slice(None, longest_reliable_lag(point)))
    cu = cu.where(np.isfinite(cu).all("replica"), drop=True)
    cs = done(point, "c_sigma").mean("replica")
    below = cs.lag.values[cs.values < np.exp(-1)]
    return {"c_u_min": jackknife(cu.values, lambda v: np.min(v.mean(axis=-1))),
            "t_c_u_min": float(cu.lag.values[np.argmin(cu.mean("replica").values)]),
            "a_t_c_sigma_1_over_e": float(activity * below[0]) if below.size else float("nan")}


def point_summary(point: xr.Dataset) -> dict:
    """The numbers of one grid point over its done replicas."""
    point = point.isel(replica=np.flatnonzero(point.status.values == 1)).load()
    act = done(point, "activity").values
    a = float(np.nanmean(act))
    out = {"activity": (a, float(np.nanstd(act, ddof=1) / np.sqrt(np.isfinite(act).sum()))),
           "replicas_done": int((point.status == 1).sum()),
           "stationary": int(done(point, "stationary").fillna(0).sum()) if "stationary" in point else None,
           "burn_in_used": float(done(point, "burn_in_used").max()), "duration_used": float(done(point, "duration_used").max()),
           "wall_s": float(done(point, "wall_seconds").sum())}
    out["diffusion"] = diffusion_summary(point)
    out["p_u"] = tail_slopes(point, "p_u", "u", 1 / np.sqrt(a), {"small_u": (0.0, 0.03), "large_u": (0.3, 100.0)})
    out["psi"] = tail_slopes(point, "psi", "tau_ev", a, {"power_law": (1e-3, 0.1), "cutoff": (0.3, 3.0)})
    out["correlations"] = corr_summary(point, a)
    return out


def store_summary(path: Path, axis: str) -> dict:
    ds = xr.open_zarr(path)
    spec = store.read_spec(path)
    points = {f"{float(v):.6g}": point_summary(ds.sel({axis: v})) for v in ds[axis].values
              if bool((ds.status.sel({axis: v}) == 1).any())}
    ctrw = ctrw_from_store(ds, spec) if axis == "T" else None
    return {"spec": json.loads(spec.to_json()), "points": points, "ctrw_ds": ctrw, "ds": ds, "specobj": spec}


def thermal_extras(summary: dict) -> dict:
    ds, spec = summary["ds"], summary["specobj"]
    fit = fit_store("arrhenius", ds, spec)
    out = {"arrhenius_all_T": {k: (float(fit[k]), float(fit[f"{k}_err"])) for k in ("A", "E")}}
    low = ds.sel(T=[t for t in ds.T.values if t <= 0.1])
    fit = fits.arrhenius(low.activity.where(low.status == 1), k=0)
    out["arrhenius_T_le_0.1"] = {k: (float(fit[k]), float(fit[f"{k}_err"])) for k in ("A", "E")}
    collapses = {}
    for regime, (n, gamma, paper_c, T) in PAPER_COLLAPSES.items():
        point = ds.sel(T=T)
        if regime == "ballistic":
            lo, hi = 0.1, 1.0
        elif regime == "diffusive":
            lo, hi = 10.0, np.inf
        else:  # where D(t) falls: the window of the crossover figure
            lo, hi = figures.crossover_window(point, 1.0)
        entry = {"window": (lo, hi), "paper": {"n": n, "stretch": gamma, "scale": paper_c}}
        try:
            entry["free"] = collapse_fit(point, lo, hi)
        except ValueError as err:
            entry["free"] = str(err)
        entry["scale_at_paper_shape"] = fixed_shape_prefactor(point, lo, hi, n, gamma)
        collapses[regime] = entry
    out["collapses"] = collapses
    ctrw = summary["ctrw_ds"]
    out["ctrw"] = {}
    for T in ctrw.T.values:
        beta = ctrw.count_exponent.sel(T=T)
        i = int(np.nanargmin(beta.values))
        out["ctrw"][f"{float(T):.6g}"] = {"min_beta": float(beta.values[i]), "t_min_beta": float(1 / ctrw.s.values[i])}
    return out


def scale_and_time_factors(collapses: dict) -> dict:
    """Displacement scale c and time scale s that map our S(q, t) onto the paper's:
    S_paper(q, t) = S_ours(c q, s t) gives prefactor_paper = prefactor_ours c^(n gamma) s^gamma
    in each regime; least squares over the regimes for (ln c, ln s)."""
    rows, rhs = [], []
    for regime, entry in collapses.items():
        ours = entry["scale_at_paper_shape"][0]
        n, gamma, paper = entry["paper"]["n"], entry["paper"]["stretch"], entry["paper"]["scale"]
        if np.isfinite(ours):
            rows.append([n * gamma, gamma])
            rhs.append(np.log(paper / ours))
    design = np.array(rows)
    only_c = float(np.exp(np.linalg.lstsq(design[:, :1], np.array(rhs), rcond=None)[0][0]))
    both = np.exp(np.linalg.lstsq(design, np.array(rhs), rcond=None)[0]) if len(rows) >= 2 else [np.nan, np.nan]
    return {"ratios": {r: float(np.exp(v)) for r, v in zip(collapses, rhs)}, "c_only": only_c,
            "c_and_s": [float(both[0]), float(both[1])]}


def draw_figures(thermal: Path, matched: Path, fixed: Path, out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ds, spec = xr.open_zarr(thermal), store.read_spec(thermal)
    references = {"diffusion": matched, "c-u": matched, "p-u": fixed, "psi": fixed, "c-sigma": fixed}
    written = []
    for kind in figures.supported(ds, spec):
        ref = xr.open_zarr(references[kind]) if kind in references else None
        fig = figures.draw(kind, ds, spec, reference=ref)
        fig.savefig(out / f"{kind}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(kind)
    return written


def fmt(pair, digits: int = 2) -> str:
    """value +- error with the error to ``digits`` significant figures."""
    value, error = pair
    if value is None:
        return "n/a"
    if error is None or not np.isfinite(error) or error == 0:
        return f"{value:.4g}"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(error)))))
    return f"{value:.{decimals}f} ± {error:.{decimals}f}"


def num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def ours_column(result: dict) -> dict[str, str]:
    """The 'ours' entry of each claim of docs/paper002.md, from the summary."""
    th, rm, rf = result["thermal"], result["random_matched"], result["random_0034"]
    rows = {}
    arr, low = th["arrhenius_all_T"], th["arrhenius_T_le_0.1"]
    rows["arrhenius"] = (f"all T: a = ({fmt(arr['A'])}) e^(-({fmt(arr['E'], 2)})/T); "
                         f"T <= 0.1: ({fmt(low['A'])}) e^(-({fmt(low['E'], 2)})/T)")
    for name, store_ in (("thermal", th), ("random matched", rm), ("random 0.0034", rf)):
        for key, point in store_["points"].items():
            d = point["diffusion"]
            rows[f"D {name} {key}"] = (f"a = {fmt(point['activity'])}; D(1) = {fmt(d['D_tau_res'])}, "
                                       f"peak {fmt(d['D_peak'])} at t = {num(d['t_peak'], 'g')}, D({num(d['t_last'], 'g')}) = "
                                       f"{fmt(d['D_last'])}; MSD exponent: ballistic {fmt(d['ballistic_exponent'])}, "
                                       f"smallest after tau_res {fmt(d['min_exponent'])} at t = {num(d['t_min_exponent'], '.3g')}")
            pu, ps, cr = point["p_u"], point["psi"], point["correlations"]
            rows[f"P(u) {name} {key}"] = f"slopes small u {fmt(pu['small_u'])}, large u {fmt(pu['large_u'])}"
            rows[f"psi {name} {key}"] = f"slopes {fmt(ps['power_law'])} (a tau 1e-3..0.1), {fmt(ps['cutoff'])} (0.3..3)"
            rows[f"corr {name} {key}"] = (f"C_u min {fmt(cr['c_u_min'])} at t = {num(cr['t_c_u_min'], 'g')}; "
                                          f"a t at C_sigma = 1/e: {num(cr['a_t_c_sigma_1_over_e'], '.3g')}")
    for regime, entry in th["collapses"].items():
        free = entry["free"]
        free_text = (f"n = {fmt(free['n'])}, γ = {fmt(free['stretch'])}, c = {fmt(free['scale'])}"
                     if isinstance(free, dict) else free)
        rows[f"S(q,t) {regime}"] = (f"window {entry['window']}: {free_text}; c at the paper's n, γ: "
                                    f"{fmt(entry['scale_at_paper_shape'])}")
    rows["scale factors"] = str(th["scale_factors"])
    for key, entry in th["ctrw"].items():
        d = th["points"][key]["diffusion"]
        rows[f"CTRW {key}"] = (f"smallest beta {num(entry['min_beta'], '.2f')} at t = {num(entry['t_min_beta'], '.3g')}; measured "
                               f"{fmt(d['min_exponent'])} at t = {num(d['t_min_exponent'], '.3g')}")
    return rows


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if k not in ("ds", "specobj", "ctrw_ds")}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    return obj


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("thermal", type=Path)
    parser.add_argument("matched", type=Path)
    parser.add_argument("fixed", type=Path)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/paper002_summary.json"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures/paper002"))
    args = parser.parse_args()
    thermal = store_summary(args.thermal, "T")
    extras = thermal_extras(thermal)
    extras["scale_factors"] = scale_and_time_factors(extras["collapses"])
    result = {"thermal": {**_plain(thermal), **_plain(extras)},
              "random_matched": _plain(store_summary(args.matched, "target_activity")),
              "random_0034": _plain(store_summary(args.fixed, "target_activity"))}
    result["figures"] = draw_figures(args.thermal, args.matched, args.fixed, args.figures)
    args.json.write_text(json.dumps(result, indent=1))
    for claim, text in ours_column(result).items():
        print(f"{claim}: {text}")


if __name__ == "__main__":
    main()

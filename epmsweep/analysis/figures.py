"""Figures of papers 000 and 002 from a sweep store, with theory overlaid.

Each figure kind is a function ``(ds, spec) -> matplotlib Figure`` registered in
``FIGURES`` with the model it applies to and the outputs it needs. Data points are the
mean over the replicas that are done, with error bars of one standard error across
replicas; points that are pending or failed are left out and the figure says how many.
Theory is computed on the fly for the store's parameters: the Fokker-Planck solution
(:mod:`epmsweep.model.meanfield.fokker_planck`, exact rate and the paper's approximations) and the
closed forms of :mod:`epmsweep.model.meanfield.theory`, in their corrected forms.

Axes other than the one a figure plots (e.g. ``alpha`` in a Gamma(T) figure) are fixed
to the user's selection, or to their first value; the title says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from epmsweep.analysis import fits  # noqa: E402
from epmsweep.analysis.ctrw import ctrw_from_store  # noqa: E402
from epmsweep.analysis.selection import (  # noqa: E402
    done_mean, longest_reliable_lag, missing_note, parameter, point_parameters, select, unsettled)
from epmsweep.analysis.store_fits import fit_store  # noqa: E402
from epmsweep.model.meanfield import theory  # noqa: E402
from epmsweep.model.meanfield.fokker_planck import growing_length, solve_stationary  # noqa: E402
from epmsweep.sweep.spec import SweepSpec  # noqa: E402


@dataclass(frozen=True)
class FigureKind:
    name: str
    title: str
    model: str
    needs: tuple[str, ...]
    draw: Callable[[xr.Dataset, SweepSpec, dict], plt.Figure]
    plotted_axis: str | None = "T"


FIGURES: dict[str, FigureKind] = {}


def _register(name: str, title: str, model: str, needs: tuple[str, ...], plotted_axis: str | None = "T"):
    def wrap(fn):
        FIGURES[name] = FigureKind(name, title, model, needs, fn, plotted_axis)
        return fn

    return wrap


def supported(ds: xr.Dataset, spec: SweepSpec) -> list[str]:
    """Figure kinds this store can draw (its model's, with every output they need, none empty:
    e.g. no ``xi-spreading`` of a store without times)."""
    out = []
    for kind in FIGURES.values():
        if kind.model != spec.model or any(v not in ds or ds[v].size == 0 for v in kind.needs):
            continue
        if kind.plotted_axis is not None and kind.plotted_axis not in spec.axes:
            continue
        if spec.model == "lattice" and spec.settings.get("rules") == "baron-biroli" and "msd" in kind.needs:
            continue
        out.append(kind.name)
    return out


def _params(spec: SweepSpec, point: Mapping[str, float]) -> dict:
    return {**spec.parameters, **{k: float(v) for k, v in point.items()}}


def _edges(centres: np.ndarray) -> np.ndarray:
    width = centres[1] - centres[0]
    return np.concatenate([centres - width / 2, [centres[-1] + width / 2]])


def _notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


#: Publication style: readable fonts at the figure's printed size, mathtext labels, no
#: legend frame (legends sit beside the axes, off the data).
STYLE = {"font.size": 10, "axes.labelsize": 11, "axes.titlesize": 10, "legend.fontsize": 8, "xtick.labelsize": 9,
         "ytick.labelsize": 9, "legend.frameon": False, "lines.markersize": 4, "figure.figsize": (7.4, 3.8),
         "savefig.bbox": "tight", "mathtext.fontset": "dejavusans"}


def _finish(fig: plt.Figure, ax, note: str, where: str) -> plt.Figure:
    """Legend beside the axes, the note (missing points, caveats) below them, the selection on top."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if note:
        fig.text(0.01, 0.005, note, fontsize=8, color="firebrick", va="bottom", wrap=True)
    if where:
        fig.suptitle(where, fontsize=9)
    fig.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    return fig


# ---- paper 000: P(sigma) panels ---------------------------------------------------------
def _p_sigma_panel(ds, spec, sel, pick: str, rates: tuple[tuple[str, str], ...], with_p0: bool, title: str):
    sub, where = select(ds, spec, ("T",), sel)
    temps = sub.T.values
    target = {"high": temps.max(), "low": temps.min(), "half": temps[np.argmin(np.abs(temps - 0.5))]}[pick]
    point = sub.sel(T=target)
    mean, err = done_mean(point.p_sigma, point.status)
    fig, ax = plt.subplots()
    ax.errorbar(point.sigma, mean, yerr=err.fillna(0), fmt="x", ms=4, color="tab:blue", label=f"simulation, T = {target:g}")
    edges = _edges(point.sigma.values)
    params = _params(spec, {"T": target, **{a: float(point[a]) for a in spec.axes if a not in ("T",)}})
    fine = np.linspace(edges[0], edges[-1], 401)
    for rate, label in rates:
        try:
            sol = solve_stationary(params, rate)
        except Exception as err_:  # an approximation may not apply here (e.g. no frozen state)
            ax.plot([], [], " ", label=f"{label}: not drawn ({err_})")
            continue
        ax.plot(fine, sol.density_at(fine), "-" if rate == "exact" else "--", label=label)
    if with_p0:
        try:
            ax.plot(fine, theory.p0_frozen(fine, params["alpha"], params["sigma_c"], params["sigma_0"]), "k:",
                    label=r"Eq. (17), $T \to 0$")
        except ValueError:
            pass
    ax.set_xlabel(r"local stress $\sigma$ [$\sigma_c$]")
    ax.set_ylabel(r"$P(\sigma)$ [$1/\sigma_c$]")
    ax.set_title(title)
    return _finish(fig, ax, missing_note(sub), where)


@_register("p-sigma-high-t", "Paper 000 Fig. 1a: P(sigma) at the highest T", "meanfield", ("p_sigma",))
def p_sigma_high_t(ds, spec, sel):
    return _p_sigma_panel(ds, spec, sel, "high", (("exact", "FP, exact nu"), ("high-T", "FP, Eq. (7)")), True,
                          "P(sigma), high T")


@_register("p-sigma-mct", "Paper 000 Fig. 2a: P(sigma) at T near 0.5", "meanfield", ("p_sigma",))
def p_sigma_mct(ds, spec, sel):
    return _p_sigma_panel(ds, spec, sel, "half", (("exact", "FP, exact nu"), ("mct", "FP, Eq. (10)")), True,
                          "P(sigma), MCT-like regime")


@_register("p-sigma-low-t", "Paper 000 Fig. 3a: P(sigma) at the lowest T", "meanfield", ("p_sigma",))
def p_sigma_low_t(ds, spec, sel):
    return _p_sigma_panel(ds, spec, sel, "low", (("exact", "FP, exact nu"), ("low-T", "FP, Eq. (19)")), True,
                          "P(sigma), low T")


# ---- paper 000: Gamma(T) panels ------------------------------------------------------------
def _gamma_vs_t(ds, spec, sel):
    sub, where = select(ds, spec, ("T",), sel)
    mean, err = done_mean(sub.gamma, sub.status)
    point = {a: float(sub[a]) for a in spec.axes if a != "T"}
    return sub, where, mean, err, point


def _fp_curve(spec, point, temps, rate="exact"):
    out = []
    for T in temps:
        try:
            out.append(solve_stationary(_params(spec, {**point, "T": T}), rate).gamma)
        except Exception:
            out.append(np.nan)
    return np.array(out)


@_register("gamma-high-t", "Paper 000 Fig. 1b: Gamma(T) against the high-T law", "meanfield", ("gamma",))
def gamma_high_t(ds, spec, sel):
    sub, where, mean, err, point = _gamma_vs_t(ds, spec, sel)
    params = _params(spec, point)
    hot = sub.T.values >= np.median(sub.T.values)  # the law is asymptotic: the hotter half of the sweep
    temps = np.geomspace(sub.T.values[hot].min(), sub.T.values.max(), 60)
    fig, ax = plt.subplots()
    ax.errorbar(1 / sub.T[hot], mean[hot], yerr=err[hot].fillna(0), fmt="x", label="simulation")
    ax.plot(1 / temps, _fp_curve(spec, point, temps), "-", label=r"FP, exact $\nu$")
    units = theory.units_mismatch(params)
    if not units:
        ax.plot(1 / temps, theory.gamma_high_t(temps, theory.t_onset(params["alpha"], params["a"])), "--",
                label=rf"Eq. (9), $T_{{onset}}$ = {theory.t_onset(params['alpha'], params['a']):.3f} (B6, sign corrected)")
        ax.plot(1 / temps, theory.gamma_high_t(temps, theory.t_onset_exact(params["alpha"], params["a"])), ":",
                label=r"Eq. (9) with the exact-$\nu$ $T_{onset}$")
    ax.set_xlabel(r"$1/T$ [1/energy]")
    ax.set_ylabel(r"$\Gamma$ [$1/\tau$]")
    ax.set_title("Activity at high T")
    return _finish(fig, ax, _notes(missing_note(sub), units), where)


@_register("relaxation-time", "Paper 000 Fig. 2b: 1/Gamma across regimes, MCT-like fit", "meanfield", ("gamma",))
def relaxation_time(ds, spec, sel):
    sub, where, mean, err, point = _gamma_vs_t(ds, spec, sel)
    params = _params(spec, point)
    temps = np.geomspace(sub.T.values.min(), sub.T.values.max(), 60)
    fig, ax = plt.subplots()
    ax.errorbar(sub.T, 1 / mean, yerr=(err / mean**2).fillna(0), fmt="x", label="simulation")
    ax.plot(temps, 1 / _fp_curve(spec, point, temps), "-", label=r"FP, exact $\nu$")
    with np.errstate(divide="ignore"):
        ax.plot(temps, 1 / _fp_curve(spec, point, temps, "mct"), "--", label="FP, Eq. (10) (MCT-like)")
    units = theory.units_mismatch(params)
    try:
        if not units:
            tc = theory.t_c(params["alpha"], params["a"])
            ax.axvline(tc, color="grey", lw=0.8, label=rf"$T_c$ = {tc:.3f} (Eq. 10)")
    except ValueError:  # no frozen state: no T_c
        pass
    try:
        fit = fit_store("power-law", sub, spec)
        ax.plot(fit.T, 1 / fit.fit.values, "k:", label=rf"fit $C(T - T_c)^g$: $T_c$ = {float(fit.T_c):.3f} $\pm$ "
                rf"{float(fit.T_c_err):.3f}, $g$ = {float(fit.exponent):.2f} $\pm$ {float(fit.exponent_err):.2f}")
    except (ValueError, RuntimeError):
        pass
    ax.set_yscale("log")
    tau = (1 / mean).values
    if np.isfinite(tau).any():  # the theory diverges at T_c: keep the axis on the data
        ax.set_ylim(np.nanmin(tau) / 3, np.nanmax(tau) * 3)
    ax.set_xlabel(r"$T$ [energy]")
    ax.set_ylabel(r"$1/\Gamma$ [$\tau$]")
    ax.set_title("Relaxation time across regimes")
    return _finish(fig, ax, _notes(missing_note(sub), units), where)


def _xi_closed_forms(ax, temps: np.ndarray, params: dict, rate: str) -> str:
    """The corrected and printed closed forms of xi/sqrt(m) in their regimes: Eq. (23) at
    T <= 0.1 for the exact rate, Eq. (16) above T_c for the rate of Eq. (10). Returns the
    units note (the closed forms need the paper's units)."""
    units = theory.units_mismatch(params)
    if not units and rate == "exact":
        low = temps[temps <= 0.1]
        if low.size:
            ax.plot(low, [theory.xi_low_t(T, params["alpha"], params["a"]) for T in low], "-",
                    label=r"Eq. (23) corrected: $1/\sqrt{2 b T_1}$, $\sim T^{-1/2}$")
            ax.plot(low, [theory.xi_low_t_printed(T, params["alpha"], params["a"]) for T in low], ":",
                    label="Eq. (23) as printed")
    if not units and rate == "mct":
        tc = theory.t_c(params["alpha"], params["a"])
        near = temps[temps > tc]
        if near.size:
            ax.plot(near, [theory.xi_mct(T, params["alpha"], params["a"]) for T in near], "-",
                    label=r"Eq. (16) corrected, $\sim (T - T_c)^{-1/2}$")
            ax.plot(near, [theory.xi_mct_printed(T, params["alpha"], params["a"]) for T in near], ":",
                    label="Eq. (16) as printed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$T$ [energy]")
    ax.set_ylabel(r"$\xi/\sqrt{m}$")
    return units


@_register("xi", "Paper 000 Secs. V C, VI C: the growing length xi(T), exact, with Eqs. (16) and (23)",
           "meanfield-fp", ("xi",))
def growing_length_plot(ds, spec, sel):
    """xi/sqrt(m) of the store (the exact linearisation, one value per temperature) against the
    corrected closed forms and the printed ones: Eq. (23) at low T for the exact rate, Eq. (16)
    near T_c for the rate of Eq. (10)."""
    sub, where = select(ds, spec, ("T",), sel)
    mean, _ = done_mean(sub.xi, sub.status)
    rate = spec.settings.get("rate", "exact")
    fig, ax = plt.subplots()
    ax.plot(sub.T.values, mean, "o", label=r"exact: linearised Eqs. (6), (8)")
    units = _xi_closed_forms(ax, sub.T.values.astype(float), point_parameters(sub, spec), rate)
    ax.set_title(f"Growing length (rate: {rate})")
    return _finish(fig, ax, _notes(missing_note(sub), units), where)


@_register("xi-spatial", "Paper 000 Secs. V C, VI C: the decay length measured on the spatially coupled FP "
           "against the exact xi and Eqs. (16), (23)", "meanfield-fp-spatial", ("xi_fit", "xi_linear"))
def spatial_length_plot(ds, spec, sel):
    """The decay length of the perturbed chain's profile (Eq. 8 at each site, coupled by Eq. 6)
    against the linearisation's xi at the same T and the closed forms."""
    sub, where = select(ds, spec, ("T",), sel)
    fitted, _ = done_mean(sub.xi_fit, sub.status)
    linear, _ = done_mean(sub.xi_linear, sub.status)
    rate = spec.settings.get("rate", "exact")
    fig, ax = plt.subplots()
    ax.plot(sub.T.values, linear, "-", color="0.4", label=r"exact: linearised Eqs. (6), (8)")
    ax.plot(sub.T.values, fitted, "o", mfc="none", label="spatial FP: decay of the perturbed profile")
    units = _xi_closed_forms(ax, sub.T.values.astype(float), point_parameters(sub, spec), rate)
    ax.set_title(f"Growing length on the spatially coupled FP (rate: {rate})")
    return _finish(fig, ax, _notes(missing_note(sub), units), where)


@_register("xi-spreading", "Paper 000 Sec. V C in time: the decay length of a heated region's change as it "
           "spreads, against the stationary xi", "meanfield-fp-spatial", ("xi_t", "xi_linear"))
def spreading_plot(ds, spec, sel):
    """xi_t (the decay length fitted to the profile at each time after the region is heated,
    time-dependent Eqs. 5, 6 at every site) over the linear theory's xi, against t Gamma; one
    line per temperature."""
    sub, where = select(ds, spec, ("T",), sel)
    spread, _ = done_mean(sub.xi_t, sub.status)
    linear, _ = done_mean(sub.xi_linear, sub.status)
    fig, ax = plt.subplots()
    for T in sub.T.values:
        ax.plot(sub.time.values, spread.sel(T=T) / linear.sel(T=T), "o-", ms=3, label=f"T = {T:g}")
    ax.axhline(1.0, color="0.4", lw=0.8, label=r"stationary: linearised Eqs. (6), (8)")
    ax.set_xscale("log")
    ax.set_xlabel(r"$t\,\Gamma$ (since the region was heated)")
    ax.set_ylabel(r"$\xi(t)/\xi$")
    ax.set_title("Spreading of a heated region (spatially coupled FP)")
    return _finish(fig, ax, missing_note(sub), where)


# ---- paper 000's rule on the lattice against the mean field ----------------------------------
def _lattice_against_mean_field(ds, spec, sel):
    """The slice over T, the replica means of gamma and of the coupling the rule simulated,
    and the point's model parameters with the physical ones of the mean field."""
    sub, where, gamma, gamma_err, _ = _gamma_vs_t(ds, spec, sel)
    alpha, _ = done_mean(sub.alpha_simulated, sub.status)
    return sub, where, gamma, gamma_err, alpha.values, point_parameters(sub, spec)


#: Finite-size margin of the lattice Gamma against the FP at the simulated alpha (measured
#: at L = 16 and 32 from T = 1 to 0.3: within 2%, tests/test_lattice_coupling.py).
LATTICE_FP_MARGIN = 0.02


@_register("gamma-lattice-fp", "Paper 000 on the lattice: Gamma(T) of the baron-biroli rule against the "
           "Fokker-Planck Gamma at the alpha the rule simulates", "lattice", ("gamma", "alpha_simulated"))
def gamma_lattice_fp(ds, spec, sel):
    """The lattice's Gamma(T) and the stationary FP (Eq. 8, exact rate) at each temperature's
    simulated alpha (replica mean); the note names the highest T below which they part by
    more than 3 standard errors plus the 2% finite-size margin."""
    sub, where, gamma, err, alphas, params = _lattice_against_mean_field(ds, spec, sel)
    temps = sub.T.values.astype(float)
    fp = np.array([solve_stationary({**params, "T": T, "alpha": a}).gamma if np.isfinite(a) else np.nan
                   for T, a in zip(temps, alphas)])
    fig, ax = plt.subplots()
    ax.errorbar(temps, gamma, yerr=err.fillna(0), fmt="o", label="lattice (baron-biroli)")
    ax.plot(temps, fp, "s-", mfc="none", label=r"FP, exact $\nu$, at the simulated $\alpha$")
    parted = np.abs(gamma.values - fp) > 3 * err.fillna(0).values + LATTICE_FP_MARGIN * fp
    note = ""
    if parted.any():
        below = temps[parted].max()
        ax.axvspan(temps.min() / 1.2, below * 1.05, color="0.92", zorder=0, label="lattice and FP part")
        note = f"the lattice parts from the mean field at T <= {below:g} (beyond 3 s.e. + {LATTICE_FP_MARGIN:.0%})"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$T$ [energy]")
    ax.set_ylabel(r"$\Gamma$ [$1/\tau$]")
    alpha_range = f"{np.nanmin(alphas):.3g}" if np.nanmax(alphas) - np.nanmin(alphas) < 0.01 * np.nanmax(alphas) \
        else f"{np.nanmin(alphas):.3g} to {np.nanmax(alphas):.3g}"
    ax.set_title(rf"Lattice against mean field, simulated $\alpha$ = {alpha_range}, L = {params['L']:g}")
    return _finish(fig, ax, _notes(missing_note(sub), note), where)


@_register("xi-lattice", "Paper 000 Secs. V C, VI C on the lattice: the activity's correlation length against the "
           "mean field's xi at the simulated alpha and m", "lattice", ("xi_activity", "alpha_simulated", "m_simulated"))
def xi_lattice(ds, spec, sel):
    """xi_activity(T) (Ornstein-Zernike length of the activity field, lattice spacings; errors
    from the replicas' scatter, or a single replica's jackknife; its systematic error not
    drawn) with a power-law fit over the
    colder half of the temperatures (at least three), against the mean field's exact xi
    (linearised Eqs. 6, 8) and the corrected Eq. (23) at each temperature's simulated alpha,
    in lattice spacings through the simulated m (xi = (xi/sqrt(m)) sqrt(m))."""
    sub, where, _, _, alphas, params = _lattice_against_mean_field(ds, spec, sel)
    xi, xi_err = done_mean(sub.xi_activity, sub.status)
    jackknife, _ = done_mean(sub.xi_activity_err, sub.status)  # one replica: its own (jackknife) error
    xi_err = xi_err.fillna(jackknife)
    m, _ = done_mean(sub.m_simulated, sub.status)
    temps = sub.T.values.astype(float)
    exact = np.array([growing_length({**params, "T": T, "alpha": a}).xi * math.sqrt(mm)
                      if np.isfinite(a) and mm > 0 else np.nan for T, a, mm in zip(temps, alphas, m.values)])
    fig, ax = plt.subplots()
    ax.errorbar(temps, xi, yerr=xi_err.fillna(0), fmt="o", label=r"lattice: $\xi$ of the activity")
    ax.plot(temps, exact, "s-", mfc="none", label=r"mean field, exact (Eqs. 6, 8) $\times\sqrt{m}$")
    low = temps <= 0.1
    if low.any() and not theory.units_mismatch(params):
        ax.plot(temps[low], [theory.xi_low_t(T, a, params["a"]) * math.sqrt(mm)
                             for T, a, mm in zip(temps[low], alphas[low], m.values[low])], "--",
                label=r"Eq. (23) corrected $\times\sqrt{m}$, $\sim T^{-1/2}$")
    note = ""
    ok = np.isfinite(xi.values) & np.isfinite(xi_err.values) & (xi_err.values > 0)
    coldest = np.flatnonzero(ok)[np.argsort(temps[ok])][: max(3, (int(ok.sum()) + 1) // 2)]  # colder half, >= 3
    cold = np.isin(np.arange(temps.size), coldest)
    if cold.sum() >= 3:
        logs = np.log(xi.values[cold])
        (slope, intercept), cov = np.polyfit(np.log(temps[cold]), logs, 1, w=xi.values[cold] / xi_err.values[cold],
                                             cov="unscaled")
        line = np.geomspace(temps[cold].min(), temps[cold].max(), 20)
        ax.plot(line, np.exp(intercept) * line**slope, "k:",
                label=rf"fit $\propto T^{{-\nu}}$: $\nu$ = {-slope:.2f} $\pm$ {math.sqrt(cov[0, 0]):.2f} (Eq. 24: 1/2)")
    else:
        note = "too few temperatures with a finite xi for the low-T fit"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$T$ [energy]")
    ax.set_ylabel(r"$\xi$ [lattice spacings]")
    ax.set_title(f"Growing length on the lattice, L = {params['L']:g}")
    return _finish(fig, ax, _notes(missing_note(sub), note), where)


@_register("arrhenius", "Paper 000 Fig. 3b: Arrhenius plot with the low-T law", "meanfield", ("gamma",))
def arrhenius_plot(ds, spec, sel):
    sub, where, mean, err, point = _gamma_vs_t(ds, spec, sel)
    params = _params(spec, point)
    temps = np.geomspace(sub.T.values.min(), sub.T.values.max(), 60)
    fig, ax = plt.subplots()
    ax.errorbar(1 / sub.T, mean, yerr=err.fillna(0), fmt="x", label="simulation")
    ax.plot(1 / temps, _fp_curve(spec, point, temps), "-", label=r"FP, exact $\nu$")
    units = theory.units_mismatch(params)
    try:
        low = temps[temps <= 0.1]
        if not units:
            ax.plot(1 / low, [theory.gamma_low_t(T, params["alpha"], params["a"]) for T in low], "--",
                    label=rf"Eq. (22) corrected: $T^2 e^{{-{theory.e_bar(params['alpha'], params['a']):.3f}/T}}$")
    except ValueError:
        pass
    try:
        fit = fit_store("arrhenius", sub, spec)
        ax.plot(1 / fit.T, fit.fit.values, "k:", label=rf"fit $A e^{{-E/T}}$: $E$ = {float(fit.E):.3f} $\pm$ {float(fit.E_err):.3f}")
    except (ValueError, RuntimeError):
        pass
    ax.set_yscale("log")
    ax.set_xlabel(r"$1/T$ [1/energy]")
    ax.set_ylabel(r"$\Gamma$ [$1/\tau$]")
    ax.set_title("Arrhenius plot")
    return _finish(fig, ax, _notes(missing_note(sub), units), where)


# ---- paper 002: lattice panels -------------------------------------------------------------
#: Paper 002's Arrhenius law for the activity, a = 3.1 exp(-0.48/T) (Fig. 2 caption).
PAPER002_ARRHENIUS = (3.1, 0.48)


def _activity(point: xr.Dataset) -> float:
    return float(point.activity.where(point.status == 1).mean())


def _points(ds: xr.Dataset):
    """(label, point) for every grid point of a store but its replicas (a reference store)."""
    axes = [d for d in ds.status.dims if d != "replica"]
    for idx in np.ndindex(*[ds.sizes[a] for a in axes]):
        point = ds.isel(dict(zip(axes, idx)))
        yield ", ".join(f"{a} = {float(point[a]):.3g}" for a in axes), point


def _curve(ax, point, var, x_dim, scale, logy, **style):
    mean, err = done_mean(point[var], point.status)
    if x_dim == "lag":
        longest = longest_reliable_lag(point)
        mean, err = mean.where(mean.lag <= longest), err.where(err.lag <= longest)
    x = point[x_dim].values
    if scale is not None:
        x, mean, err = scale(point, x, mean, err)
    err = err.fillna(0)
    if logy:  # empty bins are gaps on a log axis, and no error bar reaches down to it
        mean = mean.where(mean > 0)
        return ax.errorbar(x, mean, yerr=np.stack([np.minimum(err, 0.9 * mean), err]), **style)
    return ax.errorbar(x, mean, yerr=err, **style)


def _lattice_curves(ds, spec, sel, var: str, xlabel: str, ylabel: str, title: str, logx=True, logy=False,
                    x_dim: str = "lag", scale: Callable | None = None, reference: xr.Dataset | None = None):
    """One curve per temperature (circles; open where not shown stationary) and, from a
    reference store (e.g. the random model), one grey curve per grid point (triangles)."""
    sub, where = select(ds, spec, ("T",), sel)
    fig, ax = plt.subplots()
    for T in sub.T.values:
        point = sub.sel(T=T)
        if not bool((point.status == 1).any()):  # missing_note counts it
            continue
        settled = not bool(unsettled(point))
        _curve(ax, point, var, x_dim, scale, logy, fmt="o-", lw=1, mfc=None if settled else "none",
               label=f"$T$ = {T:g}" + ("" if settled else " (not stationary)"))
    if reference is not None and var in reference:
        for label, point in _points(reference):
            _curve(ax, point, var, x_dim, scale, logy, fmt="^-", lw=0.8, color="grey", mfc="none",
                   label=f"reference: {label}")
    ax.set_xscale("log" if logx else "linear")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig, ax, sub, where


#: The ``gid`` of a guide line (a power law to compare slopes with, not data).
GUIDE = "guide"


def _guide(ax, x0: float, y0: float, power: float, decades: float, label: str, style: str = "k--") -> None:
    """A power-law guide y0 (x/x0)^power over ``decades`` from x0 (negative: towards smaller
    x), kept within the x and y range of the data drawn so far (a guide beyond the data
    would only stretch the axes)."""
    xs = x0 * np.logspace(min(0.0, decades), max(0.0, decades), 50)
    ys = y0 * (xs / x0) ** power
    data_x, data_y = _data_extent(ax)
    if data_x.size:
        keep = (xs >= data_x.min()) & (xs <= data_x.max()) & (ys >= data_y.min()) & (ys <= data_y.max())
        xs, ys = xs[keep], ys[keep]
    if xs.size >= 2:
        ax.plot(xs, ys, style, lw=1, label=label, gid=GUIDE)


def _data_extent(ax) -> tuple[np.ndarray, np.ndarray]:
    """The finite, positive (x, y) of the data lines drawn so far (guides left out)."""
    xs, ys = [], []
    for line in (line for line in ax.lines if line.get_gid() != GUIDE):
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        xs.append(x[ok])
        ys.append(y[ok])
    return np.concatenate(xs) if xs else np.array([]), np.concatenate(ys) if ys else np.array([])


@_register("activity", "Paper 002: Arrhenius plot of the activity a(T), with the paper's 3.1 exp(-0.48/T)",
           "lattice", ("activity",))
def activity_arrhenius(ds, spec, sel):
    sub, where = select(ds, spec, ("T",), sel)
    mean, err = done_mean(sub.activity, sub.status)
    fig, ax = plt.subplots()
    ax.errorbar(1 / sub.T, mean, yerr=err.fillna(0), fmt="o", label="simulation")
    temps = np.geomspace(sub.T.values.min(), sub.T.values.max(), 60)
    prefactor, energy = PAPER002_ARRHENIUS
    ax.plot(1 / temps, prefactor * np.exp(-energy / temps), "k--", lw=1,
            label=rf"paper 002: ${prefactor:g}\,e^{{-{energy:g}/T}}$")
    try:
        fit = fit_store("arrhenius", sub, spec)
        ax.plot(1 / fit.T, fit.fit.values, "k:", label=rf"fit $A e^{{-E/T}}$: $A$ = {float(fit.A):.3g} $\pm$ "
                rf"{float(fit.A_err):.2g}, $E$ = {float(fit.E):.3f} $\pm$ {float(fit.E_err):.3f}")
    except (ValueError, RuntimeError):
        pass
    ax.set_yscale("log")
    ax.set_xlabel(r"$1/T$")
    ax.set_ylabel(r"activity $a$")
    ax.set_title("Activity against temperature")
    return _finish(fig, ax, missing_note(sub), where)


@_register("diffusion", "Paper 002 Fig. 2a: D(t) = MSD/(4t) (with --reference: the random model in grey)",
           "lattice", ("diffusion",))
def diffusion(ds, spec, sel, reference=None):
    fig, ax, sub, where = _lattice_curves(ds, spec, sel, "diffusion", r"$t$ [$\tau$]",
                                          r"$D(t) = \langle \Delta r^2 \rangle / 4t$", "Tracer diffusion", logy=True,
                                          reference=reference)
    tau_res = parameter(sub, spec, "tau_res")
    for x in (tau_res, 10 * tau_res):  # paper 002's regimes: I below tau_res, III well above
        ax.axvline(x, color="grey", lw=0.6, ls=":")
    x, y = _data_extent(ax)
    if x.size:
        _guide(ax, x.min(), y[x == x.min()].max(), 1.0, 1.0, r"ballistic (I): $D \propto t$", "k:")
    return _finish(fig, ax, missing_note(sub), where)


@_register("p-u", "Paper 002 Fig. 3a: P(u) rescaled by sqrt(a), guides u and u^-3", "lattice", ("p_u", "activity"))
def p_u(ds, spec, sel, reference=None):
    def rescale(point, x, mean, err):
        a = _activity(point)
        return x / np.sqrt(a), mean * np.sqrt(a), err * np.sqrt(a)

    fig, ax, sub, where = _lattice_curves(ds, spec, sel, "p_u", r"$u/\sqrt{a}$ [$1/\tau$]", r"$\sqrt{a}\,P(u)$ [$\tau$]",
                                          "Tracer displacements per unit time", logy=True, x_dim="u", scale=rescale,
                                          reference=reference)
    x, y = _data_extent(ax)
    if x.size:
        peak = x[np.argmax(y)]
        _guide(ax, peak / 3, y.max() / 3, 1.0, -1.5, r"$u^{d-1} = u$", "k:")
        _guide(ax, peak * 3, y.max() / 30, -3.0, 1.5, r"$u^{-3}$")
    return _finish(fig, ax, missing_note(sub), where)


@_register("psi", "Paper 002 Fig. 3b: psi(tau_ev) rescaled by a, guide (a tau_ev)^(-2/3)", "lattice",
           ("psi", "activity"))
def psi(ds, spec, sel, reference=None):
    def rescale(point, x, mean, err):
        a = _activity(point)
        return a * x, mean / a, err / a

    fig, ax, sub, where = _lattice_curves(ds, spec, sel, "psi", r"$a\,\tau_{ev}$", r"$\psi(\tau_{ev})/a$",
                                          "Waiting times between events of a site", logy=True, x_dim="tau_ev",
                                          scale=rescale, reference=reference)
    x, y = _data_extent(ax)
    if x.size:  # from the shortest rescaled waiting time, over two decades, above the data
        _guide(ax, x.min(), 3 * y[x == x.min()].max(), -2.0 / 3.0, 2.0, r"$(a\tau_{ev})^{-2/3}$")
    return _finish(fig, ax, missing_note(sub), where)


@_register("c-u", "Paper 002 Fig. 3c: C_u(t)", "lattice", ("c_u",))
def c_u(ds, spec, sel, reference=None):
    fig, ax, sub, where = _lattice_curves(ds, spec, sel, "c_u", r"$t$ [$\tau$]", r"$C_u(t)$",
                                          "Autocorrelation of tracer displacements", reference=reference)
    ax.axhline(0.0, color="grey", lw=0.6)
    return _finish(fig, ax, missing_note(sub), where)


@_register("ctrw", "Paper 002 Fig. 3c inset: the CTRW's event count N~(s) from psi", "lattice", ("psi",))
def ctrw(ds, spec, sel, reference=None):
    sub, where = select(ds, spec, ("T",), sel)
    prediction = ctrw_from_store(ds, spec, sel)
    fig, ax = plt.subplots()
    temps = prediction["T"].values if "T" in prediction.dims else [None]
    for T in temps:
        one = prediction.sel(T=T) if T is not None else prediction
        ax.loglog(one.s, one.n_laplace, "-", label="CTRW" if T is None else f"$T$ = {T:g}")
    s = prediction.s.values
    top = float(prediction.n_laplace.max())
    for power, style, label in ((2.0, "k--", r"$s^{-2}$ (diffusive)"), (5.0 / 3.0, "k:", r"$s^{-5/3}$")):
        ax.loglog(s, top * (s / s[0]) ** -power, style, lw=0.8, label=label)
    ax.set_ylim(float(prediction.n_laplace.min()) / 10, top * 10)
    ax.set_xlabel(r"$s$ [$1/\tau$]")
    ax.set_ylabel(r"$\tilde N(s) = \tilde\psi / s(1 - \tilde\psi)$")
    ax.set_title("CTRW with the measured waiting times")
    return _finish(fig, ax, missing_note(sub), where)


@_register("ctrw-msd", "Paper 002 Fig. 3c inset against the data: the CTRW's exponent of N(t) ~ t^beta from psi "
           "(lines, at t = 1/s) and the measured MSD's local exponent (points)", "lattice", ("psi", "msd"))
def ctrw_msd(ds, spec, sel, reference=None):
    sub, where = select(ds, spec, ("T",), sel)
    prediction = ctrw_from_store(ds, spec, sel)
    fig, ax = plt.subplots()
    for i, T in enumerate(prediction["T"].values):
        color = f"C{i}"
        one = prediction.sel(T=T)
        ax.semilogx(1 / one.s, one.count_exponent, "-", color=color, label=f"CTRW, $T$ = {T:g}")
        point = sub.sel(T=T)
        mean, _ = done_mean(point.msd, point.status)
        mean = mean.where((mean.lag <= longest_reliable_lag(point)) & (mean > 0)).dropna("lag")
        if mean.lag.size > 1:
            lags = mean.lag.values
            ax.semilogx(np.sqrt(lags[1:] * lags[:-1]), np.diff(np.log(mean.values)) / np.diff(np.log(lags)), "o",
                        color=color, ms=3, label=f"measured MSD, $T$ = {T:g}")
    ax.axhline(1.0, color="grey", lw=0.6, ls="--", label=r"diffusive, $\beta = 1$ ($\tilde N \sim s^{-2}$)")
    ax.axhline(2.0 / 3.0, color="grey", lw=0.6, ls=":", label=r"$\beta = 2/3$ ($\tilde N \sim s^{-5/3}$)")
    ax.set_ylim(-0.1, 2.2)
    ax.set_xlabel(r"$t$ or $1/s$ [$\tau$]")
    ax.set_ylabel(r"exponent $\beta$ of $N(t)$ and of the MSD $\sim t^\beta$")
    ax.set_title("CTRW prediction against the tracers")
    return _finish(fig, ax, missing_note(sub), where)


@_register("c-sigma", "Paper 002 Fig. 3d: C_sigma against a t", "lattice", ("c_sigma", "activity"))
def c_sigma(ds, spec, sel, reference=None):
    def rescale(point, x, mean, err):
        return _activity(point) * x, mean, err

    fig, ax, sub, where = _lattice_curves(ds, spec, sel, "c_sigma", r"$a\,t$", r"$C_\sigma(t)$",
                                          "Autocorrelation of local stresses", scale=rescale, reference=reference)
    return _finish(fig, ax, missing_note(sub), where)


def crossover_window(point: xr.Dataset, tau_res: float) -> tuple[float, float]:
    """Paper 002's regime II, the lags where D(t) falls at low T: from the peak of D(t)
    (after tau_res) over two decades."""
    mean, _ = done_mean(point.diffusion, point.status)
    mean = mean.where(mean.lag >= tau_res).dropna("lag")
    t_peak = float(mean.lag[int(np.argmax(mean.values))]) if mean.size else tau_res
    return t_peak, 100 * t_peak


def _s_q_collapse(ds, spec, sel, window: Callable[[xr.Dataset, float], tuple[float, float]], paper_t: float,
                  regime: str):
    """The collapse in the lag window ``window(point, tau_res)`` at the selected T, or at the
    store's T nearest the paper's figure (``paper_t``)."""
    sub, where = select(ds, spec, ("T",), sel)
    tau_res = parameter(sub, spec, "tau_res")
    temps = sub.T.values
    T = float(sel["T"]) if "T" in sel else float(temps[np.argmin(np.abs(temps - paper_t))])
    point = sub.sel(T=T, method="nearest")
    lags = window(point, tau_res)
    inside = (point.lag >= lags[0]) & (point.lag <= lags[1])
    good = point.s_q.where(point.status == 1).where(inside, drop=True)
    q = point.q.where(point.status == 1).mean("replica")
    fig, ax = plt.subplots()
    note = missing_note(sub)
    mean = good.mean("replica")
    xlabel = r"$q^n t$ [$\tau$, lattice units]"
    if good.sizes.get("lag", 0) == 0 or not np.isfinite(mean.values).any():
        note = _notes(note, "no data in this lag window (run longer or add lag levels)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$S(q, t)$")
        ax.plot([], [], label="no data")
        return _finish(fig, ax, note, where)
    try:
        fit = fits.stretched_exponential(good, q)
        n, g, scale = float(fit.n), float(fit.stretch), float(fit.scale)
        fit_label = (rf"$e^{{-c (q^n t)^\gamma}}$: $n$ = {n:.3f} $\pm$ {float(fit.n_err):.3f}," "\n"
                     rf"$\gamma$ = {g:.3f} $\pm$ {float(fit.stretch_err):.3f}, $c$ = {scale:.3g}")
    except Exception as err:  # too little decay in this window to fit
        n, g, scale, xlabel, fit_label = 1.0, None, None, r"$q t$", None
        note = _notes(note, f"no collapse fit: {err}")
    n_done = good.notnull().sum("replica")
    err = good.std("replica", ddof=1) / np.sqrt(n_done.where(n_done > 1))
    decaying = [k for k in point.k.values if float(mean.sel(k=k).min()) < 0.95 and float(mean.sel(k=k).max()) > 0.05]
    for k in (decaying or list(point.k.values))[:: max(1, len(decaying or point.k.values) // 7)]:
        x = q.sel(k=k).values ** n * good.lag.values
        ax.errorbar(x, mean.sel(k=k), yerr=err.sel(k=k).fillna(0), fmt="o", ms=3, label=f"$q$ = {float(q.sel(k=k)):.3g}")
    if fit_label:  # over the drawn points' range (the axis limits include margins)
        drawn = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.lines])
        drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
        xs = np.geomspace(drawn.min(), drawn.max(), 100)
        ax.plot(xs, np.exp(-scale * xs**g), "k--", label=fit_label)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$S(q, t)$")
    span = f"t \\geq {lags[0]:g}" if np.isinf(lags[1]) else f"{lags[0]:g} \\leq t \\leq {lags[1]:g}"
    ax.set_title(f"$S(q, t)$, {regime} regime (${span}$), $T$ = {T:g}")
    return _finish(fig, ax, note, where)


@_register("s-q-ballistic", "Paper 002 Fig. 2b: S(q, t) collapse, ballistic regime (t <= tau_res), T nearest 0.2",
           "lattice", ("s_q", "q"))
def s_q_ballistic(ds, spec, sel, reference=None):
    return _s_q_collapse(ds, spec, sel, lambda point, tau_res: (0.0, tau_res), 0.2, "ballistic")


@_register("s-q-crossover", "Paper 002 Fig. 2c: S(q, t) collapse, crossover regime (D(t) falling: its peak to "
           "100x later), T nearest 0.07", "lattice", ("s_q", "q", "diffusion"))
def s_q_crossover(ds, spec, sel, reference=None):
    return _s_q_collapse(ds, spec, sel, crossover_window, 0.07, "crossover")


@_register("s-q-diffusive", "Paper 002 Fig. 2d: S(q, t) collapse, diffusive regime (t >= 10 tau_res), T nearest 0.2",
           "lattice", ("s_q", "q"))
def s_q_diffusive(ds, spec, sel, reference=None):
    return _s_q_collapse(ds, spec, sel, lambda point, tau_res: (10 * tau_res, np.inf), 0.2, "diffusive")


#: Figures that overlay a reference store (paper 002's random model, grey in Figs. 2a and 3).
REFERENCE_KINDS = ("diffusion", "p-u", "psi", "c-u", "c-sigma")


def draw(kind: str, ds: xr.Dataset, spec: SweepSpec, sel: Mapping[str, float] | None = None,
         reference: xr.Dataset | None = None) -> plt.Figure:
    """One figure of a store; ``kind`` from :func:`supported`. ``reference`` (another store,
    e.g. the random model at matched activity) is overlaid where a figure supports it."""
    if kind not in FIGURES:
        raise KeyError(kind)
    with plt.rc_context(STYLE):
        if reference is not None and kind in REFERENCE_KINDS:
            return FIGURES[kind].draw(ds, spec, dict(sel or {}), reference)
        return FIGURES[kind].draw(ds, spec, dict(sel or {}))

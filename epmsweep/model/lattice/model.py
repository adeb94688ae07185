"""Model ``lattice``: the 2-D thermal elastoplastic model on a periodic L x L lattice.

Setting ``rules`` picks the dynamics:

* ``ferrero-thermal`` -- paper 002 (Ferrero, Martens, Barrat). Each site is inactive or
  active. Activation (Eq. 2): p_on = Gamma0 min(exp((sigma^2 - sigma_Y^2)/(2T)), 1);
  deactivation: p_off = 1/tau_res. An active site yields plastically at rate
  +-eps0/(divisor tau), the sign being that of the threshold crossed at activation
  (footnote 24), kept for the whole event; the stress follows Eq. (1),
  d sigma = 2 mu G * d eps_pl (:mod:`epmsweep.model.lattice.propagator`). Time is stepped by
  ``dt``: rates become per-step probabilities.
* ``ferrero-random`` -- paper 002's random model: activation is a Poisson process of
  fixed rate, chosen so that the mean fraction of active sites is the parameter
  ``activity`` (two-state chain: rate = activity / ((1 - activity) tau_res));
  everything else as above. Compare with the thermal rule at matched activity.
* ``baron-biroli`` -- paper 000's rule (Eqs. 1-4), event-driven in continuous time:
  barrier K (sigma_c - |sigma|)^a, rate nu/tau, stress redrawn from y(sigma), drop
  spread by a randomly oriented Eshelby kernel (:mod:`epmsweep.model.lattice.eventdriven`).
  The finite-dimensional model of the mean-field theory; it has no tracers (its
  outputs are Gamma, its windows, P(sigma), psi and C_sigma).

What paper 002 leaves unstated is explicit here:

* ``mu`` (parameter, default 1): with our kernel (far field cos 4 theta/(pi r^2)) an
  event of strain eps lowers its own site's stress by 2 mu |G_self| eps = 1.14 mu eps;
  paper 002's far field 2 cos 4 theta/(pi r^2) is twice ours, so our mu = 2 mu_paper.
* ``strain_divisor`` (setting, default 2, as printed): the plastic strain rate is
  eps0/(strain_divisor tau), i.e. eps0 tau_res/(strain_divisor tau) per event on average.
* ``channels`` (setting, default ``one``): ``one`` is Eq. (2) as printed, a single rate
  depending on sigma^2, with the sign of the nearer threshold, i.e. of sigma; ``two``
  treats +sigma_Y and -sigma_Y as independent channels, each with the printed barrier
  linearised at its threshold, Gamma0 min(exp(-sigma_Y (sigma_Y -+ sigma)/T), 1).
* ``stop_at_zero`` (setting, default false): paper 002 ends an event only at rate
  1/tau_res; with true an event also ends when the site's stress crosses zero against
  its sign (the event has released all its stress).
* ``dt`` (setting, default 0.025 tau): per-step probabilities Gamma0 dt <= 0.025. At
  T = 0.15, L = 32 (8 replicas of 300 tau) the activity is 0.06997(32), 0.07087(37),
  0.07054(33), 0.07059(68) for dt = 0.05, 0.025, 0.0125, 0.00625: from 0.025 on,
  halving dt changes it by less than its statistical error (also for the MSD; tested in
  ``tests/test_lattice.py``), while 0.05 is already biased by ~1%.

At low activity the stepping is *lazy* (:mod:`epmsweep.model.lattice.lazy`): plastic
strain stays pending and stresses are evaluated exactly only where the dynamics needs
them, with one materialisation of the field per sample; at high activity every step
updates the field, by shifted real-space kernels for a few active sites or by FFT.
All paths are exact and agree (tests).

Tracers (paper 002) are advected by the displacement field of the plastic strain
increments, interpolated bilinearly on the periodic lattice; positions are unwrapped.
Observables are streamed (:mod:`epmsweep.model.lattice.observables`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.fft

from epmsweep.model.core import (
    Coord,
    Field,
    InvalidInput,
    Model,
    Output,
    OutputSpec,
    Value,
)
from epmsweep.model.histogram import density, histogram_add, log_centres, log_edges
from epmsweep.model.lattice import kernels as lk
from epmsweep.model.lattice import lazy as lz
from epmsweep.model.lattice.eventdriven import simulate_events
from epmsweep.model.lattice.observables import TimeCorrelations, lag_grid
from epmsweep.model.lattice.propagator import FORMS, Q0_MODES, Propagator, eshelby
from epmsweep.model.rules import stress_coord, stress_edges

RULES = ("ferrero-thermal", "ferrero-random", "baron-biroli")

#: Use the FFT path when more than this many sites per log2(N) are active: one shifted
#: kernel costs ~N flops, one FFT step ~N log2 N (benchmarks/bench_lattice.py).
_FFT_SITES_PER_LOG2N = 1.5
#: Lazy stepping while at most this many sites per log2(N) are active: its cost per step
#: grows with the pending sites times the candidates (benchmarks/bench_lattice.py).
_LAZY_SITES_PER_LOG2N = 6.0


@dataclass
class _Config:
    rule: int
    T: float
    sigma_y: float
    gamma0: float
    rate_random: float
    two_channels: bool
    dt: float
    tau_res: float
    stop_at_zero: bool
    eps_step: float
    two_mu: float


class TimeSteppedLattice:
    """State and stepping of the paper 002 rules on one lattice (see the module docstring).

    Two exact modes, chosen every step by the number of active sites n: *dense* (the
    stress field is updated every step, by real-space kernel copies or by FFT when n
    exceeds ``fft_threshold``) and *lazy* at low activity (:mod:`epmsweep.model.lattice.lazy`:
    pending strain, exact stresses where needed, one materialisation per sample).
    ``sigma`` is current after :meth:`materialize`.
    """

    N_BINS = 64

    def __init__(self, prop: Propagator, cfg: _Config, rng: np.random.Generator, n_tracers: int, initial_std: float,
                 psi_edges: np.ndarray):
        L = prop.L
        n = L * L
        self.prop, self.cfg, self.rng = prop, cfg, rng
        self.sigma = initial_std * rng.standard_normal((L, L))
        self.active = np.zeros((L, L), np.int8)
        self.sign = np.zeros((L, L), np.int8)
        self.act = np.zeros(n, np.int64)
        self.new_act = np.zeros(n, np.int64)
        self.n_act = np.zeros(1, np.int64)
        self.d_eps = np.zeros(n)
        self.field = np.zeros((L, L))
        self.last_act = np.full((L, L), -1.0)
        self.pos = rng.random((n_tracers, 2)) * L
        self.disp = np.zeros((n_tracers, 2))
        self.s_max = float(np.abs(self.sigma).max())
        self.t_arr = np.zeros(1)
        self.psi_edges = psi_edges
        self.psi_counts = np.zeros(psi_edges.size + 1)
        self.fft_threshold = max(1, int(_FFT_SITES_PER_LOG2N * math.log2(n)))
        self.lazy_threshold = max(1, int(_LAZY_SITES_PER_LOG2N * math.log2(n)))
        self.stats = np.zeros(3)  # steps, sum of active sites over steps, activations
        # lazy mode: pending strain and |sigma| bins
        self.pend_site = np.zeros(n, np.int64)
        self.pend_eps = np.zeros(n)
        self.pend_idx = np.full(n, -1, np.int64)
        self.n_pend = np.zeros(1, np.int64)
        self.m = np.zeros(1)
        self.bin_start = np.zeros(self.N_BINS + 1, np.int64)
        self.bin_sites = np.zeros(n, np.int64)
        self.bin_top = np.zeros(self.N_BINS)
        self.bins_current = False
        self.g_scaled = cfg.two_mu * prop.g_q  # 2 mu G(q), for the FFT path
        off = np.abs(prop.g_r).copy()
        off[0, 0] = 0.0
        self.g_off = float(off.max())

    @property
    def t(self) -> float:
        return float(self.t_arr[0])

    def advance(self, n_steps: int, measuring: bool, allow_lazy: bool = True) -> None:
        """Advance by ``n_steps`` steps of dt (``stats`` records them)."""
        c = self.cfg
        left = n_steps
        while left > 0:
            if allow_lazy and self.n_act[0] <= self.lazy_threshold:
                if not self.bins_current:
                    lz.sort_into_bins(self.sigma, self.N_BINS, self.bin_start, self.bin_sites, self.bin_top)
                    self.bins_current = True
                left -= lz.lazy_steps(
                    left, self.lazy_threshold, self.sigma, self.active, self.sign, self.act, self.n_act, self.new_act,
                    self.pend_site, self.pend_eps, self.pend_idx, self.n_pend, self.bin_start, self.bin_sites,
                    self.bin_top, self.prop.g_r, self.g_off, c.two_mu, c.eps_step, self.m, self.pos, self.disp,
                    self.prop.uxy_r, self.d_eps, self.rng, c.rule, c.T, c.sigma_y, c.gamma0,
                    c.rate_random, c.two_channels, c.dt, c.tau_res, c.stop_at_zero, self.t_arr, self.last_act,
                    self.psi_edges, self.psi_counts, measuring, self.stats)
            else:
                self.materialize()
                self.step(measuring)
                left -= 1

    def materialize(self) -> None:
        """Apply the pending strain to the stress field (lazy mode); sigma is then current."""
        n = int(self.n_pend[0])
        if n == 0:
            return
        sites, eps = self.pend_site[:n], self.pend_eps[:n]
        if n > self.fft_threshold:
            lk.scatter(sites, eps, n, self.field)
            self.sigma += self.prop.stress_change(self.field, self.cfg.two_mu)
        else:
            lk.add_stress_real_space(self.sigma, self.prop.g_r, sites, eps, n, self.cfg.two_mu)
        self.pend_idx[sites] = -1
        self.n_pend[0] = 0
        self.m[0] = 0.0
        self.s_max = float(np.abs(self.sigma).max())
        self.bins_current = False

    def step(self, measuring: bool, force_fft: bool = False) -> int:
        """One dense step of dt (sigma must be current); returns the number of activations."""
        c, n = self.cfg, int(self.n_act[0])
        if n:
            lk.strain_increments(self.act, n, self.sign, c.eps_step, self.d_eps)
            if force_fft or n > self.fft_threshold:
                self._apply_fft(n)
            else:
                self.s_max = lk.add_stress_real_space(self.sigma, self.prop.g_r, self.act, self.d_eps, n, c.two_mu)
                if self.pos.shape[0]:
                    lk.move_tracers_real_space(self.pos, self.disp, self.prop.uxy_r, self.act, self.d_eps, n)
            self.bins_current = False
        self.t_arr[0] += c.dt
        new = lk.transitions(self.sigma, self.active, self.sign, self.act, self.n_act, self.new_act, self.rng, c.rule,
                             c.T, c.sigma_y, c.gamma0, c.rate_random, c.two_channels, c.dt, c.tau_res,
                             c.stop_at_zero, self.s_max, self.t, self.last_act, self.psi_edges, self.psi_counts,
                             measuring)
        self.stats += (1, self.n_act[0], new)
        return new

    def _apply_fft(self, n: int) -> None:
        lk.scatter(self.act, self.d_eps, n, self.field)
        f = scipy.fft.rfft2(self.field)
        if self.pos.shape[0]:
            ux = scipy.fft.irfft2(self.prop.ux_q * f, s=self.field.shape)
            uy = scipy.fft.irfft2(self.prop.uy_q * f, s=self.field.shape)
            lk.move_tracers_field(self.pos, self.disp, ux, uy)
        f *= self.g_scaled
        self.s_max = lk.add_field(self.sigma, scipy.fft.irfft2(f, s=self.field.shape))


LATTICE_PARAMETERS: dict[str, Field] = {
    "T": Field(0.1, "temperature (k_B = 1)", "energy", float, 0.0, None, lower_open=True),
    "eps0": Field(1.0, "plastic strain scale of an event: strain rate eps0/(strain_divisor tau)", "1", float, 0.0, None),
    "L": Field(64, "linear lattice size (L x L sites, periodic)", "1", int, 4, 4096),
    "mu": Field(1.0, "elastic modulus in d sigma = 2 mu G * d eps_pl (our mu = 2 mu of paper 002's kernel)", "stress",
                float, 0.0, None),
    "tau_res": Field(1.0, "mean duration of an event (deactivation rate 1/tau_res)", "time", float, 0.0, None, lower_open=True),
    "sigma_Y": Field(1.0, "local yield stress in the activation rule", "stress", float, 0.0, None),
    "Gamma0": Field(1.0, "attempt frequency: activation rate cap", "1/time", float, 0.0, None, lower_open=True),
    "tau": Field(1.0, "time unit: strain rate eps0/(strain_divisor tau) (paper 002); relaxation rate nu/tau (paper 000)",
                 "time", float, 0.0, None, lower_open=True),
    "a": Field(1.5, "baron-biroli only: barrier exponent in dE = K (sigma_c - |sigma|)^a", "1", float, 0.0, None,
               lower_open=True),
    "K": Field(1.0, "baron-biroli only: barrier scale", "energy", float, 0.0, None, lower_open=True),
    "sigma_c": Field(1.0, "baron-biroli only: local yield stress", "stress", float, 0.0, None, lower_open=True),
    "sigma_0": Field(1.0, "baron-biroli only: decay scale of the redraw density y(sigma)", "stress", float, 0.0, None,
                     lower_open=True),
    "activity": Field(0.01, "random model only: prescribed mean fraction of active sites", "1", float, 0.0, 1.0,
                      lower_open=True, upper_open=True),
}

LATTICE_SETTINGS: dict[str, Field] = {
    "rules": Field("ferrero-thermal", "dynamics: 'ferrero-thermal' (paper 002, Eq. 2), 'ferrero-random' (its random "
                   "model) or 'baron-biroli' (paper 000, Eqs. 1-4, event-driven)", kind=str, choices=RULES),
    "event_method": Field("auto", "baron-biroli: 'auto', 'thinning' (O(1)/proposal) or 'direct' (O(N)/event)", kind=str,
                          choices=("auto", "thinning", "direct")),
    "propagator": Field("continuum", "Eshelby kernel: 'continuum' q or 'lattice' 2 sin(q/2)", kind=str, choices=FORMS),
    "q0_mode": Field("fixed-strain", "q = 0 mode: 'fixed-strain' (G(0) = -1) or 'conserved' mean stress (G(0) = 0)",
                     kind=str, choices=Q0_MODES),
    "channels": Field("one", "thresholds +-sigma_Y: 'one' rate in sigma^2 (as printed) or 'two' independent channels",
                      kind=str, choices=("one", "two")),
    "strain_divisor": Field(2.0, "plastic strain rate of an active site is eps0/(strain_divisor tau)", "1", float, 0.0,
                            None, lower_open=True),
    "stop_at_zero": Field(False, "also end an event when the stress crosses zero against its sign", kind=bool),
    "dt": Field(0.025, "time step", "time", float, 0.0, None, lower_open=True),
    "burn_in": Field(50.0, "time before measuring", "time", float, 0.0, None),
    "duration": Field(200.0, "measurement time", "time", float, 0.0, None, lower_open=True),
    "n_windows": Field(20, "windows of the activity trace a(t)", "1", int, 1, 100_000),
    "initial_std": Field(0.3, "standard deviation of the initial Gaussian stresses", "stress", float, 0.0, None),
    "n_tracers": Field(500, "number of tracer particles", "1", int, 0, 10_000_000),
    "sample_interval": Field(0.1, "sampling interval of tracers and stresses (a multiple of dt)", "time", float, 0.0,
                             None, lower_open=True),
    "lag_levels": Field(4, "decades of the log-spaced lag grid (9 lags each, from sample_interval)", "1", int, 1, 12),
    "q_modes": Field(16, "S(q, t) at q = 2 pi k / L for k = 1..q_modes", "1", int, 1, 4096),
    "n_probes": Field(256, "sites whose stress enters C_sigma", "1", int, 1, 10_000_000),
    "u_interval": Field(1.0, "time over which tracer displacements enter P(u) (a multiple of sample_interval)", "time",
                        float, 0.0, None, lower_open=True),
    "u_min": Field(1e-4, "lowest edge of the log-spaced P(u) bins", "1/time", float, 0.0, None, lower_open=True),
    "u_max": Field(10.0, "highest edge of the P(u) bins", "1/time", float, 0.0, None, lower_open=True),
    "u_bins": Field(40, "number of P(u) bins", "1", int, 1, 10_000),
    "psi_min": Field(0.05, "lowest edge of the log-spaced waiting-time bins", "time", float, 0.0, None, lower_open=True),
    "psi_max": Field(1e5, "highest edge of the waiting-time bins", "time", float, 0.0, None, lower_open=True),
    "psi_bins": Field(40, "number of waiting-time bins", "1", int, 1, 10_000),
    "p_sigma_min": Field(-2.0, "lower edge of the P(sigma) bins", "stress"),
    "p_sigma_max": Field(2.0, "upper edge of the P(sigma) bins", "stress"),
    "p_sigma_bins": Field(80, "number of equal P(sigma) bins", "1", int, 1, 100_000),
}


def _steps(interval: float, dt: float, what: str) -> int:
    n = round(interval / dt)
    if n < 1 or abs(n * dt - interval) > 1e-9 * max(interval, 1.0):
        raise InvalidInput(f"{what} = {interval:g} must be a positive multiple of dt = {dt:g}")
    return n


class Lattice(Model):
    """2-D lattice thermal EPM with tracers (paper 002); see the module docstring."""

    name = "lattice"
    description = "2-D lattice thermal EPM with tracers: paper 002's thermal and random rules"
    parameters = LATTICE_PARAMETERS
    settings = LATTICE_SETTINGS

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        if settings["rules"] == "baron-biroli":
            interval = float(settings["sample_interval"])
            if float(settings["duration"]) < interval:
                raise InvalidInput(f"duration = {settings['duration']:g} is shorter than sample_interval = {interval:g}")
        dt = float(settings["dt"])
        rate_cap = float(params["Gamma0"]) * (2.0 if settings["channels"] == "two" else 1.0)
        if settings["rules"] == "ferrero-random":
            rate_cap = _random_rate(params)
        if rate_cap * dt > 0.2:
            raise InvalidInput(f"dt = {dt:g} is too large for an activation rate up to {rate_cap:g}: rate*dt must be <= 0.2")
        if dt / float(params["tau_res"]) > 0.2:
            raise InvalidInput(f"dt = {dt:g} is too large for tau_res = {params['tau_res']:g}: dt/tau_res must be <= 0.2")
        per_sample = _steps(float(settings["sample_interval"]), dt, "sample_interval")
        _steps(float(settings["u_interval"]), dt * per_sample, "u_interval")
        for lo, hi in (("u_min", "u_max"), ("psi_min", "psi_max"), ("p_sigma_min", "p_sigma_max")):
            if float(settings[lo]) >= float(settings[hi]):
                raise InvalidInput(f"{lo} = {settings[lo]:g} must be below {hi} = {settings[hi]:g}")
        if settings["rules"] != "baron-biroli" and int(settings["q_modes"]) > int(params["L"]) // 2:
            raise InvalidInput(f"q_modes = {settings['q_modes']} exceeds L/2 = {int(params['L']) // 2}")
        if int(settings["n_probes"]) > int(params["L"]) ** 2:
            raise InvalidInput(f"n_probes = {settings['n_probes']} exceeds the L^2 = {int(params['L']) ** 2} sites")

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        lags = lag_grid(float(settings["sample_interval"]), int(settings["lag_levels"]))
        u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
        psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
        n_windows = int(settings["n_windows"])
        if settings["rules"] == "baron-biroli":
            v = {
                "gamma": Output((), "float64", "1/time", "plastic activity Gamma: events per site per unit time"),
                "gamma_t": Output(("window",), "float64", "1/time", "activity in consecutive windows"),
                "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
                "events": Output((), "int64", "1", "events during the measurement"),
                "c_sigma": Output(("lag",), "float64", "1", "local stress autocorrelation C_sigma(lag)"),
                "psi": Output(("tau_ev",), "float64", "1/time", "density of waiting times between relaxations of a site"),
                "p_sigma": Output(("sigma",), "float64", "1/stress", "stationary local stress density P(sigma)"),
            }
            coords = {
                "window": Coord(np.arange(n_windows), "1", "measurement window index"),
                "lag": Coord(lags, "time", "time lag"),
                "tau_ev": Coord(log_centres(psi_edges), "time", "waiting time (bin centre)"),
                "sigma": stress_coord(settings),
            }
            return OutputSpec(v, coords)
        v = {
            "activity": Output((), "float64", "1", "mean fraction of active sites a"),
            "activity_t": Output(("window",), "float64", "1", "fraction of active sites in consecutive windows"),
            "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
            "events": Output((), "int64", "1", "activations during the measurement"),
            "msd": Output(("lag",), "float64", "1", "tracer mean-square displacement (lattice units squared)"),
            "diffusion": Output(("lag",), "float64", "1/time", "D(lag) = MSD/(4 lag)"),
            "s_q": Output(("lag", "k"), "float64", "1", "self intermediate scattering function S(q, lag)"),
            "q": Output(("k",), "float64", "1", "wave number 2 pi k / L (inverse lattice units)"),
            "c_u": Output(("lag",), "float64", "1", "tracer displacement autocorrelation C_u(lag)"),
            "c_sigma": Output(("lag",), "float64", "1", "local stress autocorrelation C_sigma(lag)"),
            "p_u": Output(("u",), "float64", "time", "density of tracer displacement per unit time |u|"),
            "psi": Output(("tau_ev",), "float64", "1/time", "density of waiting times between activations of a site"),
            "p_sigma": Output(("sigma",), "float64", "1/stress", "stationary local stress density P(sigma)"),
        }
        coords = {
            "window": Coord(np.arange(n_windows), "1", "measurement window index"),
            "lag": Coord(lags, "time", "time lag"),
            "k": Coord(np.arange(1, int(settings["q_modes"]) + 1), "1", "wave number index: q = 2 pi k / L"),
            "u": Coord(log_centres(u_edges), "1/time", "tracer displacement per unit time (bin centre)"),
            "tau_ev": Coord(log_centres(psi_edges), "time", "waiting time (bin centre)"),
            "sigma": stress_coord(settings),
        }
        return OutputSpec(v, coords)

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        if settings["rules"] == "baron-biroli":
            return simulate_events(params, settings, rng)
        return simulate_time_stepped(params, settings, rng)


def _random_rate(params: Mapping[str, Value]) -> float:
    """Activation rate giving mean active fraction a: a = r tau_res / (1 + r tau_res)."""
    a = float(params["activity"])
    return a / ((1.0 - a) * float(params["tau_res"]))


def simulate_time_stepped(params: Mapping[str, Value], settings: Mapping[str, Value],
                          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Burn-in, then measurement with streamed observables; one validated point."""
    L, dt = int(params["L"]), float(settings["dt"])
    cfg = _Config(
        rule=lk.RANDOM if settings["rules"] == "ferrero-random" else lk.THERMAL,
        T=float(params["T"]), sigma_y=float(params["sigma_Y"]), gamma0=float(params["Gamma0"]),
        rate_random=_random_rate(params), two_channels=settings["channels"] == "two", dt=dt,
        tau_res=float(params["tau_res"]), stop_at_zero=bool(settings["stop_at_zero"]),
        eps_step=float(params["eps0"]) * dt / (float(settings["strain_divisor"]) * float(params["tau"])),
        two_mu=2.0 * float(params["mu"]),
    )
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
    s_edges = stress_edges(settings)
    prop = eshelby(L, str(settings["propagator"]), str(settings["q0_mode"]))
    n_tracers = int(settings["n_tracers"])
    sim = TimeSteppedLattice(prop, cfg, rng, n_tracers, float(settings["initial_std"]), psi_edges)
    probes = rng.choice(L * L, size=int(settings["n_probes"]), replace=False)

    per_sample = _steps(float(settings["sample_interval"]), dt, "sample_interval")
    per_u = _steps(float(settings["u_interval"]), dt * per_sample, "u_interval")
    n_burn = round(float(settings["burn_in"]) / dt)
    sim.advance(n_burn, False)
    sim.stats[:] = 0.0

    corr = TimeCorrelations(n_tracers, probes.size, int(settings["lag_levels"]), float(settings["sample_interval"]),
                            int(settings["q_modes"]), float(L))
    n_samples = max(1, round(float(settings["duration"]) / (dt * per_sample)))
    n_windows = int(settings["n_windows"])
    window_of_sample = (np.arange(n_samples) * n_windows) // n_samples
    active_sum, steps_in = np.zeros(n_windows), np.zeros(n_windows)
    t_start = sim.t
    u_counts = np.zeros(u_edges.size + 1)
    s_counts = np.zeros(s_edges.size + 1)
    ring = np.repeat(sim.pos[None], per_u, axis=0)  # positions at the last per_u samples
    last_pos = sim.pos.copy()
    for sample in range(1, n_samples + 1):
        before = sim.stats.copy()
        sim.advance(per_sample, True)
        sim.materialize()
        w = window_of_sample[sample - 1]
        steps_in[w] += sim.stats[0] - before[0]
        active_sum[w] += sim.stats[1] - before[1]
        corr.sample(sim.pos, sim.pos - last_pos, sim.sigma.ravel()[probes])
        last_pos[:] = sim.pos
        histogram_add(sim.sigma, s_edges, s_counts, 1.0)
        if n_tracers:
            slot = sample % per_u
            if sample >= per_u:
                u = np.hypot(*(sim.pos - ring[slot]).T) / float(settings["u_interval"])
                histogram_add(u, u_edges, u_counts, 1.0)
            ring[slot] = sim.pos
    n_sites = L * L
    activity_t = active_sum / (steps_in * n_sites)
    window_edges = t_start + dt * np.concatenate([[0], np.cumsum(steps_in)])
    events = int(sim.stats[2])
    out = corr.results()
    return {
        "activity": active_sum.sum() / (steps_in.sum() * n_sites),
        "activity_t": activity_t,
        "t_window": 0.5 * (window_edges[1:] + window_edges[:-1]),
        "events": events,
        "q": 2 * np.pi * np.arange(1, int(settings["q_modes"]) + 1) / L,
        "p_u": density(u_counts, u_edges),
        "psi": density(sim.psi_counts, psi_edges),
        "p_sigma": density(s_counts, s_edges),
        **out,
    }


__all__ = ["Lattice", "TimeSteppedLattice"]

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
  ``target_activity`` a (two-state chain: rate = a / ((1 - a) tau_res));
  everything else as above. Compare with the thermal rule at matched activity.
* ``baron-biroli`` -- paper 000's rule (Eqs. 1-4), event-driven in continuous time:
  barrier K (sigma_c - |sigma|)^a, rate nu/tau, stress redrawn from y(sigma), drop
  spread by a randomly oriented Eshelby kernel (:mod:`epmsweep.model.lattice.eventdriven`).
  The finite-dimensional model of the mean-field theory; it has no tracers (its
  outputs are Gamma, its windows, P(sigma), psi, C_sigma, the coupling alpha and m it
  simulates, and the activity's structure factor and correlation length). Setting
  ``coupling``: ``"kernel"`` spreads the drop with the kernel times the parameter
  ``kick_scale`` (1: paper 000's rule); ``"alpha"`` tunes the kick scale so that the
  simulated alpha is the parameter ``alpha``, as in the mean-field models.

What paper 002 leaves unstated is explicit here:

* ``mu`` (parameter, default 1): the elastic modulus in d sigma = 2 mu G * d eps_pl. Paper
  002 prints neither its G(q) nor its self term, only a far field 2 cos 4 theta/(pi r^2)
  (ours is cos 4 theta/(pi r^2)), so its mu cannot be mapped onto ours: with our kernel
  an event of strain eps lowers its own site's stress by 2 mu |G_self| eps = 1.14 mu eps.
* ``strain_divisor`` (setting, default 2, as printed): the plastic strain rate is
  eps0/(strain_divisor tau), i.e. eps0 tau_res/(strain_divisor tau) per event on average.
* ``stop_at_zero`` (setting, default false): paper 002 ends an event only at rate
  1/tau_res; with true an event also ends when the site's stress crosses zero against its
  sign. This is a different model, not a reading of the paper: events release less
  strain, and at L = 64 the stationary activity is 80 times lower at T = 0.1 (1.86e-4
  against 0.0148) and 57 times lower at T = 0.2 (2.26e-3 against 0.1287).
* ``dt`` (setting, default 0.025 tau): per-step probabilities Gamma0 dt <= 0.025. At
  T = 0.15, L = 32 (8 replicas of 300 tau) the activity is 0.06997(32), 0.07087(37),
  0.07054(33), 0.07059(68) for dt = 0.05, 0.025, 0.0125, 0.00625: from 0.025 on,
  halving dt changes it by less than its statistical error (also for the MSD; tested in
  ``tests/test_lattice.py``), while 0.05 is already biased by ~1%.

The stepping (:mod:`epmsweep.model.lattice.transitions`) keeps each site's stress as a
straight line in time between changes of the active set (:mod:`epmsweep.model.lattice.field`):
exact in O(1) wherever the dynamics needs it, at one pass over the lattice per activation
or deactivation rather than per step (an FFT recomputation when many sites change at
once); activations are drawn by thinning over sites binned by |sigma|
(:mod:`epmsweep.model.lattice.bins`). The lattice starts cold (sigma = 0): a random start
would put stress in the modes where G(q) = 0, which never relax
(:mod:`epmsweep.model.lattice.propagator`). Burn-in and measurement lengths are chosen by
the run by default (:mod:`epmsweep.model.run_length`), and the measurement goes on until
every observable named by ``measure_until`` is measured
(:mod:`epmsweep.model.lattice.longtime`).

Tracers (paper 002) are advected by the displacement field of the plastic strain,
interpolated bilinearly on the periodic lattice; positions are unwrapped. Between two
changes of the active set their velocities are constant, so their displacements are
integrated exactly per change (:mod:`epmsweep.model.lattice.tracers`), not per step.
Observables are streamed and sampled only at the lags they use
(:mod:`epmsweep.model.lattice.observables`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from epmsweep.model.core import TIME_MEAN, Coord, Field, InvalidInput, Model, Output, OutputSpec, Value
from epmsweep.model.histogram import log_centres, log_edges
from epmsweep.model.jit import cache_own_types_only
from epmsweep.model.lattice.activation import RandomActivation, ThermalOneChannel, rate_bound
from epmsweep.model.lattice.eventdriven import simulate_events
from epmsweep.model.lattice.longtime import DRIVERS, drivers
from epmsweep.model.lattice.observables import BLOCK, ActivityStructure, lag_grid, wave_numbers
from epmsweep.model.lattice.propagator import DISPLACEMENT_PER_STRAIN, FORMS, Q0_MODES
from epmsweep.model.lattice.stepped import simulate_time_stepped, steps_per
from epmsweep.model.rules import PHYSICAL_PARAMETERS, RULE_PARAMETERS, stress_coord
from epmsweep.model.run_length import BLOCKS_PER_WINDOW, RunLength, run_length_outputs, run_length_settings


@dataclass(frozen=True)
class LatticeRule:
    """A dynamics of the ``lattice`` model, selected by the setting ``rules``.

    ``uses``: the parameters it reads (the others are refused as sweep axes).
    ``activation``: for a time-stepped rule, builds its activation rule
    (:mod:`epmsweep.model.lattice.activation`) from the point's parameters and settings;
    None for paper 000's event-driven rule.
    """

    name: str
    doc: str
    uses: frozenset[str]
    activation: Callable[[Mapping[str, Value], Mapping[str, Value]], tuple] | None


#: Parameters every time-stepped rule reads.
_STEPPED = frozenset({"L", "eps0", "mu", "tau_res", "tau"})


def _thermal(params: Mapping[str, Value], settings: Mapping[str, Value]) -> tuple:
    return ThermalOneChannel(float(params["T"]), float(params["sigma_Y"]), float(params["Gamma0"]))


def _random(params: Mapping[str, Value], settings: Mapping[str, Value]) -> tuple:
    """Activation rate giving mean active fraction a: a = r tau_res / (1 + r tau_res)."""
    a = float(params["target_activity"])
    return RandomActivation(a / ((1.0 - a) * float(params["tau_res"])))


RULES: dict[str, LatticeRule] = {}


def register_rule(rule: LatticeRule) -> LatticeRule:
    """Make ``rule`` a choice of the ``lattice`` model's setting ``rules``."""
    if rule.name in RULES and RULES[rule.name] != rule:
        raise ValueError(f"lattice rule {rule.name!r} is already registered")
    unknown = sorted(rule.uses - set(LATTICE_PARAMETERS))
    if unknown:
        raise ValueError(f"lattice rule {rule.name!r} uses unknown parameters {unknown}")
    RULES[rule.name] = rule
    LATTICE_SETTINGS["rules"] = replace(LATTICE_SETTINGS["rules"], choices=tuple(RULES),
                                        doc="dynamics: " + "; ".join(f"'{r.name}' ({r.doc})" for r in RULES.values()))
    return rule


@cache_own_types_only
@njit(cache=True, nogil=True)
def _rate_bound(rule, s_abs):
    return rate_bound(rule, s_abs)


def _max_rate(rule: tuple) -> float:
    """The rule's largest activation rate: its bound at the largest finite stress (not at
    infinity, where a barrier sigma_Y (sigma_Y - s) with sigma_Y = 0 would be 0 * inf)."""
    return float(_rate_bound(rule, sys.float_info.max))


#: Declared here: those of paper 002, and T with the lattice's own default (paper 002's
#: temperatures, in units of sigma_Y^2/2, are lower than paper 000's). The parameters of
#: paper 000's local rule come from :data:`epmsweep.model.rules.RULE_PARAMETERS`.
LATTICE_PARAMETERS: dict[str, Field] = {
    "T": replace(RULE_PARAMETERS["T"], default=0.1),
    "eps0": Field(1.0, "plastic strain scale of an event: strain rate eps0/(strain_divisor tau)", "1", float, 0.0, None),
    "L": Field(64, "linear lattice size (L x L sites, periodic)", "1", int, 4, 4096),
    "mu": Field(1.0, "elastic modulus in d sigma = 2 mu G * d eps_pl (our mu = 2 mu of paper 002's kernel)", "stress",
                float, 0.0, None),
    "tau_res": Field(1.0, "mean duration of an event (deactivation rate 1/tau_res)", "time", float, 0.0, None, lower_open=True),
    "sigma_Y": Field(1.0, "local yield stress in the activation rule", "stress", float, 0.0, None),
    "Gamma0": Field(1.0, "attempt frequency: activation rate cap", "1/time", float, 0.0, None, lower_open=True),
    "tau": replace(RULE_PARAMETERS["tau"], doc="time unit: strain rate eps0/(strain_divisor tau) (paper 002); "
                                               "relaxation rate nu/tau (paper 000)"),
    **{name: RULE_PARAMETERS[name] for name in ("a", "K", "sigma_c", "sigma_0")},
    "kick_scale": Field(1.0, "baron-biroli with coupling = 'kernel': the others get d (kick_scale K - c) of a drop d, "
                             "K the kernel normalised to K(0) = -1, c the uniform share conserving the mean stress; "
                             "alpha scales as kick_scale^2", "1", float, 0.0, None),
    "alpha": replace(PHYSICAL_PARAMETERS["alpha"], doc="baron-biroli with coupling = 'alpha': the mean-field coupling "
                                                       "alpha (Eq. A5 of paper 000) the kick scale is tuned to"),
    "target_activity": Field(0.01, "random model only: prescribed mean fraction of active sites (the output "
                                   "`activity` measures it)", "1", float, 0.0, 1.0,
                      lower_open=True, upper_open=True),
}

LATTICE_SETTINGS: dict[str, Field] = {
    "rules": Field("ferrero-thermal", "dynamics (choices filled in by register_rule)", kind=str, choices=()),
    "event_method": Field("auto", "baron-biroli: 'auto', 'thinning' (O(1)/proposal) or 'direct' (O(N)/event)", kind=str,
                          choices=("auto", "thinning", "direct")),
    "coupling": Field("kernel", "baron-biroli: 'kernel' (kicks of the kernel times the parameter kick_scale; 1 is "
                                "paper 000's rule) or 'alpha' (kick scale tuned during the burn-in so that the "
                                "simulated coupling is the parameter alpha)", kind=str, choices=("kernel", "alpha")),
    "activity_window": Field(1.0, "baron-biroli: window of the activity field n_r (relaxations per site) whose "
                                  "structure gives xi_activity, in relaxation times 1/Gamma (Gamma from the burn-in)",
                             "1", float, 0.0, None, lower_open=True),
    "activity_modes": Field(4, "baron-biroli: S_activity(q) at q = 2 pi k/L along the axes for k = 0 .. activity_modes "
                               "(at most L/2)", "1", int, 1, 64),
    "propagator": Field("continuum", "Eshelby kernel: 'continuum' q or 'lattice' 2 sin(q/2)", kind=str, choices=FORMS),
    "q0_mode": Field("fixed-strain", "q = 0 mode: 'fixed-strain' (G(0) = -1) or 'conserved' mean stress (G(0) = 0)",
                     kind=str, choices=Q0_MODES),
    "strain_divisor": Field(2.0, "plastic strain rate of an active site is eps0/(strain_divisor tau)", "1", float, 0.0,
                            None, lower_open=True),
    "displacement_strain": Field("tensor", "strain whose displacement field moves the tracers: 'tensor' (the "
                                           "plastic strain eps_pl of d sigma = 2 mu G eps_pl; the symmetric gradient "
                                           "of u gives the stress) or 'engineering' (the shear angle 2 eps_pl: "
                                           "displacements twice as large, paper 002's scale)", kind=str,
                                 choices=tuple(DISPLACEMENT_PER_STRAIN)),
    "stop_at_zero": Field(False, "also end an event when its site's stress crosses zero against the event's sign: a "
                                 "different model from paper 002's (events release less strain; at L = 64 the "
                                 "activity is 80x lower at T = 0.1, 57x at T = 0.2)", kind=bool),
    "dt": Field(0.025, "time step", "time", float, 0.0, None, lower_open=True),
    **run_length_settings("time", max_burn_in=2e5, max_duration=1e6),
    "measure_until": Field("all", "time-stepped rules, duration = 'auto': the observables the measurement waits for, "
                                  "'all' or a comma-separated list of " + ", ".join(f"'{k}' ({v})" for k, v in
                                                                                     DRIVERS.items())
                           + "; the activity always counts. 'activity' alone: an activity-only run, as short as its "
                             "error target allows", kind=str),
    "diffusion_rel_err": Field(0.05, "auto duration: target relative standard error of the long-time diffusion "
                                     "coefficient diffusion_inf", "1", float, 0.0, 1.0, lower_open=True),
    "n_windows": Field(20, "windows of the activity trace a(t), batches of its error and halves of the drift test",
                       "1", int, 4, 100_000),
    "initial": Field("auto", "initial stresses: 'cold' (sigma = 0), 'gaussian' (std initial_std; on paper 002's "
                             "rules the stress of a random plastic strain field, see the propagator's frozen modes), "
                             "'auto' (cold for paper 002's rules, gaussian for baron-biroli)",
                     kind=str, choices=("auto", "cold", "gaussian")),
    "initial_std": Field(0.3, "standard deviation of the 'gaussian' initial stresses", "stress", float, 0.0, None),
    "n_tracers": Field(500, "number of tracer particles", "1", int, 0, 10_000_000),
    "sample_interval": Field(0.1, "sampling interval of tracers and stresses (a multiple of dt)", "time", float, 0.0,
                             None, lower_open=True),
    "lag_levels": Field(8, "decades of the log-spaced lag grid (9 lags each, from sample_interval; each level costs "
                           "a tenth of the one below)", "1", int, 1, 12),
    "q_modes": Field(14, "S(q, t) at q = 2 pi k / L for the first q_modes of k = 1, 2, 3, 4, 6, 8, 12, 16, ... "
                         "(2^m and 3 2^m); tracers move off the lattice, so q may exceed pi: the ballistic regime "
                         "needs q of a few pi (k = 128 at the default 14, q = 4 pi at L = 64)", "1", int, 1, 40),
    "n_probes": Field(256, "sites whose stress enters C_sigma", "1", int, 1, 10_000_000),
    "u_interval": Field(1.0, "time over which tracer displacements enter P(u), in consecutive intervals (a multiple "
                             "of sample_interval)", "time",
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
    "p_sigma_interval": Field(10.0, "time-stepped rules: P(sigma) is sampled over all sites at this interval (a "
                                    "multiple of sample_interval; each sample costs O(L^2), as much as a few "
                                    "activations, so it is kept rarer than the samples)", "time", float, 0.0, None,
                              lower_open=True),
}


register_rule(LatticeRule("ferrero-thermal", "paper 002, Eq. 2", _STEPPED | {"T", "sigma_Y", "Gamma0"}, _thermal))
register_rule(LatticeRule("ferrero-random", "paper 002's random model", _STEPPED | {"target_activity"}, _random))
register_rule(LatticeRule("baron-biroli", "paper 000, Eqs. 1-4, event-driven",
                          frozenset({"L", "T", "tau", "a", "K", "sigma_c", "sigma_0", "kick_scale", "alpha"}), None))


class Lattice(Model):
    """2-D lattice thermal EPM with tracers (paper 002); see the module docstring."""

    name = "lattice"
    description = "2-D lattice thermal EPM with tracers: paper 002's thermal and random rules"
    parameters = LATTICE_PARAMETERS
    settings = LATTICE_SETTINGS

    def ignored_parameters(self, settings: Mapping[str, Value]) -> dict[str, str]:
        rule = RULES[str(settings["rules"])]
        ignored = {name: f"rule {rule.name!r} does not read it" for name in self.parameters if name not in rule.uses}
        if rule.activation is None:
            unread = "alpha" if settings["coupling"] == "kernel" else "kick_scale"
            ignored[unread] = f"coupling = {settings['coupling']!r} does not read it"
        return ignored

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        rule = RULES[str(settings["rules"])]
        interval = float(settings["sample_interval"])
        RunLength.from_settings(settings).check(int(settings["n_windows"]), interval, "sample_interval")
        if rule.activation is not None:  # time-stepped (the event-driven rule has no dt)
            dt = float(settings["dt"])
            rate_cap = _max_rate(rule.activation(params, settings))
            if rate_cap * dt > 0.2:
                raise InvalidInput(f"dt = {dt:g} is too large for rule {rule.name!r} with an activation rate up to "
                                   f"{rate_cap:g}: rate*dt must be <= 0.2")
            if dt / float(params["tau_res"]) > 0.2:
                raise InvalidInput(f"dt = {dt:g} is too large for tau_res = {params['tau_res']:g}: dt/tau_res must be <= 0.2")
            per_sample = steps_per(interval, dt, "sample_interval")
            steps_per(float(settings["u_interval"]), dt * per_sample, "u_interval")
            steps_per(float(settings["p_sigma_interval"]), dt * per_sample, "p_sigma_interval")
        for lo, hi in (("u_min", "u_max"), ("psi_min", "psi_max"), ("p_sigma_min", "p_sigma_max")):
            if float(settings[lo]) >= float(settings[hi]):
                raise InvalidInput(f"{lo} = {settings[lo]:g} must be below {hi} = {settings[hi]:g}")
        if rule.activation is None and 2 * int(settings["activity_modes"]) > int(params["L"]):
            raise InvalidInput(f"activity_modes = {settings['activity_modes']} exceeds L/2 = {int(params['L']) // 2}: "
                               f"the activity's structure factor has wave numbers k <= L/2")
        if rule.activation is not None:
            drivers(str(settings["measure_until"]))
        if int(settings["n_probes"]) > int(params["L"]) ** 2:
            raise InvalidInput(f"n_probes = {settings['n_probes']} exceeds the L^2 = {int(params['L']) ** 2} sites")

    def memory_bytes(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        """200 bytes per site (fields, FFT buffers, rates, the strain record), the lag grid's
        ring buffers, allocated whole: per tracer and level BLOCK - 1 stored positions,
        displacements and phases (64 bytes), per probe site one stress; per tracer its
        position at the end of each measurement block (2 n_windows BLOCKS_PER_WINDOW + 1 of
        them, 16 bytes each); per block and lag the MSD's two sums."""
        levels, slots = int(settings["lag_levels"]), BLOCK - 1
        blocks = 2 * int(settings["n_windows"]) * BLOCKS_PER_WINDOW
        per_tracer = 72 * slots * levels + 18 * (blocks + 1) + 64  # 10% to spare
        return self.POINT_OVERHEAD_BYTES + 200.0 * int(params["L"]) ** 2 + per_tracer * int(settings["n_tracers"]) + \
            8 * slots * levels * int(settings["n_probes"]) + 16 * blocks * slots * levels

    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        lags = lag_grid(float(settings["sample_interval"]), int(settings["lag_levels"]))
        u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
        psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
        n_windows = int(settings["n_windows"])
        if RULES[str(settings["rules"])].activation is None:
            v = {
                "gamma": Output((), "float64", "1/time", "plastic activity Gamma: events per site per unit time",
                                cell_methods=TIME_MEAN),
                "gamma_err": Output((), "float64", "1/time", "standard error of gamma (from its integrated autocorrelation time)"),
                "gamma_t": Output(("window",), "float64", "1/time", "activity in consecutive windows",
                                  cell_methods=TIME_MEAN),
                "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
                "events": Output((), "int64", "1", "events during the measurement"),
                "c_sigma": Output(("lag",), "float64", "1", "local stress autocorrelation C_sigma(lag)",
                                  cell_methods=TIME_MEAN),
                "psi": Output(("tau_ev",), "float64", "1/time", "density of waiting times between relaxations of a site"),
                "p_sigma": Output(("sigma",), "float64", "1/stress", "stationary local stress density P(sigma)",
                                  cell_methods=TIME_MEAN),
                "mean_square_drop": Output((), "float64", "stress^2", "mean-square stress drop <d sigma^2> of the "
                                           "relaxations", cell_methods=TIME_MEAN),
                "alpha_simulated": Output((), "float64", "stress^2", "coupling alpha the rule simulates: Eq. (A5) of "
                                          "paper 000 averaged over the kernel's orientation, times <d sigma^2>"),
                "m_simulated": Output((), "float64", "stress^2", "coefficient m of Eq. (6) the rule simulates, Eq. (A5), "
                                      "lattice spacing 1"),
                "kick_scale_used": Output((), "float64", "1", "kick scale of the measurement (tuned with coupling = "
                                          "'alpha')"),
                "s_activity": Output(("k_activity",), "float64", "1", "structure factor of the activity field "
                                     "(relaxations per site in a window), axes (q, 0) and (0, q)",
                                     cell_methods=TIME_MEAN),
                "xi_activity": Output((), "float64", "1", "correlation length of the activity field, Ornstein-Zernike "
                                      f"fit over k = 0 .. {ActivityStructure.FIT_MODES}, in lattice spacings (NaN: "
                                      "none positive)"),
                "xi_activity_err": Output((), "float64", "1", "statistical error of xi_activity (jackknife over "
                                          "contiguous blocks of windows)"),
                "xi_activity_sys": Output((), "float64", "1", "systematic error of xi_activity: its largest change "
                                          "when the fit stops at another k = 1 .. activity_modes"),
                "activity_window_used": Output((), "float64", "time", "window of the activity field"),
                "activity_windows": Output((), "int64", "1", "windows of the activity field measured"),
                **run_length_outputs("time", "gamma"),
            }
            coords = {
                "window": Coord(np.arange(n_windows), "1", "measurement window index"),
                "k_activity": Coord(np.arange(int(settings["activity_modes"]) + 1), "1",
                                    "wave number index of the activity's structure factor: q = 2 pi k / L"),
                "lag": Coord(lags, "time", "time lag"),
                "tau_ev": Coord(log_centres(psi_edges), "time", "waiting time (bin centre)"),
                "sigma": stress_coord(settings),
            }
            return OutputSpec(v, coords)
        v = {
            "activity": Output((), "float64", "1", "mean fraction of active sites a", cell_methods=TIME_MEAN),
            "activity_err": Output((), "float64", "1", "standard error of the activity (from its integrated autocorrelation time)"),
            "activity_t": Output(("window",), "float64", "1", "fraction of active sites in consecutive windows",
                                 cell_methods=TIME_MEAN),
            "t_window": Output(("window",), "float64", "time", "mid-time of each window since the start of the run"),
            "events": Output((), "int64", "1", "activations during the measurement"),
            "msd": Output(("lag",), "float64", "1", "tracer mean-square displacement (lattice units squared)",
                          cell_methods=TIME_MEAN),
            "diffusion": Output(("lag",), "float64", "1/time", "D(lag) = MSD/(4 lag)", cell_methods=TIME_MEAN),
            "s_q": Output(("lag", "k"), "float64", "1", "self intermediate scattering function S(q, lag)",
                          cell_methods=TIME_MEAN),
            "q": Output(("k",), "float64", "1", "wave number 2 pi k / L (inverse lattice units)"),
            "c_u": Output(("lag",), "float64", "1", "tracer displacement autocorrelation C_u(lag)",
                          cell_methods=TIME_MEAN),
            "c_sigma": Output(("lag",), "float64", "1", "local stress autocorrelation C_sigma(lag)",
                              cell_methods=TIME_MEAN),
            "p_u": Output(("u",), "float64", "time", "density of tracer displacement per unit time |u| over "
                          "consecutive intervals of u_interval"),
            "psi": Output(("tau_ev",), "float64", "1/time", "density of waiting times between activations of a site"),
            "p_sigma": Output(("sigma",), "float64", "1/stress", "stationary local stress density P(sigma)",
                              cell_methods=TIME_MEAN),
            "diffusion_inf": Output((), "float64", "1/time", "long-time diffusion coefficient D_inf: the MSD's slope/4 "
                                    "over a decade of lags in the long-time regime (lattice units squared)"),
            "diffusion_inf_err": Output((), "float64", "1/time", "standard error of diffusion_inf (independent windows)"),
            "diffusion_inf_lag": Output((), "float64", "time", "lag from which the local D is constant (the long-time "
                                        "regime); NaN: not found"),
            **{f"{name}_reached": Output((), "int8", "1", f"whether {what} was measured: 1 yes, 0 no (the run's cap "
                                         "came first), -1 not measured at all") for name, what in
               (("diffusion_inf", "the long-time regime of the tracers (MSD, D, S(q, t), C_u)"),
                ("c_sigma", "C_sigma's decay"), ("psi", "psi's tail"))},
            **run_length_outputs("time", "activity"),
        }
        coords = {
            "window": Coord(np.arange(n_windows), "1", "measurement window index"),
            "lag": Coord(lags, "time", "time lag"),
            "k": Coord(wave_numbers(int(settings["q_modes"])), "1", "wave number index: q = 2 pi k / L"),
            "u": Coord(log_centres(u_edges), "1/time", "tracer displacement per unit time (bin centre)"),
            "tau_ev": Coord(log_centres(psi_edges), "time", "waiting time (bin centre)"),
            "sigma": stress_coord(settings),
        }
        return OutputSpec(v, coords)

    def handover(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> OutputSpec | None:
        """A time-stepped rule hands on its final stresses, active sites and event signs."""
        if RULES[str(settings["rules"])].activation is None:
            return None
        L = int(params["L"])
        site = ("site_x", "site_y")
        return OutputSpec(
            {"sigma": Output(site, "float64", "stress", "final local stress"),
             "active": Output(site, "int8", "1", "final state of each site (1 active, 0 inactive)"),
             "sign": Output(site, "int8", "1", "sign of each site's current or last event (0: none yet)")},
            {"site_x": Coord(np.arange(L), "1", "lattice row"), "site_y": Coord(np.arange(L), "1", "lattice column")})

    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        rule = RULES[str(settings["rules"])]
        if rule.activation is None:
            return simulate_events(params, settings, rng)
        return simulate_time_stepped(params, settings, rule.activation(params, settings), rng)[0]

    def _run_from(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator,
                  start: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        rule = RULES[str(settings["rules"])]
        return simulate_time_stepped(params, settings, rule.activation(params, settings), rng, start)

"""Paper 000's rule on the lattice: the finite-dimensional model behind the mean-field theory.

Eqs. (1)-(4) of paper 000 in continuous time: site i relaxes at rate nu(sigma_i)/tau,
nu = 1 above threshold and exp(-K (sigma_c - |sigma|)^a / T) below (Eq. 3). On
relaxation its stress is redrawn from y(sigma) (Eq. 1) and the drop d = sigma_old -
sigma_new is redistributed with an Eshelby kernel of uniformly random orientation angle
chi (App. A): sigma_j += d G_chi(r_j - r_i) / |G_chi(0)|, so the relaxing site lands
exactly on sigma_new. G_chi = (cos 4chi C + sin 4chi S)/2 + local
(:func:`epmsweep.model.lattice.propagator.orientation_harmonics`); the mean stress is conserved.

The coupling this simulates (Eq. A5 averaged over chi, :func:`~epmsweep.model.lattice.propagator.rule_coupling`)
is alpha = 0.251 <d^2> (L = 64), with <d^2> the mean-square drop, measured here. A kick
scale kappa gives the others d (kappa K_chi - (kappa - 1)/(N - 1)), K_chi = G_chi/|G_chi(0)|:
the relaxing site still lands on sigma_new, the mean stress is still conserved, and alpha
scales as kappa^2 (up to O(1/N)). Setting ``coupling = "alpha"`` tunes kappa during the
burn-in so that the simulated alpha is the parameter ``alpha`` (the mean field's
coupling), then holds it for the measurement.

Event-driven and exact: the lattice is a system of the event engine
(:mod:`epmsweep.model.events`, thinning, direct and ``auto``); every event updates the
whole stress field, O(N).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

from epmsweep.model import events
from epmsweep.model.core import Value
from epmsweep.model.events import METHODS, EngineParams
from epmsweep.model.histogram import UniformBins, density, edge_slot, log_edges
from epmsweep.model.jit import bind
from epmsweep.model.lattice.observables import ActivityStructure, TimeCorrelations
from epmsweep.model.lattice.propagator import RuleCoupling, orientation_harmonics, rule_coupling
from epmsweep.model.rules import Paper000Rule, stress_edges
from epmsweep.model.run_length import Chunk, RunLength, burn_in, measure, run_length_results

#: Activity below which ``auto`` uses the direct method. Every event costs O(N) here in
#: both modes (the field update), so the direct method's extra O(N) pass over the rates
#: pays off at a higher activity than in the mean-field model's 1.5.
SWITCH_ACTIVITY = 2.0
#: Length of a burn-in chunk (tau) under ``burn_in = "auto"``.
_BURN_CHUNK = 1.0
#: Most C_sigma samples taken in one kernel call (their probe stresses are buffered).
_SAMPLE_BLOCK = 4096


class LatticeSites(NamedTuple):
    """The lattice as a system of the event engine (which owns the stresses): the randomly
    oriented kernel's harmonics and the per-site waiting-time record."""

    sigma: np.ndarray  # float64[L, L], the field the engine's flat stresses view
    c_r: np.ndarray  # real-space harmonics: G_chi = (cos 4chi c_r + sin 4chi s_r)/2 + loc_r
    s_r: np.ndarray
    loc_r: np.ndarray
    last_event: np.ndarray  # float64[N]: time of each site's last relaxation (-1: none yet)
    psi_edges: np.ndarray  # waiting-time bins and counts (edge_slot layout)
    psi_counts: np.ndarray
    kick: np.ndarray  # float64[2]: the kick scale kappa and the others' uniform share (kappa - 1)/(N - 1)
    drops: np.ndarray  # float64[3]: sums of d^2 and d^4 over the drops d, and their number (the driver resets it)
    site_events: np.ndarray  # float64[L, L]: relaxations of each site in the current activity window


@overload(events.relax)
def _relax(system, j, old, new, t, rng, measuring):
    if getattr(system, "instance_class", None) is not LatticeSites:
        return None

    def impl(system, j, old, new, t, rng, measuring):
        if measuring:
            if system.last_event[j] >= 0.0:
                system.psi_counts[edge_slot(t - system.last_event[j], system.psi_edges)] += 1.0
            system.site_events.ravel()[j] += 1.0
        d2 = (old - new) ** 2
        system.drops[0] += d2
        system.drops[1] += d2 * d2
        system.drops[2] += 1.0
        system.last_event[j] = t
        redistribute(system, j, new, rng.random() * 0.5 * math.pi)

    return impl


@njit(cache=True, nogil=True)
def redistribute(system, j, new, chi):
    """Site j's stress becomes ``new``; the drop d goes to every other site as d (kappa K -
    c), K the kernel of orientation angle chi normalised to K(0) = -1, c the uniform share
    that keeps the others' total at d (the mean stress conserved)."""
    sigma, c_r, s_r, loc_r = system.sigma, system.c_r, system.s_r, system.loc_r
    L = sigma.shape[0]
    xj, yj = j // L, j % L
    c4, s4 = 0.5 * math.cos(4 * chi), 0.5 * math.sin(4 * chi)
    g0 = c4 * c_r[0, 0] + s4 * s_r[0, 0] + loc_r[0, 0]
    drop = sigma[xj, yj] - new
    scale = system.kick[0] * drop / -g0
    shift = system.kick[1] * drop
    for x in range(L):
        dx = x - xj
        if dx < 0:
            dx += L
        for y in range(L):
            dy = y - yj
            if dy < 0:
                dy += L
            sigma[x, y] += scale * (c4 * c_r[dx, dy] + s4 * s_r[dx, dy] + loc_r[dx, dy]) - shift
    sigma[xj, yj] = new


#: coupling = "alpha": <d^2> is calibrated at fixed kappa to this relative standard error,
#: and kappa re-tuned until it changes by less than it, at most _CALIBRATION_ROUNDS times.
CALIBRATION_REL_ERR = 0.01
_CALIBRATION_ROUNDS = 4


class KickTuner:
    """The kick scale of a run: fixed (``coupling = "kernel"``: the parameter ``kick_scale``), or
    tuned (``"alpha"``) so that alpha = coupling.alpha(kappa) <d^2> is the parameter ``alpha``.

    Tuning: during the burn-in kappa is set after each chunk from <d^2> over the latter half
    of the chunks so far; then it is calibrated: <d^2> is measured at fixed kappa to
    :data:`CALIBRATION_REL_ERR` and kappa re-set from it, until kappa changes by less than
    that (<d^2> depends on kappa only through the stress distribution, weakly: this
    fixed-point iteration settles in one or two rounds). The measurement runs at that kappa
    and reports the alpha it simulated."""

    def __init__(self, system: LatticeSites, coupling: RuleCoupling, params: Mapping[str, Value],
                 settings: Mapping[str, Value]):
        self.system, self.coupling = system, coupling
        self.target = float(params["alpha"]) if settings["coupling"] == "alpha" else None
        self.chunks: list[np.ndarray] = []
        self.set(1.0 if self.target is not None else float(params["kick_scale"]))

    @property
    def kappa(self) -> float:
        return float(self.system.kick[0])

    def set(self, kappa: float) -> None:
        self.system.kick[:] = kappa, (kappa - 1.0) / (self.coupling.n_sites - 1)

    def take_drops(self) -> np.ndarray:
        """(sum of d^2, sum of d^4, number of events) since the last call."""
        taken = self.system.drops.copy()
        self.system.drops[:] = 0.0
        return taken

    def after_burn_chunk(self) -> None:
        drops = self.take_drops()
        if self.target is not None:
            self.chunks.append(drops)
            self._retune(sum(self.chunks[len(self.chunks) // 2:], np.zeros(3)))

    def _retune(self, drops: np.ndarray) -> float:
        """Set kappa from the drops' <d^2>; the relative change of kappa."""
        if drops[2] == 0:
            return math.inf
        old = self.kappa
        self.set(self.coupling.kick_scale_for(self.target / (drops[0] / drops[2])))
        return abs(self.kappa / old - 1.0) if old > 0 else math.inf

    def calibrate(self, run_chunk: Callable[[], None]) -> None:
        """Re-tune kappa from drops measured at fixed kappa (see the class docstring);
        ``run_chunk()`` advances the run by one more burn-in chunk."""
        if self.target is None:
            return
        for _ in range(_CALIBRATION_ROUNDS):
            self.take_drops()
            while _rel_err_of_mean_square(self.system.drops) > CALIBRATION_REL_ERR:
                run_chunk()
            if self._retune(self.take_drops()) < CALIBRATION_REL_ERR:
                return

    def results(self) -> dict[str, float]:
        """The measurement's <d^2> and the alpha and m (Eq. A5) simulated with it."""
        total, _, n = self.take_drops()
        msd = total / n if n else math.nan
        return {"mean_square_drop": msd, "alpha_simulated": self.coupling.alpha(self.kappa) * msd,
                "m_simulated": self.coupling.m(self.kappa) * msd, "kick_scale_used": self.kappa}


@njit(cache=True, nogil=True)
def advance_sampling(system, state, rule, params, rng, origin, interval, first, stresses, probes, out):
    """Advance the engine to origin + k interval for k = first, first + 1, ... (measuring),
    writing the probe sites' stresses after each stop into out[k - first]: a block of
    C_sigma's samples in one call instead of one Python round trip per sample."""
    for row in range(out.shape[0]):
        events.advance(system, state, rule, params, rng, origin + (first + row) * interval, events.NO_EVENT_LIMIT,
                       True)
        for p in range(probes.size):
            out[row, p] = stresses[probes[p]]


def _rel_err_of_mean_square(drops: np.ndarray) -> float:
    """Relative standard error of <d^2> from (sum d^2, sum d^4, n) (events independent)."""
    s2, s4, n = drops
    if n < 2 or s2 == 0:
        return math.inf
    mean = s2 / n
    return math.sqrt(max(s4 / n - mean * mean, 0.0) / n) / mean


def _chunk(n_events: float, span: float, n_sites: int) -> Chunk:
    """A stretch of the run: its length, events per site, and Gamma's num/den."""
    return Chunk(span, n_events / n_sites, n_events, n_sites * span)


def simulate_events(params: Mapping[str, Value], settings: Mapping[str, Value], rng: np.random.Generator) -> dict:
    """One point of paper 000's rule: Gamma, its windows, P(sigma), the waiting-time density
    psi, C_sigma, the coupling simulated and the activity's correlation length; run lengths
    fixed or auto (:mod:`epmsweep.model.run_length`)."""
    L = int(params["L"])
    n_sites = L * L
    rule = Paper000Rule.from_params(params)
    form = str(settings["propagator"])
    c_r, s_r, loc_r = orientation_harmonics(L, form)
    if settings["initial"] == "cold":
        sigma = np.zeros((L, L))
    else:  # the randomly oriented kernel leaves only the mean stress frozen: start it at 0
        sigma = float(settings["initial_std"]) * rng.standard_normal((L, L))
        sigma -= sigma.mean()
    method = METHODS[str(settings["event_method"])]
    s_edges = stress_edges(settings)
    engine = EngineParams(method, SWITCH_ACTIVITY, 0.0, UniformBins.from_edges(s_edges))  # the kernel carries the drop
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    system = LatticeSites(sigma, c_r, s_r, loc_r, np.full(n_sites, -1.0), psi_edges, np.zeros(psi_edges.size + 1),
                          np.zeros(2), np.zeros(3), np.zeros((L, L)))
    kicks = KickTuner(system, rule_coupling(L, form), params, settings)
    state = events.new_state(sigma, engine)
    probes = rng.choice(n_sites, size=int(settings["n_probes"]), replace=False)

    advance_bound = bind(events.advance, system, state, rule, engine, rng, 0.0, events.NO_EVENT_LIMIT, True)

    def advance(t_stop: float, measuring: bool) -> Chunk:
        e0, t0 = state.counters[events.EVENTS], state.clock[events.TIME]
        advance_bound(system, state, rule, engine, rng, t_stop, events.NO_EVENT_LIMIT, measuring)
        return _chunk(state.counters[events.EVENTS] - e0, state.clock[events.TIME] - t0, n_sites)

    def burn_chunk(t: float) -> Chunk:
        chunk = advance(t, False)
        kicks.after_burn_chunk()
        return chunk

    length = RunLength.from_settings(settings)
    burn = burn_in(burn_chunk, length, _BURN_CHUNK)
    calibrated = [burn.length]

    def calibration_chunk() -> None:
        calibrated[0] += _BURN_CHUNK
        advance(calibrated[0], False)

    kicks.calibrate(calibration_chunk)
    kicks.take_drops()
    burn = replace(burn, length=calibrated[0])
    interval = float(settings["sample_interval"])
    corr = TimeCorrelations(0, probes.size, int(settings["lag_levels"]), interval, 1, float(L))
    activity = ActivityStructure(L, int(settings["activity_modes"]))
    activity_window = float(settings["activity_window"]) / burn.rate if burn.rate > 0 else math.inf
    done = [0, 0]  # samples taken, activity windows closed

    stresses = sigma.ravel()  # the engine's stresses, updated in place
    sample_block = bind(advance_sampling, system, state, rule, engine, rng, 0.0, interval, 1, stresses, probes,
                        np.zeros((1, probes.size)))

    def take_samples(last: int) -> Chunk:
        """Samples done + 1 .. ``last`` (at most _SAMPLE_BLOCK per kernel call)."""
        e0, t0 = state.counters[events.EVENTS], state.clock[events.TIME]
        while done[0] < last:
            out = np.empty((min(last - done[0], _SAMPLE_BLOCK), probes.size))
            sample_block(system, state, rule, engine, rng, burn.length, interval, done[0] + 1, stresses, probes, out)
            corr.sample_block(np.zeros((out.shape[0], 0, 2)), np.zeros((out.shape[0], 0, 2)), out)
            done[0] += out.shape[0]
        return _chunk(state.counters[events.EVENTS] - e0, state.clock[events.TIME] - t0, n_sites)

    def measure_to(t: float) -> Chunk:
        ran, end = Chunk(), t * (1 + 1e-12)
        while True:
            next_window = (done[1] + 1) * activity_window
            limit = min(next_window, end)
            last = int(limit // interval)  # the last sample at or before limit, its time as the engine's
            while (last + 1) * interval <= limit:
                last += 1
            while last > done[0] and last * interval > limit:
                last -= 1
            ran += take_samples(last)
            if next_window > end:
                return ran + advance(burn.length + t, True)
            ran += advance(burn.length + next_window, True)  # a no-op where the last sample was at the window's end
            done[1] += 1
            activity.add(system.site_events)
            system.site_events[:] = 0.0

    meas = measure(measure_to, length, int(settings["n_windows"]), burn.rate, interval)
    return {
        "gamma": meas.value,
        "gamma_err": meas.error,
        "gamma_t": meas.per_window(),
        "t_window": meas.mid_times(burn.length),
        "events": meas.events,
        "p_sigma": density(state.hist, s_edges),
        "psi": density(system.psi_counts, psi_edges),
        "c_sigma": corr.results()["c_sigma"],
        **kicks.results(),
        **activity.results(activity_window),
        **run_length_results(burn, meas),
    }

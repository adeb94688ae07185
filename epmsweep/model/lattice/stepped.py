"""Time-stepped runs of paper 002's rules: the lattice's state, its stepping, and one point
(burn-in, then measurement with streamed observables).

The stepping (:mod:`epmsweep.model.lattice.transitions`) keeps the stress at the last change
of the active set and the *rate field* (stress and tracer displacement per step of the
current active sites); it costs O(N) per change of the active set, not per step. The rate
field is updated by one shifted real-space kernel per changed site or, when more sites
changed in a step than ``fft_threshold``, recomputed by FFT from the active set (both
exact; tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft

from epmsweep.model.core import InvalidInput, Value
from epmsweep.model.histogram import UniformBins, density, histogram_add, log_edges
from epmsweep.model.jit import bind
from epmsweep.model.lattice.observables import TimeCorrelations, wave_numbers
from epmsweep.model.lattice.propagator import DISPLACEMENT_PER_STRAIN, Propagator, eshelby
from epmsweep.model.lattice.field import bring_up_to_date, current_stress, histogram_current, inactive_vmax, stress_at
from epmsweep.model.lattice.transitions import (Binning, Dynamics, RateField, Sites, Tracers, one_bin, run_steps,
                                                sort_into_bins)
from epmsweep.model.rules import stress_edges
from epmsweep.model.run_length import Chunk, RunLength, burn_in, measure, run_length_results

#: Recompute the rate field by FFT when more than this many sites per log2(N) changed in a
#: step: one shifted kernel costs ~N flops, the FFTs ~N log2 N (benchmarks/bench_lattice.py).
_FFT_SITES_PER_LOG2N = 1.5
#: Bins of |sigma| for the activation thinning.
_BINS = 64
#: Re-sort the bins once the loosening bound has drawn this many excess candidates per site
#: (measured best at L = 128, T = 0.07: a sort costs about as much as N/10 extra candidates
#: with their exact stresses, plus the cache misses they bring).
_RESORT_SITES = 0.1
#: Incremental kernel updates between two exact FFT recomputations of the rate field
#: (bounds the round-off the increments accumulate).
_RECOMPUTE_EVERY = 4096


class TimeSteppedLattice:
    """State and stepping of one lattice under an activation rule (see the module docstring)."""

    def __init__(self, prop: Propagator, rule: tuple, dyn: Dynamics, rng: np.random.Generator, n_tracers: int,
                 sigma: np.ndarray, psi_edges: np.ndarray, two_mu: float, eps_step: float,
                 u_per_strain: float = 1.0):
        L = prop.L
        n = L * L
        self.prop, self.rule, self.dyn, self.rng = prop, rule, dyn, rng
        self.sites = Sites(
            sigma=sigma, active=np.zeros((L, L), np.int8), sign=np.zeros((L, L), np.int8), act=np.zeros(n, np.int64),
            n_act=np.zeros(1, np.int64), changed=np.zeros(n, np.int64), coeffs=np.zeros(n), last_act=np.full((L, L), -1.0),
            psi_edges=psi_edges, psi_counts=np.zeros(psi_edges.size + 1), t=np.zeros(1), stats=np.zeros(3))
        self.tracers = Tracers(rng.random((n_tracers, 2)) * L, np.zeros((n_tracers, 2)))
        # rate field per unit sign: 2 mu eps_step G (stress), u_per_strain eps_step K (tracer
        # displacement, DISPLACEMENT_PER_STRAIN)
        parts = [(two_mu * eps_step * prop.g_r, two_mu * eps_step * prop.g_q)]
        if n_tracers:
            u_step = u_per_strain * eps_step
            parts += [(u_step * prop.ux_r, u_step * prop.ux_q), (u_step * prop.uy_r, u_step * prop.uy_q)]
        self.kernel_q = [q for _, q in parts]
        self.rates = RateField(np.zeros((len(parts), L, L)), np.ascontiguousarray(np.stack([r for r, _ in parts])),
                               np.zeros(1, np.int64), np.zeros(1, np.int64))
        self.bins = Binning(np.zeros(_BINS + 1, np.int64), np.zeros(n, np.int64), np.zeros(_BINS), np.zeros(_BINS),
                            np.zeros((L, L)), np.zeros(4), np.zeros(n, np.int32), np.zeros(_BINS, np.int64),
                            np.zeros((L, L)))
        self.fft_threshold = max(1, int(_FFT_SITES_PER_LOG2N * math.log2(n)))
        self._fft_buffers = (np.zeros((L, L)), np.zeros((L, L // 2 + 1), complex))
        # the kernels bound to these arguments' types (see epmsweep.model.jit.bind)
        self._sort = bind(sort_into_bins, self.sites.sigma, rule, dyn.dt, self.bins)
        self._one_bin = bind(one_bin, self.sites.sigma, rule, dyn.dt, self.bins)
        self._run = bind(run_steps, 1, 1, self.sites, self.rates, self.bins, self.tracers, rule, dyn, rng, True)
        self._sort(self.sites.sigma, rule, dyn.dt, self.bins)

    @property
    def sigma(self) -> np.ndarray:
        """The current stress field (a new array)."""
        out = np.empty_like(self.sites.sigma)
        current_stress(self.sites.sigma, self.rates.values, self.rates.k[0], out)
        return out

    def stress_at(self, sites: np.ndarray, out: np.ndarray) -> None:
        """Exact current stresses of ``sites`` (flat indices) into ``out``."""
        stress_at(sites, self.sites.sigma, self.rates.values, self.rates.k[0], out)

    @property
    def pos(self) -> np.ndarray:
        return self.tracers.pos

    @property
    def stats(self) -> np.ndarray:
        """[steps, sum over steps of the number of active sites, activations]."""
        return self.sites.stats

    @property
    def n_active(self) -> int:
        return int(self.sites.n_act[0])

    def advance(self, n_steps: int, measuring: bool) -> None:
        """Advance by ``n_steps`` steps of dt."""
        left = n_steps
        while left > 0:
            done, needs_fft = self._run(left, self.fft_threshold, self.sites, self.rates, self.bins, self.tracers,
                                        self.rule, self.dyn, self.rng, measuring)
            left -= done
            if needs_fft or self.rates.increments[0] > _RECOMPUTE_EVERY:
                self.recompute_rates(sort=not needs_fft)

    def set_active(self, active: np.ndarray, sign: np.ndarray) -> None:
        """Make the sites of ``active`` (1) active with the event signs ``sign`` (a state
        handed on by another point); the rate field and bins follow."""
        self.sites.active[...] = active
        self.sites.sign[...] = sign
        on = np.flatnonzero(self.sites.active.ravel())
        self.sites.act[:on.size] = on
        self.sites.n_act[0] = on.size
        self.recompute_rates()

    def recompute_rates(self, sort: bool = True) -> None:
        """The rate field afresh by FFT from the active set (exact up to the FFT's round-off),
        the field brought up to date first; then the bins: sorted, or (at high activity, where
        this runs every step and most sites are candidates anyway) one bin of all sites."""
        bring_up_to_date(self.sites.sigma, self.rates.values, self.rates.k, self.bins)
        L, n = self.prop.L, self.n_active
        signs, product = self._fft_buffers  # kept: fresh large arrays cost page faults every step
        signs.fill(0.0)
        act = self.sites.act[:n]
        signs.ravel()[act] = self.sites.sign.ravel()[act]
        f = scipy.fft.rfft2(signs)
        for m, kernel_q in enumerate(self.kernel_q):
            np.multiply(kernel_q, f, out=product)
            self.rates.values[m] = scipy.fft.irfft2(product, s=(L, L), overwrite_x=True)
        self.rates.increments[0] = 0
        inactive_vmax(self.rates.values, self.sites.active, self.bins)
        (self._sort if sort else self._one_bin)(self.sites.sigma, self.rule, self.dyn.dt, self.bins)

    def histogram_stress(self, bins: UniformBins, counts: np.ndarray) -> None:
        """Add the current stress of every site to ``counts`` (uniform_slot layout)."""
        histogram_current(self.sites.sigma, self.rates.values, self.rates.k[0], bins, counts)


def steps_per(interval: float, dt: float, what: str) -> int:
    """``interval`` as a whole number of steps of ``dt``; InvalidInput naming ``what`` if it is not one."""
    n = round(interval / dt)
    if n < 1 or abs(n * dt - interval) > 1e-9 * max(interval, 1.0):
        raise InvalidInput(f"{what} = {interval:g} must be a positive multiple of dt = {dt:g}")
    return n


def initial_stresses(prop: Propagator, kind: str, std: float, rng: np.random.Generator) -> np.ndarray:
    """The start: ``cold`` (sigma = 0) or ``gaussian``: the stress G * eps of a white-noise
    plastic strain field eps, scaled so that each site's stress is Gaussian with standard
    deviation ``std`` (Parseval: var = sum_r G(r)^2 per unit strain variance). Such a state
    is one plastic strain can make: no stress where G(q) = 0 (frozen for ever) and little
    near the axes (relaxing over > 1e5 tau at low T), where white noise in the stress would
    put as much as anywhere and bias the activity for longer than any run."""
    L = prop.L
    if kind == "cold":
        return np.zeros((L, L))
    strain = scipy.fft.rfft2(rng.standard_normal((L, L)))
    return scipy.fft.irfft2(prop.g_q * strain, s=(L, L)) * (std / math.sqrt(float((prop.g_r**2).sum())))


#: Length of a burn-in chunk (tau) under ``burn_in = "auto"``: the resolution of its trend test.
_BURN_CHUNK = 1.0


def simulate_time_stepped(params: Mapping[str, Value], settings: Mapping[str, Value], rule: tuple,
                          rng: np.random.Generator, start: Mapping[str, np.ndarray] | None = None
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Burn-in, then measurement with streamed observables (run lengths fixed or auto,
    :mod:`epmsweep.model.run_length`); one validated point, from the state ``start`` (the
    final state of another point, annealing) or from the setting ``initial``. Returns the
    outputs and the final state."""
    L, dt = int(params["L"]), float(settings["dt"])
    n_sites = L * L
    prop = eshelby(L, str(settings["propagator"]), str(settings["q0_mode"]))
    eps_step = float(params["eps0"]) * dt / (float(settings["strain_divisor"]) * float(params["tau"]))
    dyn = Dynamics(dt, float(params["tau_res"]), bool(settings["stop_at_zero"]), _RESORT_SITES * L * L)
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
    s_edges = stress_edges(settings)
    n_tracers = int(settings["n_tracers"])
    if start is None:
        initial = "cold" if settings["initial"] == "auto" else str(settings["initial"])
        sigma = initial_stresses(prop, initial, float(settings["initial_std"]), rng)
    else:
        sigma = np.array(start["sigma"], dtype=float)
    sim = TimeSteppedLattice(prop, rule, dyn, rng, n_tracers, sigma, psi_edges, 2.0 * float(params["mu"]), eps_step,
                             DISPLACEMENT_PER_STRAIN[str(settings["displacement_strain"])])
    if start is not None:
        sim.set_active(start["active"], start["sign"])
    probes = rng.choice(n_sites, size=int(settings["n_probes"]), replace=False)
    interval = float(settings["sample_interval"])
    per_sample = steps_per(interval, dt, "sample_interval")
    per_u = steps_per(float(settings["u_interval"]), dt * per_sample, "u_interval")
    per_p_sigma = steps_per(float(settings["p_sigma_interval"]), dt * per_sample, "p_sigma_interval")
    length = RunLength.from_settings(settings)

    def chunk_since(before: np.ndarray) -> Chunk:
        d = sim.stats - before
        return Chunk(d[0] * dt, d[2] / n_sites, d[1], d[0] * n_sites)

    def burn_to(t: float) -> Chunk:
        before = sim.stats.copy()
        sim.advance(round(t / dt) - int(before[0]), False)
        return chunk_since(before)

    burn = burn_in(burn_to, length, _BURN_CHUNK)
    sim.stats[:] = 0.0

    corr = TimeCorrelations(n_tracers, probes.size, int(settings["lag_levels"]), interval, int(settings["q_modes"]),
                            float(L))
    u_counts = np.zeros(u_edges.size + 1)
    s_bins = UniformBins.from_edges(s_edges)
    s_counts = np.zeros(s_edges.size + 1)
    probe_sigma = np.empty(probes.size)
    ring = np.repeat(sim.pos[None], per_u, axis=0)  # positions at the last per_u samples
    last_pos = sim.pos.copy()
    samples = [0]

    def measure_to(t: float) -> Chunk:
        before = sim.stats.copy()
        for sample in range(samples[0] + 1, round(t / interval) + 1):
            sim.advance(per_sample, True)
            sim.stress_at(probes, probe_sigma)
            corr.sample(sim.pos, sim.pos - last_pos, probe_sigma)
            last_pos[:] = sim.pos
            if sample % per_p_sigma == 0:
                sim.histogram_stress(s_bins, s_counts)
            if n_tracers:
                slot = sample % per_u
                if sample >= per_u:
                    u = np.hypot(*(sim.pos - ring[slot]).T) / float(settings["u_interval"])
                    histogram_add(u, u_edges, u_counts, 1.0)
                ring[slot] = sim.pos
            samples[0] = sample
        return chunk_since(before)

    meas = measure(measure_to, length, int(settings["n_windows"]), burn.rate, interval)
    return {
        "activity": meas.value,
        "activity_err": meas.error,
        "activity_t": meas.per_window(),
        "t_window": meas.mid_times(burn.length),
        "events": int(sim.stats[2]),
        "q": 2 * np.pi * wave_numbers(int(settings["q_modes"])) / L,
        "p_u": density(u_counts, u_edges),
        "psi": density(sim.sites.psi_counts, psi_edges),
        "p_sigma": density(s_counts, s_edges),
        **corr.results(),
        **run_length_results(burn, meas),
    }, {"sigma": sim.sigma, "active": sim.sites.active.copy(), "sign": sim.sites.sign.copy()}

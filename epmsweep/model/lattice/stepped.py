"""Time-stepped runs of paper 002's rules: the lattice's state, its dense and lazy stepping,
and one point (burn-in, then measurement with streamed observables).

Two exact modes, chosen by the number of active sites n: *dense* (the stress field is
updated every step, by real-space kernel copies or, when n exceeds ``fft_threshold``, by
FFT) and *lazy* at low activity (pending strain, exact stresses where needed, one
materialisation per sample; :mod:`epmsweep.model.lattice.transitions`). Both run the same
transitions with the same rule, so they agree (tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft

from epmsweep.model.core import InvalidInput, Value
from epmsweep.model.histogram import density, histogram_add, log_edges
from epmsweep.model.jit import bind
from epmsweep.model.lattice import field, tracers
from epmsweep.model.lattice.observables import TimeCorrelations
from epmsweep.model.lattice.propagator import Propagator, eshelby
from epmsweep.model.lattice.transitions import (Binning, Dynamics, Pending, Sites, Tracers, lazy_steps, sort_into_bins,
                                                transitions)
from epmsweep.model.rules import stress_edges

#: Use the FFT path when more than this many sites per log2(N) are active: one shifted
#: kernel costs ~N flops, one FFT step ~N log2 N (benchmarks/bench_lattice.py).
_FFT_SITES_PER_LOG2N = 1.5
#: Lazy stepping while at most this many sites per log2(N) are active: its cost per step
#: grows with the pending sites times the candidates (benchmarks/bench_lattice.py).
_LAZY_SITES_PER_LOG2N = 6.0
#: Bins of |sigma| for the lazy mode's candidate thinning.
_LAZY_BINS = 64


def dynamics(prop: Propagator, dt: float, tau_res: float, stop_at_zero: bool, eps_step: float, mu: float) -> Dynamics:
    """The step parameters with the propagator's real-space kernels."""
    off = np.abs(prop.g_r).copy()
    off[0, 0] = 0.0
    return Dynamics(dt, tau_res, stop_at_zero, eps_step, 2.0 * mu, prop.g_r, float(off.max()), prop.uxy_r)


class TimeSteppedLattice:
    """State and stepping of one lattice under an activation rule (see the module docstring).
    ``sites.sigma`` is current after :meth:`materialize`."""

    def __init__(self, prop: Propagator, rule: tuple, dyn: Dynamics, rng: np.random.Generator, n_tracers: int,
                 initial_std: float, psi_edges: np.ndarray):
        L = prop.L
        n = L * L
        self.prop, self.rule, self.dyn, self.rng = prop, rule, dyn, rng
        self.sites = Sites(
            sigma=initial_std * rng.standard_normal((L, L)), active=np.zeros((L, L), np.int8),
            sign=np.zeros((L, L), np.int8), act=np.zeros(n, np.int64), n_act=np.zeros(1, np.int64),
            new_act=np.zeros(n, np.int64), d_eps=np.zeros(n), last_act=np.full((L, L), -1.0), psi_edges=psi_edges,
            psi_counts=np.zeros(psi_edges.size + 1), t=np.zeros(1), stats=np.zeros(3))
        self.tracers = Tracers(rng.random((n_tracers, 2)) * L, np.zeros((n_tracers, 2)))
        self.pending = Pending(np.zeros(n, np.int64), np.zeros(n), np.full(n, -1, np.int64), np.zeros(1, np.int64),
                               np.zeros(1))
        self.lazy_bins = Binning(np.zeros(_LAZY_BINS + 1, np.int64), np.zeros(n, np.int64), np.zeros(_LAZY_BINS))
        self.bins_current = False
        self.all_sites = Binning(np.array([0, n]), np.arange(n), np.array([float(np.abs(self.sigma).max())]))
        self.field = np.zeros((L, L))
        self.g_scaled = dyn.two_mu * prop.g_q  # 2 mu G(q), for the FFT path
        self.fft_threshold = max(1, int(_FFT_SITES_PER_LOG2N * math.log2(n)))
        self.lazy_threshold = max(1, int(_LAZY_SITES_PER_LOG2N * math.log2(n)))
        # the kernels bound to these arguments' types (see epmsweep.model.jit.bind)
        self._dense = bind(transitions, self.sites, self.pending, self.all_sites, rule, dyn, rng, True)
        self._sort = bind(sort_into_bins, self.sigma, self.lazy_bins)
        self._lazy = bind(lazy_steps, 1, 1, self.sites, self.pending, self.lazy_bins, self.tracers, rule, dyn, rng,
                          True)

    @property
    def sigma(self) -> np.ndarray:
        return self.sites.sigma

    @property
    def pos(self) -> np.ndarray:
        return self.tracers.pos

    @property
    def disp(self) -> np.ndarray:
        return self.tracers.disp

    @property
    def stats(self) -> np.ndarray:
        """[steps, sum over steps of the number of active sites, activations]."""
        return self.sites.stats

    @property
    def t(self) -> float:
        return float(self.sites.t[0])

    @property
    def n_active(self) -> int:
        return int(self.sites.n_act[0])

    def advance(self, n_steps: int, measuring: bool, allow_lazy: bool = True) -> None:
        """Advance by ``n_steps`` steps of dt."""
        left = n_steps
        while left > 0:
            if allow_lazy and self.n_active <= self.lazy_threshold:
                if not self.bins_current:
                    self._sort(self.sigma, self.lazy_bins)
                    self.bins_current = True
                left -= self._lazy(left, self.lazy_threshold, self.sites, self.pending, self.lazy_bins, self.tracers,
                                   self.rule, self.dyn, self.rng, measuring)
            else:
                self.materialize()
                self.step(measuring)
                left -= 1

    def materialize(self) -> None:
        """Apply the pending strain to the stress field (lazy mode); sigma is then current."""
        n = int(self.pending.n[0])
        if n == 0:
            return
        sites, eps = self.pending.site[:n], self.pending.eps[:n]
        if n > self.fft_threshold:
            field.scatter(sites, eps, n, self.field)
            self.sigma[...] += self.prop.stress_change(self.field, self.dyn.two_mu)
        else:
            field.add_stress_real_space(self.sigma, self.prop.g_r, sites, eps, n, self.dyn.two_mu)
        self.pending.index[sites] = -1
        self.pending.n[0] = 0
        self.pending.m[0] = 0.0
        self.all_sites.top[0] = float(np.abs(self.sigma).max())
        self.bins_current = False

    def step(self, measuring: bool, force_fft: bool = False) -> int:
        """One dense step of dt (sigma must be current); returns the number of activations."""
        sites, dyn, n = self.sites, self.dyn, self.n_active
        if n:
            field.strain_increments(sites.act, n, sites.sign, dyn.eps_step, sites.d_eps)
            if force_fft or n > self.fft_threshold:
                self._apply_fft(n)
            else:
                self.all_sites.top[0] = field.add_stress_real_space(self.sigma, self.prop.g_r, sites.act, sites.d_eps,
                                                                    n, dyn.two_mu)
                if self.pos.shape[0]:
                    tracers.move_tracers_real_space(self.pos, self.disp, self.prop.uxy_r, sites.act, sites.d_eps, n)
            self.bins_current = False
        sites.t[0] += dyn.dt
        return self._dense(sites, self.pending, self.all_sites, self.rule, dyn, self.rng, measuring)

    def _apply_fft(self, n: int) -> None:
        field.scatter(self.sites.act, self.sites.d_eps, n, self.field)
        f = scipy.fft.rfft2(self.field)
        if self.pos.shape[0]:
            ux = scipy.fft.irfft2(self.prop.ux_q * f, s=self.field.shape)
            uy = scipy.fft.irfft2(self.prop.uy_q * f, s=self.field.shape)
            tracers.move_tracers_field(self.pos, self.disp, ux, uy)
        f *= self.g_scaled
        self.all_sites.top[0] = field.add_field(self.sigma, scipy.fft.irfft2(f, s=self.field.shape))


def steps_per(interval: float, dt: float, what: str) -> int:
    """``interval`` as a whole number of steps of ``dt``; InvalidInput naming ``what`` if it is not one."""
    n = round(interval / dt)
    if n < 1 or abs(n * dt - interval) > 1e-9 * max(interval, 1.0):
        raise InvalidInput(f"{what} = {interval:g} must be a positive multiple of dt = {dt:g}")
    return n


def simulate_time_stepped(params: Mapping[str, Value], settings: Mapping[str, Value], rule: tuple,
                          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Burn-in, then measurement with streamed observables; one validated point."""
    L, dt = int(params["L"]), float(settings["dt"])
    prop = eshelby(L, str(settings["propagator"]), str(settings["q0_mode"]))
    eps_step = float(params["eps0"]) * dt / (float(settings["strain_divisor"]) * float(params["tau"]))
    dyn = dynamics(prop, dt, float(params["tau_res"]), bool(settings["stop_at_zero"]), eps_step, float(params["mu"]))
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
    s_edges = stress_edges(settings)
    n_tracers = int(settings["n_tracers"])
    sim = TimeSteppedLattice(prop, rule, dyn, rng, n_tracers, float(settings["initial_std"]), psi_edges)
    probes = rng.choice(L * L, size=int(settings["n_probes"]), replace=False)

    per_sample = steps_per(float(settings["sample_interval"]), dt, "sample_interval")
    per_u = steps_per(float(settings["u_interval"]), dt * per_sample, "u_interval")
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
    return {
        "activity": active_sum.sum() / (steps_in.sum() * n_sites),
        "activity_t": activity_t,
        "t_window": 0.5 * (window_edges[1:] + window_edges[:-1]),
        "events": int(sim.stats[2]),
        "q": 2 * np.pi * np.arange(1, int(settings["q_modes"]) + 1) / L,
        "p_u": density(u_counts, u_edges),
        "psi": density(sim.sites.psi_counts, psi_edges),
        "p_sigma": density(s_counts, s_edges),
        **corr.results(),
    }

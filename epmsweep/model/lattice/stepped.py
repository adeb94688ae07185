"""Time-stepped runs of paper 002's rules: the lattice's state, its stepping, and one point
(burn-in, then measurement with streamed observables).

The stepping (:mod:`epmsweep.model.lattice.transitions`) keeps the stress as a straight line
in the step count between changes of the active set (:mod:`epmsweep.model.lattice.field`);
it costs one pass over the lattice per change, or one FFT recomputation when many sites
change in one step. The measurement runs in numba from sample to sample
(:func:`measure_samples`): the tracers are moved at updates from the plastic strain the
stepper recorded (:mod:`epmsweep.model.lattice.tracers`), and each sample feeds the
multiple-tau correlator, the probe stresses and the histograms. Nothing is done per step
beyond the activation thinning, so the cost per unit time follows the number of changes
of the active set and the number of samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import scipy.fft
from numba import njit

from epmsweep.model.core import InvalidInput, Value
from epmsweep.model.histogram import UniformBins, density, edge_slot, log_edges
from epmsweep.model.jit import bind, cache_own_types_only
from epmsweep.model.lattice.field import current_stress, histogram_current, new_field, stress_at
from epmsweep.model.lattice.longtime import SNAPSHOT_TRACERS, SNAPSHOTS, LongTime
from epmsweep.model.lattice.observables import TimeCorrelations, correlate_sample, wave_numbers
from epmsweep.model.lattice.propagator import DISPLACEMENT_PER_STRAIN, Propagator, eshelby
from epmsweep.model.lattice.tracers import new_tracers, update_tracers
from epmsweep.model.lattice.transitions import (ACTIVATIONS, ACTIVE_STEPS, LONGEST_WAIT, STEPS, Dynamics, new_lattice,
                                                recompute_rates, run_steps)
from epmsweep.model.rules import stress_edges
from epmsweep.model.run_length import (BLOCKS_PER_WINDOW, Chunk, MeasurementHooks, RunLength, burn_in, measure,
                                      run_length_results)

#: Recompute the rate field by FFT when more than this many sites per log2(N) changed in a
#: step: one shifted kernel costs ~N, the FFTs ~N log2 N (benchmarks/bench_lattice.py).
_FFT_SITES_PER_LOG2N = 1.5
#: Bins of |sigma| for the activation thinning.
_BINS = 16
#: Place the sites into the bins afresh once the loosening bound has drawn this many excess
#: candidates per site (a placement, one pass with few moves, costs about as much as N/10
#: candidates with their exact stresses and rates).
_PLACE_SITES = 0.1
#: Incremental kernel updates between two exact FFT recomputations of the rate field
#: (bounds the round-off the increments accumulate).
_RECOMPUTE_EVERY = 4096
#: Tracer updates at most this fraction of the mean event duration apart.
_TRACER_UPDATE_PER_EVENT = 0.1


class TimeSteppedLattice:
    """State and stepping of one lattice under an activation rule (see the module docstring)."""

    def __init__(self, prop: Propagator, rule: tuple, dyn: Dynamics, rng: np.random.Generator, sigma: np.ndarray,
                 psi_edges: np.ndarray, two_mu: float, eps_step: float, u_per_strain: float = 1.0):
        self.prop, self.rule, self.dyn, self.rng = prop, rule, dyn, rng
        self.state = new_lattice(new_field(sigma, two_mu * eps_step * prop.g_r), psi_edges, _BINS)
        self.u_step = u_per_strain * eps_step
        self.no_tracers = self.tracers_at(np.zeros((0, 2)))
        # the kernels bound to these arguments' types (see epmsweep.model.jit.bind)
        self._run = bind(run_steps, 1, self.state, self.no_tracers, rule, dyn, rng, True)
        self._recompute = bind(recompute_rates, self.state, rule, dyn.dt, 0, False)
        self.recompute_rates()

    def tracers_at(self, pos: np.ndarray):
        """Tracers at ``pos`` now, moved by this lattice's displacement per yielding step."""
        return new_tracers(pos, self.prop.ux_r, self.prop.uy_r, self.u_step, int(self.sites.clock[0]))

    @property
    def sites(self):
        return self.state.sites

    @property
    def field(self):
        return self.state.field

    @property
    def sigma(self) -> np.ndarray:
        """The current stress field (a new array)."""
        out = np.empty_like(self.field.base)
        current_stress(self.field, self.sites.active, self.sites.sign, out)
        return out

    def stress_at(self, sites: np.ndarray, out: np.ndarray) -> None:
        """Exact current stresses of ``sites`` (flat indices) into ``out``."""
        stress_at(sites, self.field, self.sites.active, self.sites.sign, out)

    @property
    def plastic_strain(self) -> np.ndarray:
        """Each site's plastic strain so far (L x L), in units of eps_step: its finished events'
        signed yielding steps and the current event's."""
        sites = self.sites
        strain = sites.yielded.copy()
        act = sites.act[:self.n_active]
        strain[act] += sites.sign.ravel()[act] * (sites.clock[0] - sites.since[act])
        return strain.reshape(sites.active.shape)

    @property
    def stats(self) -> np.ndarray:
        """[steps, sum over steps of the number of active sites, activations, longest waiting time]."""
        return self.sites.stats

    @property
    def n_active(self) -> int:
        return int(self.sites.n_act[0])

    def advance(self, n_steps: int, measuring: bool = False, tracers=None) -> None:
        """Advance by ``n_steps`` steps of dt (tracers record their strain only while measuring)."""
        self._run(n_steps, self.state, self.no_tracers if tracers is None else tracers, self.rule, self.dyn,
                  self.rng, measuring)

    def set_active(self, active: np.ndarray, sign: np.ndarray) -> None:
        """Make the sites of ``active`` (1) active with the event signs ``sign`` (a state
        handed on by another point); the rate field and bins follow."""
        self.sites.active[...] = active
        self.sites.sign[...] = sign
        on = np.flatnonzero(self.sites.active.ravel())
        self.sites.act[:on.size] = on
        self.sites.n_act[0] = on.size
        self.sites.since[on] = self.sites.clock[0]
        self.recompute_rates()

    def recompute_rates(self) -> None:
        """The rate field afresh by FFT from the active set, the sites placed into the bins."""
        self._recompute(self.state, self.rule, self.dyn.dt, int(self.sites.clock[0]), False)


class Schedule(NamedTuple):
    """When a sample does what, in steps and samples."""

    per_sample: int  # steps per sample
    per_update: int  # steps per tracer update (divides per_sample)
    per_p_sigma: int  # samples per P(sigma) histogram
    per_u: int  # samples per P(u) interval
    u_interval: float


class Samples(NamedTuple):
    """What the samples record beside the correlator."""

    probes: np.ndarray  # int64[P]: C_sigma's sites
    probe_sigma: np.ndarray  # float64[P]: scratch
    last_pos: np.ndarray  # float64[M, 2]: tracer positions at the last sample
    u: np.ndarray  # float64[M, 2]: scratch, displacements since the last sample
    u_origin: np.ndarray  # float64[M, 2]: positions at the start of the current P(u) interval
    u_edges: np.ndarray  # P(u) bins and counts (edge_slot layout)
    u_counts: np.ndarray
    s_bins: UniformBins  # P(sigma) bins and counts (uniform_slot layout)
    s_counts: np.ndarray
    count: np.ndarray  # int64[1]: samples so far
    snapshots: np.ndarray  # float64[SNAPSHOTS + 1, m, 2]: the first m tracers' positions every snapshot_every samples
    n_snapshots: np.ndarray  # int64[1]: index of the last snapshot
    snapshot_every: np.ndarray  # int64[1]: samples between snapshots (doubles when they are full)


@njit(cache=True, nogil=True)
def _snapshot(samples, pos, sample):
    """The first tracers' positions as the next snapshot; when the snapshots are full, every
    other one is kept and the spacing doubled (then this sample is kept only if it falls on
    the new spacing)."""
    snaps = samples.snapshots
    k = samples.n_snapshots[0] + 1
    if k == snaps.shape[0]:
        half = (k - 1) // 2
        for r in range(1, half + 1):
            snaps[r] = snaps[2 * r]
        samples.n_snapshots[0] = half
        samples.snapshot_every[0] *= 2
        if sample % samples.snapshot_every[0]:
            return
        k = half + 1
    for j in range(snaps.shape[1]):
        snaps[k, j, 0], snaps[k, j, 1] = pos[j, 0], pos[j, 1]
    samples.n_snapshots[0] = k


@cache_own_types_only
@njit(cache=True, nogil=True)
def measure_samples(n, block, state, tracers, corr, samples, schedule, rule, dyn, rng):
    """``n`` samples of the measurement (see the module docstring); the MSD's pairs count
    towards measurement block ``block``."""
    sites, field = state.sites, state.field
    pos = tracers.pos
    n_tr = pos.shape[0]
    for _ in range(n):
        if n_tr:
            for _ in range(schedule.per_sample // schedule.per_update):
                run_steps(schedule.per_update, state, tracers, rule, dyn, rng, True)
                update_tracers(tracers, sites.act, sites.n_act[0], sites.sign, sites.since, sites.clock[0])
        else:
            run_steps(schedule.per_sample, state, tracers, rule, dyn, rng, True)
        sample = samples.count[0] + 1
        stress_at(samples.probes, field, sites.active, sites.sign, samples.probe_sigma)
        for j in range(n_tr):
            for m in range(2):
                samples.u[j, m] = pos[j, m] - samples.last_pos[j, m]
                samples.last_pos[j, m] = pos[j, m]
        correlate_sample(corr, pos, samples.u, samples.probe_sigma, block)
        if sample % schedule.per_p_sigma == 0:
            histogram_current(field, sites.active, sites.sign, samples.s_bins, samples.s_counts)
        if samples.snapshots.shape[1] and sample % samples.snapshot_every[0] == 0:
            _snapshot(samples, pos, sample)
        if n_tr and sample % schedule.per_u == 0:  # P(u) over consecutive intervals of u_interval
            for j in range(n_tr):
                u = math.hypot(pos[j, 0] - samples.u_origin[j, 0], pos[j, 1] - samples.u_origin[j, 1])
                samples.u_counts[edge_slot(u / schedule.u_interval, samples.u_edges)] += 1.0
                samples.u_origin[j, 0], samples.u_origin[j, 1] = pos[j, 0], pos[j, 1]
        samples.count[0] = sample


def steps_per(interval: float, dt: float, what: str) -> int:
    """``interval`` as a whole number of steps of ``dt``; InvalidInput naming ``what`` if it is not one."""
    n = round(interval / dt)
    if n < 1 or abs(n * dt - interval) > 1e-9 * max(interval, 1.0):
        raise InvalidInput(f"{what} = {interval:g} must be a positive multiple of dt = {dt:g}")
    return n


def update_steps(per_sample: int, dt: float, tau_res: float) -> int:
    """Steps between tracer updates: the largest divisor of ``per_sample`` at most
    ``_TRACER_UPDATE_PER_EVENT`` tau_res long (at least one step)."""
    most = max(1, int(_TRACER_UPDATE_PER_EVENT * tau_res / dt + 1e-9))
    return max(d for d in range(1, min(most, per_sample) + 1) if per_sample % d == 0)


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


def dynamics(params: Mapping[str, Value], settings: Mapping[str, Value]) -> Dynamics:
    """The stepper's parameters for a point of size L."""
    n = int(params["L"]) ** 2
    return Dynamics(float(settings["dt"]), float(params["tau_res"]), bool(settings["stop_at_zero"]), _PLACE_SITES * n,
                    max(1, int(_FFT_SITES_PER_LOG2N * math.log2(n))), _RECOMPUTE_EVERY)


#: Length of a burn-in chunk (tau) under ``burn_in = "auto"``: the resolution of its trend test.
_BURN_CHUNK = 1.0


class _Hooks(MeasurementHooks):
    """The lattice's per-block records (the MSD's sums) and its other observables' criteria."""

    def __init__(self, corr: TimeCorrelations, longtime: LongTime, stats: np.ndarray):
        self.corr, self.longtime, self.stats = corr, longtime, stats
        self.block = 0

    def merge(self, n: int) -> None:
        self.corr.merge_blocks(n)
        self.block = n

    def reached(self, meas) -> bool:
        self.longtime.longest_wait = float(self.stats[LONGEST_WAIT])
        return self.longtime.reached(meas)


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
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    u_edges = log_edges(float(settings["u_min"]), float(settings["u_max"]), int(settings["u_bins"]))
    s_edges = stress_edges(settings)
    n_tracers = int(settings["n_tracers"])
    if start is None:
        initial = "cold" if settings["initial"] == "auto" else str(settings["initial"])
        sigma = initial_stresses(prop, initial, float(settings["initial_std"]), rng)
    else:
        sigma = np.array(start["sigma"], dtype=float)
    sim = TimeSteppedLattice(prop, rule, dynamics(params, settings), rng, sigma, psi_edges,
                             2.0 * float(params["mu"]), eps_step,
                             DISPLACEMENT_PER_STRAIN[str(settings["displacement_strain"])])
    if start is not None:
        sim.set_active(start["active"], start["sign"])
    # C_sigma's probes: a run of consecutive sites from a random one (a site average is unbiased
    # whichever sites; scattered sites cost a cache miss each at every sample)
    probes = (int(rng.integers(n_sites)) + np.arange(int(settings["n_probes"]))) % n_sites
    interval = float(settings["sample_interval"])
    per_sample = steps_per(interval, dt, "sample_interval")
    per_u = steps_per(float(settings["u_interval"]), dt * per_sample, "u_interval")
    schedule = Schedule(per_sample, update_steps(per_sample, dt, float(params["tau_res"])),
                        steps_per(float(settings["p_sigma_interval"]), dt * per_sample, "p_sigma_interval"), per_u,
                        float(settings["u_interval"]))
    length = RunLength.from_settings(settings)

    def chunk_since(before: np.ndarray) -> Chunk:
        d = sim.stats - before
        return Chunk(d[STEPS] * dt, d[ACTIVATIONS] / n_sites, d[ACTIVE_STEPS], d[STEPS] * n_sites)

    def burn_to(t: float) -> Chunk:
        before = sim.stats.copy()
        sim.advance(round(t / dt) - int(before[STEPS]))
        return chunk_since(before)

    burn = burn_in(burn_to, length, _BURN_CHUNK)
    sim.stats[:] = 0.0

    n_windows = int(settings["n_windows"])
    corr = TimeCorrelations(n_tracers, probes.size, int(settings["lag_levels"]), interval, int(settings["q_modes"]),
                            float(L), blocks=2 * n_windows * BLOCKS_PER_WINDOW)
    tracers = sim.tracers_at(rng.random((n_tracers, 2)) * L)
    snapshots = np.zeros((SNAPSHOTS + 1, min(n_tracers, SNAPSHOT_TRACERS), 2))
    snapshots[0] = tracers.pos[:snapshots.shape[1]]
    samples = Samples(probes, np.zeros(probes.size), tracers.pos.copy(), np.zeros((n_tracers, 2)),
                      tracers.pos.copy(), u_edges, np.zeros(u_edges.size + 1),
                      UniformBins.from_edges(s_edges), np.zeros(s_edges.size + 1), np.zeros(1, np.int64),
                      snapshots, np.zeros(1, np.int64), np.ones(1, np.int64))
    run = bind(measure_samples, 1, 0, sim.state, tracers, corr.state, samples, schedule, rule, sim.dyn, rng)
    longtime = LongTime(corr, settings, snapshots, samples.n_snapshots, samples.snapshot_every)
    hooks = _Hooks(corr, longtime, sim.stats)

    def measure_to(t: float) -> Chunk:
        before = sim.stats.copy()
        run(round(t / interval) - int(samples.count[0]), hooks.block, sim.state, tracers, corr.state, samples,
            schedule, rule, sim.dyn, sim.rng)
        hooks.block += 1
        return chunk_since(before)

    meas = measure(measure_to, length, n_windows, burn.rate, interval, hooks)
    longtime.longest_wait = float(sim.stats[LONGEST_WAIT])
    return {
        "activity": meas.value,
        "activity_err": meas.error,
        "activity_t": meas.per_window(),
        "t_window": meas.mid_times(burn.length),
        "events": int(sim.stats[ACTIVATIONS]),
        "q": 2 * np.pi * wave_numbers(int(settings["q_modes"])) / L,
        "p_u": density(samples.u_counts, u_edges),
        "psi": density(sim.sites.psi_counts, psi_edges),
        "p_sigma": density(samples.s_counts, s_edges),
        **corr.results(),
        **longtime.results(meas),
        **run_length_results(burn, meas),
    }, {"sigma": sim.sigma, "active": sim.sites.active.copy(), "sign": sim.sites.sign.copy()}

"""Paper 000's rule on the lattice: the finite-dimensional model behind the mean-field theory.

Eqs. (1)-(4) of paper 000 in continuous time: site i relaxes at rate nu(sigma_i)/tau,
nu = 1 above threshold and exp(-K (sigma_c - |sigma|)^a / T) below (Eq. 3). On
relaxation its stress is redrawn from y(sigma) (Eq. 1) and the drop d = sigma_old -
sigma_new is redistributed with an Eshelby kernel of uniformly random orientation angle
chi (App. A): sigma_j += d G_chi(r_j - r_i) / |G_chi(0)|, so the relaxing site lands
exactly on sigma_new. G_chi = (cos 4chi C + sin 4chi S)/2 + local
(:func:`epmsweep.model.lattice.propagator.orientation_harmonics`); the mean stress is conserved.

Event-driven and exact: the lattice is a system of the event engine
(:mod:`epmsweep.model.events`, thinning, direct and ``auto``); every event updates the
whole stress field, O(N).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

from epmsweep.model import events
from epmsweep.model.core import Value
from epmsweep.model.events import METHODS, EngineParams
from epmsweep.model.histogram import UniformBins, density, edge_slot, log_edges
from epmsweep.model.jit import bind
from epmsweep.model.lattice.observables import TimeCorrelations
from epmsweep.model.lattice.propagator import orientation_harmonics
from epmsweep.model.rules import Paper000Rule, stress_edges
from epmsweep.model.run_length import Chunk, RunLength, burn_in, measure, run_length_results

#: Activity below which ``auto`` uses the direct method. Every event costs O(N) here in
#: both modes (the field update), so the direct method's extra O(N) pass over the rates
#: pays off at a higher activity than in the mean-field model's 1.5.
SWITCH_ACTIVITY = 2.0
#: Length of a burn-in chunk (tau) under ``burn_in = "auto"``.
_BURN_CHUNK = 1.0


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


@overload(events.relax)
def _relax(system, j, old, new, t, rng, measuring):
    if getattr(system, "instance_class", None) is not LatticeSites:
        return None

    def impl(system, j, old, new, t, rng, measuring):
        if measuring and system.last_event[j] >= 0.0:
            system.psi_counts[edge_slot(t - system.last_event[j], system.psi_edges)] += 1.0
        system.last_event[j] = t
        redistribute(system, j, new, rng.random() * 0.5 * math.pi)

    return impl


@njit(cache=True, nogil=True)
def redistribute(system, j, new, chi):
    """Site j's stress becomes ``new``; the drop goes to every site with the kernel of
    orientation angle chi, normalised so that site j itself loses exactly the drop."""
    sigma, c_r, s_r, loc_r = system.sigma, system.c_r, system.s_r, system.loc_r
    L = sigma.shape[0]
    xj, yj = j // L, j % L
    c4, s4 = 0.5 * math.cos(4 * chi), 0.5 * math.sin(4 * chi)
    g0 = c4 * c_r[0, 0] + s4 * s_r[0, 0] + loc_r[0, 0]
    scale = (sigma[xj, yj] - new) / -g0
    for x in range(L):
        dx = x - xj
        if dx < 0:
            dx += L
        for y in range(L):
            dy = y - yj
            if dy < 0:
                dy += L
            sigma[x, y] += scale * (c4 * c_r[dx, dy] + s4 * s_r[dx, dy] + loc_r[dx, dy])
    sigma[xj, yj] = new


def simulate_events(params: Mapping[str, Value], settings: Mapping[str, Value], rng: np.random.Generator) -> dict:
    """One point of paper 000's rule: Gamma, its windows, P(sigma), the waiting-time density
    psi, C_sigma; run lengths fixed or auto (:mod:`epmsweep.model.run_length`)."""
    L = int(params["L"])
    n_sites = L * L
    rule = Paper000Rule.from_params(params)
    c_r, s_r, loc_r = orientation_harmonics(L, str(settings["propagator"]))
    if settings["initial"] == "cold":
        sigma = np.zeros((L, L))
    else:  # the randomly oriented kernel leaves only the mean stress frozen: start it at 0
        sigma = float(settings["initial_std"]) * rng.standard_normal((L, L))
        sigma -= sigma.mean()
    method = METHODS[str(settings["event_method"])]
    s_edges = stress_edges(settings)
    engine = EngineParams(method, SWITCH_ACTIVITY, 0.0, UniformBins.from_edges(s_edges))  # the kernel carries the drop
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    system = LatticeSites(sigma, c_r, s_r, loc_r, np.full(n_sites, -1.0), psi_edges,
                          np.zeros(psi_edges.size + 1))
    state = events.new_state(sigma, engine)
    probes = rng.choice(n_sites, size=int(settings["n_probes"]), replace=False)

    advance_bound = bind(events.advance, system, state, rule, engine, rng, 0.0, events.NO_EVENT_LIMIT, True)

    def advance(t_stop: float, measuring: bool) -> Chunk:
        e0, t0 = state.counters[events.EVENTS], state.clock[events.TIME]
        advance_bound(system, state, rule, engine, rng, t_stop, events.NO_EVENT_LIMIT, measuring)
        n_events, span = state.counters[events.EVENTS] - e0, state.clock[events.TIME] - t0
        return Chunk(span, n_events / n_sites, n_events, n_sites * span)

    length = RunLength.from_settings(settings)
    burn = burn_in(lambda t: advance(t, False), length, _BURN_CHUNK)
    interval = float(settings["sample_interval"])
    corr = TimeCorrelations(0, probes.size, int(settings["lag_levels"]), interval, 1, float(L))
    empty = np.zeros((0, 2))
    samples = [0]

    def measure_to(t: float) -> Chunk:
        ran = Chunk()
        while (samples[0] + 1) * interval <= t * (1 + 1e-12):
            samples[0] += 1
            ran += advance(burn.length + samples[0] * interval, True)
            corr.sample(empty, empty, sigma.ravel()[probes])
        return ran + advance(burn.length + t, True)

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
        **run_length_results(burn, meas),
    }

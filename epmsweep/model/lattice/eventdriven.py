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

#: Activity below which ``auto`` uses the direct method. Every event costs O(N) here in
#: both modes (the field update), so the direct method's extra O(N) pass over the rates
#: pays off at a higher activity than in the mean-field model's 1.5.
SWITCH_ACTIVITY = 2.0


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


@njit(cache=True)
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
    """One point of paper 000's rule: Gamma, its windows, P(sigma), the waiting-time density psi, C_sigma."""
    L = int(params["L"])
    rule = Paper000Rule.from_params(params)
    c_r, s_r, loc_r = orientation_harmonics(L, str(settings["propagator"]))
    sigma = float(settings["initial_std"]) * rng.standard_normal((L, L))
    sigma -= sigma.mean()
    method = METHODS[str(settings["event_method"])]
    s_edges = stress_edges(settings)
    engine = EngineParams(method, SWITCH_ACTIVITY, 0.0, UniformBins.from_edges(s_edges))  # the kernel carries the drop
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    system = LatticeSites(sigma, c_r, s_r, loc_r, np.full(L * L, -1.0), psi_edges,
                          np.zeros(psi_edges.size + 1))
    state = events.new_state(sigma, engine)
    probes = rng.choice(L * L, size=int(settings["n_probes"]), replace=False)

    advance_bound = bind(events.advance, system, state, rule, engine, rng, 0.0, events.NO_EVENT_LIMIT, True)

    def advance(t_stop: float, measuring: bool) -> None:
        advance_bound(system, state, rule, engine, rng, t_stop, events.NO_EVENT_LIMIT, measuring)

    burn_in, duration = float(settings["burn_in"]), float(settings["duration"])
    advance(burn_in, False)
    interval = float(settings["sample_interval"])
    corr = TimeCorrelations(0, probes.size, int(settings["lag_levels"]), interval, 1, float(L))
    empty = np.zeros((0, 2))
    n_windows = int(settings["n_windows"])
    window_edges = burn_in + duration * np.arange(n_windows + 1) / n_windows
    samples = burn_in + interval * np.arange(1, int(duration / interval) + 1)
    stops = np.unique(np.concatenate([window_edges[1:], samples]))
    win_events = np.zeros(n_windows)
    e0 = state.counters[events.EVENTS]
    w = 0
    for t_stop in stops:
        advance(t_stop, True)
        if np.isclose(t_stop, samples, rtol=0, atol=1e-9 * max(1.0, t_stop)).any():
            corr.sample(empty, empty, sigma.ravel()[probes])
        if w < n_windows and t_stop >= window_edges[w + 1] - 1e-9 * max(1.0, t_stop):
            win_events[w] = state.counters[events.EVENTS] - e0
            e0 = state.counters[events.EVENTS]
            w += 1
    n_sites = L * L
    window = duration / n_windows
    return {
        "gamma": float(win_events.sum() / (n_sites * duration)),
        "gamma_t": win_events / (n_sites * window),
        "t_window": 0.5 * (window_edges[1:] + window_edges[:-1]),
        "events": int(win_events.sum()),
        "p_sigma": density(state.hist, s_edges),
        "psi": density(system.psi_counts, psi_edges),
        "c_sigma": corr.results()["c_sigma"],
    }

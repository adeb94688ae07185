"""Paper 000's rule on the lattice: the finite-dimensional model behind the mean-field theory.

Eqs. (1)-(4) of paper 000 in continuous time: site i relaxes at rate nu(sigma_i)/tau,
nu = 1 above threshold and exp(-K (sigma_c - |sigma|)^a / T) below (Eq. 3). On
relaxation its stress is redrawn from y(sigma) (Eq. 1) and the drop d = sigma_old -
sigma_new is redistributed with an Eshelby kernel of uniformly random orientation psi
(App. A): sigma_j += d G_psi(r_j - r_i) / |G_psi(0)|, so the relaxing site lands exactly
on sigma_new. G_psi = (cos 4psi C + sin 4psi S)/2 + local
(:func:`epmsweep.model.propagator.orientation_harmonics`); the mean stress is conserved.

Event-driven, exact: like the mean-field simulation, ``thinning`` proposes ticks at rate
1/tau per site and accepts with probability nu (O(1) per proposal), ``direct`` keeps all
rates and picks the next site from them (O(N) per event); every event updates the whole
stress field, O(N). ``auto`` uses thinning while the activity sum(nu) exceeds
``_SWITCH_ACTIVITY`` and direct below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numba import njit

from epmsweep.model.base import Value
from epmsweep.model.meanfield import AUTO, DIRECT, THINNING
from epmsweep.model.observables import TimeCorrelations, density, edge_slot, log_edges
from epmsweep.model.propagator import orientation_harmonics
from epmsweep.model.rules import barrier_scalar, draw_y, nu_scalar, stress_edges

_SWITCH_ACTIVITY = 2.0
_E, _MODE, _PROPOSALS, _ACCEPTED = 0, 1, 2, 3


@njit(cache=True)
def _relax(sigma, j, rng, c_r, s_r, loc_r, sigma_c, sigma_0, rates, phys, with_rates):
    """Relax site j: redraw its stress and spread the drop with a random-orientation kernel.
    With ``with_rates`` also recompute every rate; returns their sum (else 0)."""
    L = sigma.shape[0]
    xj, yj = j // L, j % L
    new = draw_y(rng, sigma_c, sigma_0)
    psi = rng.random() * 0.5 * math.pi
    c4, s4 = 0.5 * math.cos(4 * psi), 0.5 * math.sin(4 * psi)
    g0 = c4 * c_r[0, 0] + s4 * s_r[0, 0] + loc_r[0, 0]
    scale = (sigma[xj, yj] - new) / -g0
    T, a, K = phys[0], phys[1], phys[4]
    total = 0.0
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
    if with_rates:
        for x in range(L):
            for y in range(L):
                r = nu_scalar(sigma[x, y], T, a, sigma_c, K)
                rates[x * L + y] = r
                total += r
    return total


@njit(cache=True)
def advance_events(sigma, rates, c_r, s_r, loc_r, phys, rng, istate, fstate, t_stop, method, measuring,
                   s_edges, s_counts, last_event, psi_edges, psi_counts):
    """Advance to time t_stop (exact continuous time; memoryless truncation at t_stop)."""
    T, a, sigma_c, sigma_0, K, tau = phys[0], phys[1], phys[2], phys[3], phys[4], phys[5]
    L = sigma.shape[0]
    n = L * L
    t = fstate[0]
    while t < t_stop:
        if istate[_MODE] == THINNING:
            # proposals at total rate N/tau, accepted with probability nu (exact thinning)
            while True:
                t_next = t + rng.standard_exponential() * tau / n
                if t_next >= t_stop:
                    t = t_stop
                    break
                t = t_next
                j = int(rng.random() * n)
                s = sigma[j // L, j % L]
                if measuring:  # PASTA sample of the site-time histogram
                    s_counts[edge_slot(s, s_edges)] += tau
                istate[_PROPOSALS] += 1
                barrier = barrier_scalar(s, a, sigma_c, K)
                if barrier <= 0.0 or rng.standard_exponential() * T > barrier:
                    _record(j, t, istate, last_event, psi_edges, psi_counts, measuring)
                    istate[_ACCEPTED] += 1
                    _relax(sigma, j, rng, c_r, s_r, loc_r, sigma_c, sigma_0, rates, phys, False)
                if method == AUTO and istate[_PROPOSALS] >= 4 * n:
                    activity = istate[_ACCEPTED] * n / istate[_PROPOSALS]
                    istate[_PROPOSALS] = 0
                    istate[_ACCEPTED] = 0
                    if activity < _SWITCH_ACTIVITY:
                        istate[_MODE] = DIRECT
                        fstate[1] = -1.0  # rates to be computed
                        break
        else:
            if fstate[1] < 0.0:
                fstate[1] = 0.0
                for x in range(L):
                    for y in range(L):
                        r = nu_scalar(sigma[x, y], T, a, sigma_c, K)
                        rates[x * L + y] = r
                        fstate[1] += r
            total = fstate[1]
            while True:
                if total <= 0.0:
                    t = t_stop
                    break
                dt = rng.standard_exponential() * tau / total
                if t + dt >= t_stop:
                    if measuring:
                        _occupancy(sigma, s_edges, s_counts, t_stop - t)
                    t = t_stop
                    break
                if measuring:
                    _occupancy(sigma, s_edges, s_counts, dt)
                t += dt
                target = rng.random() * total
                acc = 0.0
                j = n - 1
                for i in range(n):
                    acc += rates[i]
                    if target < acc:
                        j = i
                        break
                _record(j, t, istate, last_event, psi_edges, psi_counts, measuring)
                total = _relax(sigma, j, rng, c_r, s_r, loc_r, sigma_c, sigma_0, rates, phys, True)
                if method == AUTO and total > 2.0 * _SWITCH_ACTIVITY:
                    istate[_MODE] = THINNING
                    break
            fstate[1] = total
    fstate[0] = t


@njit(cache=True)
def _record(j, t, istate, last_event, psi_edges, psi_counts, measuring):
    istate[_E] += 1
    if measuring and last_event[j] >= 0.0:
        psi_counts[edge_slot(t - last_event[j], psi_edges)] += 1.0
    last_event[j] = t


@njit(cache=True)
def _occupancy(sigma, edges, counts, weight):
    for s in sigma.ravel():
        counts[edge_slot(s, edges)] += weight


def simulate_events(params: Mapping[str, Value], settings: Mapping[str, Value], rng: np.random.Generator) -> dict:
    """One point of paper 000's rule: Gamma, its windows, P(sigma), psi, C_sigma."""
    L = int(params["L"])
    phys = np.array([float(params[k]) for k in ("T", "a", "sigma_c", "sigma_0", "K", "tau")])
    c_r, s_r, loc_r = orientation_harmonics(L, str(settings["propagator"]))
    sigma = float(settings["initial_std"]) * rng.standard_normal((L, L))
    sigma -= sigma.mean()
    rates = np.zeros(L * L)
    istate = np.zeros(4, np.int64)
    method = {"auto": AUTO, "thinning": THINNING, "direct": DIRECT}[str(settings["event_method"])]
    istate[_MODE] = THINNING if method != DIRECT else DIRECT
    fstate = np.array([0.0, -1.0])  # time, total rate (-1: to be computed)
    s_edges = stress_edges(settings)
    s_counts = np.zeros(s_edges.size + 1)
    psi_edges = log_edges(float(settings["psi_min"]), float(settings["psi_max"]), int(settings["psi_bins"]))
    psi_counts = np.zeros(psi_edges.size + 1)
    last_event = np.full(L * L, -1.0)
    probes = rng.choice(L * L, size=int(settings["n_probes"]), replace=False)

    def advance(t_stop: float, measuring: bool) -> None:
        advance_events(sigma, rates, c_r, s_r, loc_r, phys, rng, istate, fstate, t_stop, method, measuring,
                       s_edges, s_counts, last_event, psi_edges, psi_counts)

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
    e0 = istate[_E]
    w = 0
    for t_stop in stops:
        advance(t_stop, True)
        if np.isclose(t_stop, samples, rtol=0, atol=1e-9 * max(1.0, t_stop)).any():
            corr.sample(empty, empty, sigma.ravel()[probes])
        if w < n_windows and t_stop >= window_edges[w + 1] - 1e-9 * max(1.0, t_stop):
            win_events[w] = istate[_E] - e0
            e0 = istate[_E]
            w += 1
    n_sites = L * L
    window = duration / n_windows
    return {
        "gamma": float(win_events.sum() / (n_sites * duration)),
        "gamma_t": win_events / (n_sites * window),
        "t_window": 0.5 * (window_edges[1:] + window_edges[:-1]),
        "events": int(win_events.sum()),
        "p_sigma": density(s_counts, s_edges),
        "psi": density(psi_counts, psi_edges),
        "c_sigma": corr.results()["c_sigma"],
    }

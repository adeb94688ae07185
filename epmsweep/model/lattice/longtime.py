"""What "measured" means for the lattice's lag observables, and the tracers' long-time
diffusion coefficient D_inf.

**D_inf.** D(t) = MSD/4t approaches D_inf only as C/4t (C the offset the early, faster
motion leaves), so it is estimated from the *slope* of the MSD, which is constant once the
motion is diffusive: over a decade of lags [l_s, l_e = 10 l_s],

    D_inf = (MSD(l_e) - MSD(l_s)) / (4 (l_e - l_s)),

and the long-time regime is *reached* at l_s when the slopes over [l_s, l_m] and [l_m, l_e]
(l_m = 3 l_s) agree within ``PLATEAU_Z`` standard errors -- the local D constant within its
error over the decade -- and within ``LATER_Z`` for every later l_s the run can test, D_inf's
relative error is at most ``diffusion_rel_err`` and that agreement's standard error at most
``TREND_POWER`` times it (a drift of the local D of 20% over the decade would show). D_inf
is reported from the latest such decade: the local D can still fall slowly after the onset
(long-wavelength modes near the axes of q, where the Eshelby kernel vanishes, relax over
times that grow as L^2), so the latest decade the precision allows has the least bias. Estimates and errors come from ``K >=
MIN_WINDOWS`` consecutive windows of length l_e, each giving its own slope from the tracer
positions inside it (origins every block): in the diffusive regime disjoint windows are
independent, so their scatter is an honest error (K - 1 degrees of freedom), where an
autocorrelation time of an all-origins estimator at lags of a tenth of the run could not be
estimated. The windows must also be longer than the activity's integrated autocorrelation
time. The positions of up to ``SNAPSHOT_TRACERS`` tracers are kept every few samples, at
most ``SNAPSHOTS`` of them (the spacing doubles when they are full), so l_s is resolved to
one spacing and, as the run grows at fixed l_s, the windows grow in number and the error
shrinks. Tracers' long-time displacements are collective (the long-wavelength modes of the
plastic strain move them all), so more tracers add little to D_inf's precision.

**Other observables.** S(q, t), C_u and the MSD are functionals of the same displacements:
S(q, t)'s long-time form is fixed by D_inf (exp(-q^2 D_inf t) in the diffusive regime) and
C_u's integral is D's, so they are measured when D_inf is. C_sigma is measured when it has
decayed to ``C_SIGMA_DECAYED`` at a lag with at least ``MIN_WINDOWS`` windows in the run.
psi is measured when the measurement is at least ``MIN_WINDOWS`` times the longest waiting
time it recorded (the truncation of the density by the run's length is then far beyond
every waiting time it reports).

Flags: 1 measured, 0 not (the cap stopped the run first), -1 not measured at all (no
tracers, no probes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from epmsweep.model.core import InvalidInput, Value
from epmsweep.model.lattice.observables import TimeCorrelations, wave_numbers
from epmsweep.model.run_length import Measurement

#: Independent windows at the largest lag an estimate uses.
MIN_WINDOWS = 10
#: Snapshots of the tracer positions kept for D_inf, and the tracers in them.
SNAPSHOTS = 4096
SNAPSHOT_TRACERS = 128
#: Largest difference, in standard errors, of the MSD's slopes over the two parts of a decade
#: in the long-time regime: at the decade that starts it, and at every later one (these are
#: up to ~10 tests, so each at a stricter level: a diffusive run passes them all ~97% of
#: the time).
PLATEAU_Z = 2.0
LATER_Z = 3.0
#: The trend test must resolve a difference of the decade's two slopes of this many times
#: diffusion_rel_err (its standard error at most that): a 20% drift is then seen at 2 sigma.
TREND_POWER = 2.0
#: C_sigma is measured once it has decayed to this.
C_SIGMA_DECAYED = 0.1
#: Observables whose criteria can drive the run (setting ``measure_until``), and the
#: observables each stands for.
DRIVERS = {"activity": "activity (target_rel_err)", "diffusion": "MSD, D(t), D_inf, S(q, t), C_u",
           "c_sigma": "C_sigma", "psi": "psi"}
ALL = "all"


def drivers(value: str) -> set[str]:
    """The observables named by ``measure_until`` (InvalidInput for an unknown name)."""
    names = {part.strip() for part in value.split(",") if part.strip()}
    if names == {ALL}:
        return set(DRIVERS)
    unknown = sorted(names - set(DRIVERS))
    if unknown or not names:
        raise InvalidInput(f"measure_until = {value!r} is not allowed: expected {ALL!r} or a comma-separated list of "
                           f"{', '.join(repr(d) for d in DRIVERS)}")
    return names | {"activity"}


@dataclass(frozen=True)
class Diffusion:
    """D_inf, its standard error, the lag where the long-time regime starts (NaN: none found)
    and whether it was reached."""

    value: float = math.nan
    error: float = math.nan
    onset: float = math.nan
    reached: bool = False


def _start_candidates(n: int) -> list[int]:
    """Decade starts s (in snapshot spacings) with at least MIN_WINDOWS windows of 10 s in n
    spacings: 1, 2, 3, 4, 6, 8, 12, ... (the lag grid of S(q, t)'s wave numbers)."""
    return [int(k) for k in wave_numbers(40) if n // (10 * int(k)) >= MIN_WINDOWS]


def _window_slopes(pos: np.ndarray, s: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Per window of 10 s spacings: the MSD's slope/4 over the decade [s, 10 s] and the
    difference of its slopes over the decade's two parts [s, 3 s], [3 s, 10 s], from the
    origins inside the window (positions ``pos`` every ``spacing``)."""
    e, m = 10 * s, 3 * s
    k = (pos.shape[0] - 1) // e

    def msd_in_windows(lag: int) -> np.ndarray:
        per_origin = ((pos[lag:] - pos[:-lag]) ** 2).sum(axis=(1, 2)) / pos.shape[1]
        total = np.concatenate([[0.0], np.cumsum(per_origin)])
        lo = np.arange(k) * e
        hi = lo + e - lag + 1
        return (total[hi] - total[lo]) / (hi - lo)

    ms, mm, me = msd_in_windows(s), msd_in_windows(m), msd_in_windows(e)
    d1, d2 = (mm - ms) / (4 * spacing * (m - s)), (me - mm) / (4 * spacing * (e - m))
    return (me - ms) / (4 * spacing * (e - s)), d2 - d1


def long_time_diffusion(pos: np.ndarray, spacing: float, rel_err: float, correlation_time: float = 0.0) -> Diffusion:
    """D_inf from tracer positions every ``spacing`` (``pos``: snapshots, tracers, 2); see the
    module docstring."""
    starts = _start_candidates(pos.shape[0] - 1)
    if pos.shape[1] == 0 or not starts:
        return Diffusion()
    tests = []
    for s in starts:
        slopes, trend = _window_slopes(pos, s, spacing)
        k = slopes.size
        err, trend_err = slopes.std(ddof=1) / math.sqrt(k), trend.std(ddof=1) / math.sqrt(k)
        tests.append((s, slopes.mean(), err, abs(trend.mean()) / trend_err, trend_err))
    onset = None
    for j, test in enumerate(tests):
        if test[3] <= PLATEAU_Z and all(t[3] <= LATER_Z for t in tests[j + 1:]):
            onset = j
            break
    if onset is None:
        s, value, err, _, _ = tests[-1]
        return Diffusion(value, err)
    # the latest decade from the onset on that is precise enough: the least bias the precision allows
    precise = [t for t in tests[onset:] if 0 < t[1] and t[2] <= rel_err * t[1] and t[4] <= TREND_POWER * rel_err * t[1]
               and 10 * t[0] * spacing >= correlation_time]
    s, value, err, _, _ = precise[-1] if precise else tests[onset]
    return Diffusion(value, err, tests[onset][0] * spacing, bool(precise))


class LongTime:
    """Per point: the criteria of the lattice's lag observables and D_inf (see the module
    docstring), from the correlator and the tracer snapshots the measurement keeps
    (``Samples.snapshots`` of :mod:`epmsweep.model.lattice.stepped`)."""

    def __init__(self, corr: TimeCorrelations, settings: Mapping[str, Value], snapshots: np.ndarray,
                 n_snapshots: np.ndarray, snapshot_every: np.ndarray):
        self.corr = corr
        self.rel_err = float(settings["diffusion_rel_err"])
        self.require = drivers(str(settings["measure_until"])) - {"activity"}
        self.has_tracers, self.has_probes = snapshots.shape[1] > 0, int(settings["n_probes"]) > 0
        self.snapshots, self.n_snapshots, self.snapshot_every = snapshots, n_snapshots, snapshot_every
        self.interval = float(settings["sample_interval"])
        self.longest_wait = 0.0

    def diffusion(self, meas: Measurement) -> Diffusion:
        if not self.has_tracers:
            return Diffusion()
        return long_time_diffusion(self.snapshots[:int(self.n_snapshots[0]) + 1],
                                   int(self.snapshot_every[0]) * self.interval, self.rel_err, meas.correlation_time)

    def flags(self, meas: Measurement) -> dict[str, int]:
        """Per driving observable other than the activity: 1 measured, 0 not, -1 not measured at all."""
        usable = self.corr.lags <= meas.duration / MIN_WINDOWS
        c_sigma = self.corr.results()["c_sigma"][usable]
        return {
            "diffusion": int(self.diffusion(meas).reached) if self.has_tracers else -1,
            "c_sigma": int(bool((c_sigma <= C_SIGMA_DECAYED).any())) if self.has_probes else -1,
            "psi": int(meas.duration >= MIN_WINDOWS * self.longest_wait),
        }

    def reached(self, meas: Measurement) -> bool:
        """Whether every observable that drives the run (``measure_until``) is measured."""
        flags = self.flags(meas)
        return all(flags[name] != 0 for name in self.require)

    def results(self, meas: Measurement) -> dict[str, float | int]:
        d, flags = self.diffusion(meas), self.flags(meas)
        return {"diffusion_inf": d.value, "diffusion_inf_err": d.error, "diffusion_inf_lag": d.onset,
                "diffusion_inf_reached": flags["diffusion"], "c_sigma_reached": flags["c_sigma"],
                "psi_reached": flags["psi"]}

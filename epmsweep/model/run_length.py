"""How long a stochastic run burns in and measures: fixed lengths, or ``"auto"`` (the default).

A model advances its run by *chunks* and reports each as a :class:`Chunk`: its length in
the run's unit (time, or sweeps of N events), the events per site in it, and the main
observable (the activity a, or Gamma) as a ratio ``num / den`` so that chunks add up.
The drivers here decide when to stop; they know nothing else of the model.

``burn_in = "auto"``: advance chunk by chunk until

1. every site has relaxed ``relaxations`` times on average (events per site >= k, i.e. a
   burn-in of k relaxation times 1/nu, nu the per-site event rate measured as the run
   goes; from a start with a lower rate than the steady state this is longer), and
2. the trend test passes on the latter half of the burn-in: its two quarters, each cut
   into batches, have means that differ by at most ``BURN_IN_DRIFT_LIMIT`` = 2 standard
   errors (batch means, :func:`drift`): a residual trend is then below the resolution of
   the burn-in's own data, which grows as the burn-in does. The threshold is strict (a
   stationary run fails it one time in twenty and burns in 10% longer) because a relaxing
   start inflates the errors of the halves by its own trend;

capped by ``max_burn_in``. The test is repeated each time the burn-in has grown by 10%
(a geometric schedule: O(log) tests).

``duration = "auto"``: measure in ``n_windows`` windows, each first one relaxation time
1/nu long (nu from the latter half of the burn-in; at least ``min_window``), each cut into
up to ``BLOCKS_PER_WINDOW`` blocks, and double the measurement (new blocks of the same
length, then merged in pairs) until

1. the relative error of the main observable reaches ``target_rel_err``,
2. the measurement holds at least ``MIN_CORRELATION_TIMES`` integrated autocorrelation
   times of the main observable (its error estimate is then trustworthy), and
3. the model's other observables are measured (the ``hooks``' ``reached``, e.g. the
   lattice's long-time diffusion),

or doubling would pass ``max_duration``. Errors are those of correlated data: the blocks'
residuals of the ratio estimator num/den, their integrated autocorrelation time tau_int
(Sokal's automatic window, :func:`emcee.autocorr.integrated_time`), SE^2 = tau_int var/n.
Batch means over windows of one relaxation time understated the error where the
collective correlation time is longer than 1/nu (the lattice at low T).

A point is ``stationary`` when its burn-in test passed (a fixed burn-in has none) and the
two halves of its measurement agree within ``DRIFT_LIMIT`` standard errors. With the
errors from tau_int the statistic is close to a standard normal, so a stationary run is
flagged with probability ~1e-4; a drift of 4 standard errors of the half-means is flagged
half of the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from emcee.autocorr import integrated_time

from epmsweep.model.core import Field, InvalidInput, Output, Value

#: Largest |drift| (in standard errors of the difference of the two halves' means) of a
#: stationary run.
DRIFT_LIMIT = 4.0
#: The same for the end of the burn-in (see the module docstring).
BURN_IN_DRIFT_LIMIT = 2.0
#: Batches in each quarter of the burn-in's trend test.
_BATCHES_PER_QUARTER = 5
#: The trend test is repeated each time the burn-in has grown by this factor.
_TEST_GROWTH = 1.1
#: Blocks per measurement window: the series whose autocorrelation time gives the errors.
BLOCKS_PER_WINDOW = 16
#: An automatic measurement holds at least this many integrated autocorrelation times of its
#: main observable (Sokal's window needs a series of ~20 tau_int or more to estimate tau_int).
MIN_CORRELATION_TIMES = 20
#: Shortest series whose autocorrelation time is estimated (shorter: treated as independent).
_MIN_SERIES = 8
AUTO = "auto"


@dataclass
class Chunk:
    """A stretch of a run: its length, events per site, and the main observable num/den."""

    time: float = 0.0
    events_per_site: float = 0.0
    num: float = 0.0
    den: float = 0.0

    def __add__(self, other: Chunk) -> Chunk:
        return Chunk(self.time + other.time, self.events_per_site + other.events_per_site, self.num + other.num,
                     self.den + other.den)

    @property
    def rate(self) -> float:
        """Events per site per unit of the run's length (the per-site relaxation rate nu)."""
        return self.events_per_site / self.time if self.time > 0 else 0.0


def run_length_settings(unit: str, max_burn_in: float, max_duration: float) -> dict[str, Field]:
    """The declarations of a model's run-length settings, lengths in ``unit``."""
    return {
        "burn_in": Field(AUTO, "burn-in before measuring: a length, or 'auto' (until stationary, see max_burn_in)",
                         unit, float, 0.0, None, words=(AUTO,)),
        "duration": Field(AUTO, "measurement: a length, or 'auto' (until the relative error of the main observable "
                                "reaches target_rel_err, see max_duration)", unit, float, 0.0, None, lower_open=True,
                          words=(AUTO,)),
        "relaxations": Field(5.0, "auto burn-in: at least this many events per site (relaxation times 1/nu)", "1",
                             float, 0.0, None),
        "max_burn_in": Field(max_burn_in, "auto burn-in: the longest; a point that reaches it unconverged is "
                                          "flagged stationary = 0", unit, float, 0.0, None, lower_open=True),
        "max_duration": Field(max_duration, "auto duration: the longest measurement", unit, float, 0.0, None,
                              lower_open=True),
        "target_rel_err": Field(0.01, "auto duration: target relative standard error of the main observable", "1",
                                float, 0.0, 1.0, lower_open=True),
    }


def run_length_outputs(unit: str, observable: str) -> dict[str, Output]:
    """The outputs that say how long a point ran and whether it was stationary."""
    return {
        "burn_in_used": Output((), "float64", unit, "burn-in actually run"),
        "duration_used": Output((), "float64", unit, "measurement actually run"),
        "stationary": Output((), "int8", "1", "1: burn-in trend test passed (or fixed burn-in) and the measurement's "
                                              "halves agree; 0: not shown stationary"),
        "drift": Output((), "float64", "1", f"difference of {observable} between the measurement's second and first "
                                            "half, in standard errors"),
        "rel_err": Output((), "float64", "1", f"relative standard error of {observable} (from its integrated "
                                              "autocorrelation time)"),
        "correlation_time": Output((), "float64", unit, f"integrated autocorrelation time of {observable} over the "
                                                        "measurement's blocks"),
    }


@dataclass(frozen=True)
class RunLength:
    """The resolved run-length settings; ``burn_in``/``duration`` None means auto."""

    burn_in: float | None
    duration: float | None
    relaxations: float
    max_burn_in: float
    max_duration: float
    target_rel_err: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, Value]) -> RunLength:
        def length(name: str) -> float | None:
            return None if settings[name] == AUTO else float(settings[name])

        return cls(length("burn_in"), length("duration"), float(settings["relaxations"]),
                   float(settings["max_burn_in"]), float(settings["max_duration"]), float(settings["target_rel_err"]))

    def check(self, n_windows: int, shortest: float, what: str) -> None:
        """Refuse lengths that cannot hold ``n_windows`` windows of at least ``shortest`` (``what``)."""
        for name, value in (("duration", self.duration), ("max_duration", self.max_duration)):
            if value is not None and value < n_windows * shortest * (1 - 1e-9):
                raise InvalidInput(f"{name} = {value:g} is shorter than n_windows = {n_windows} windows of "
                                   f"{what} = {shortest:g}")


@dataclass(frozen=True)
class BurnIn:
    """What the burn-in did: its length, whether its trend test passed, the drift statistic,
    and the per-site event rate over its latter half."""

    length: float
    passed: bool
    drift: float
    rate: float


@dataclass(frozen=True)
class Measurement:
    """The measurement's blocks (equal lengths, grouped into ``n_windows`` windows) and what
    was estimated from them; ``correlation_time`` in the run's unit."""

    blocks: list[Chunk]
    n_windows: int
    value: float
    rel_err: float
    drift: float
    correlation_time: float

    @property
    def duration(self) -> float:
        return sum(b.time for b in self.blocks)

    @property
    def error(self) -> float:
        """Standard error of the main observable."""
        return self.value * self.rel_err

    @property
    def events(self) -> int:
        """Events in the measurement (``num`` counts them where the observable is a rate)."""
        return int(sum(b.num for b in self.blocks))

    @property
    def windows(self) -> list[Chunk]:
        """The blocks summed into ``n_windows`` consecutive windows."""
        per = len(self.blocks) // self.n_windows
        return [sum(self.blocks[k * per:(k + 1) * per], Chunk()) for k in range(self.n_windows)]

    def per_window(self) -> np.ndarray:
        """The main observable in each window."""
        return np.array([w.num / w.den for w in self.windows])

    def mid_times(self, start: float) -> np.ndarray:
        """Mid-time of each window, the measurement starting at ``start``."""
        edges = start + np.concatenate([[0.0], np.cumsum([w.time for w in self.windows])])
        return 0.5 * (edges[1:] + edges[:-1])


def correlation_times(series: np.ndarray) -> np.ndarray:
    """Integrated autocorrelation time tau_int = 1 + 2 sum_t rho(t) of each column of
    ``series`` (rows: consecutive blocks), in blocks, with Sokal's automatic window (emcee);
    at least 1 (anticorrelated blocks are not credited), 1 for a constant or short column."""
    x = np.asarray(series, dtype=float)
    x = x.reshape(x.shape[0], -1)
    tau = np.ones(x.shape[1])
    varies = x.std(axis=0) > 1e-14 * np.maximum(np.abs(x).max(axis=0), 1e-300)
    if x.shape[0] >= _MIN_SERIES and varies.any():
        tau[varies] = integrated_time(x[:, varies], c=5, tol=0, has_walkers=False)
    return np.maximum(tau, 1.0)


def mean_error(residuals: np.ndarray, tau: float | None = None) -> tuple[float, float]:
    """(standard error of the mean of a block series of residuals, tau_int in blocks):
    SE^2 = tau_int var / n (tau_int estimated here unless given)."""
    r = np.asarray(residuals, dtype=float)
    n = r.size
    if n < 2:
        return math.nan, 1.0
    t = float(correlation_times(r)[0]) if tau is None else tau
    return math.sqrt(r.var(ddof=1) * t / n), t


def ratio_error(num: np.ndarray, den: np.ndarray, tau: float | None = None) -> tuple[float, float, float]:
    """Ratio estimator R = sum(num)/sum(den) over blocks, its standard error from the
    residuals (num_k - R den_k)/mean(den) and their tau_int (in blocks; estimated unless
    given): (R, SE, tau_int)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    if num.size < 2 or den.sum() <= 0:
        return (num.sum() / den.sum() if den.sum() > 0 else math.nan), math.nan, 1.0
    r = num.sum() / den.sum()
    err, t = mean_error((num - r * den) / den.mean(), tau)
    return r, err, t


def drift(num: np.ndarray, den: np.ndarray, tau: float | None = None) -> float:
    """(mean of the second half - mean of the first half) / the standard error of that
    difference, each half's mean and error from its blocks (:func:`ratio_error`, with the
    whole series' tau_int unless given). 0 when both halves are equal without noise (e.g. no
    events at all), +-inf when they differ without noise."""
    half = len(num) // 2
    if tau is None:
        tau = ratio_error(num, den)[2]
    m1, e1, _ = ratio_error(num[:half], den[:half], tau)
    m2, e2, _ = ratio_error(num[-half:], den[-half:], tau)
    diff, err = m2 - m1, math.hypot(e1, e2)
    if err > 0:
        return diff / err
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def _batches(chunks: list[Chunk], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The chunks grouped into n consecutive batches of (nearly) equal chunk counts."""
    groups = np.array_split(np.arange(len(chunks)), n)
    return (np.array([sum(chunks[i].num for i in g) for g in groups]),
            np.array([sum(chunks[i].den for i in g) for g in groups]))


class MeasurementHooks:
    """What a model adds to the measurement driver: its own per-block records, merged when
    the driver merges blocks, and its other observables' criteria. The default has none."""

    def merge(self, n: int) -> None:
        """Blocks 2k and 2k + 1 of the first 2n became block k; the next block is n."""

    def reached(self, meas: Measurement) -> bool:
        """Whether the model's other observables are measured (see the module docstring)."""
        return True


def burn_in(advance_to: Callable[[float], Chunk], length: RunLength, chunk: float) -> BurnIn:
    """Run the burn-in (see the module docstring): ``advance_to(t)`` advances the run to
    length t from its start and returns the chunk it ran; ``chunk`` is the auto step."""
    record: list[Chunk] = []
    t, relaxed, next_test, stat, passed = 0.0, 0.0, 0.0, math.nan, length.burn_in is not None
    end = length.burn_in if length.burn_in is not None else length.max_burn_in
    while t < end * (1 - 1e-12):
        c = advance_to(min(t + chunk, end))
        record.append(c)
        t += c.time
        relaxed += c.events_per_site
        if length.burn_in is None and relaxed >= length.relaxations and t >= next_test \
                and len(record) >= 4 * _BATCHES_PER_QUARTER:
            stat = drift(*_batches(record[len(record) // 2:], 2 * _BATCHES_PER_QUARTER), tau=1.0)
            if abs(stat) <= BURN_IN_DRIFT_LIMIT:
                passed = True
                break
            next_test = t * _TEST_GROWTH
    if length.burn_in is None and not passed and len(record) >= 4:
        stat = drift(*_batches(record[len(record) // 2:], min(2 * _BATCHES_PER_QUARTER, len(record) // 2)),
                     tau=1.0)
    latter = sum(record[len(record) // 2:], Chunk())
    return BurnIn(t, passed, stat, latter.rate)


def _estimate(blocks: list[Chunk], n_windows: int) -> Measurement:
    """The main observable's value, relative error, drift and tau_int from the blocks."""
    num, den = np.array([b.num for b in blocks]), np.array([b.den for b in blocks])
    value, err, tau = ratio_error(num, den)
    rel_err = err / abs(value) if value != 0 else (0.0 if err == 0 else math.inf)
    return Measurement(blocks, n_windows, value, rel_err, drift(num, den, tau), tau * blocks[0].time)


def measure(advance_to: Callable[[float], Chunk], length: RunLength, n_windows: int, rate: float,
            min_window: float, hooks: MeasurementHooks | None = None) -> Measurement:
    """Run the measurement in ``n_windows`` equal windows of blocks (see the module
    docstring): ``advance_to(t)`` advances to length t from the measurement's start, one
    block per call; ``rate`` is the per-site event rate from the burn-in; ``min_window`` the
    shortest block; ``hooks`` the model's per-block records and other criteria."""
    hooks = hooks or MeasurementHooks()
    if length.duration is not None:
        window = length.duration / n_windows
    else:
        window = min(max(1.0 / rate if rate > 0 else math.inf, min_window), length.max_duration / n_windows)
    per_window = max(1, min(BLOCKS_PER_WINDOW, int(window / min_window * (1 + 1e-9))))
    n, block = n_windows * per_window, window / per_window
    blocks = [advance_to((k + 1) * block) for k in range(n)]
    while True:
        meas = _estimate(blocks, n_windows)
        if length.duration is not None or 2 * n * block > length.max_duration * (1 + 1e-9):
            return meas
        if meas.rel_err <= length.target_rel_err and meas.correlation_time * MIN_CORRELATION_TIMES <= meas.duration \
                and hooks.reached(meas):
            return meas
        blocks += [advance_to((n + k + 1) * block) for k in range(n)]
        blocks = [blocks[2 * k] + blocks[2 * k + 1] for k in range(n)]
        hooks.merge(n)
        block *= 2


def run_length_results(burn: BurnIn, meas: Measurement) -> dict[str, float | int]:
    """The outputs of :func:`run_length_outputs`."""
    return {
        "burn_in_used": burn.length,
        "duration_used": meas.duration,
        "stationary": int(burn.passed and abs(meas.drift) <= DRIFT_LIMIT),
        "drift": meas.drift,
        "rel_err": meas.rel_err,
        "correlation_time": meas.correlation_time,
    }

"""Streaming estimators for the lattice model: memory fixed by the settings, not run length.

Time correlations use a multiple-tau scheme: samples arrive every ``dt_s`` (the
sampling interval); level l keeps the last ``BLOCK - 1`` samples taken every
BLOCK^l samples, so lags i * BLOCK^l * dt_s, i = 1 .. BLOCK - 1, are measured with
every available time origin of that spacing. With BLOCK = 10 the lag grid has 9
points per decade (1..9, 10..90, 100..900, ... times dt_s) -- the settings' "log-spaced
lag grid" -- and the memory is levels x 9 samples of the tracked quantities. Per lag:

* MSD(lag) = <|r(t0 + lag) - r(t0)|^2> over tracers and origins, D = MSD / (4 lag);
* S(q, lag) = <cos(q . (r(t0 + lag) - r(t0)))> over tracers, origins and the wave
  vectors (q, 0) and (0, q) of equal modulus (paper 002's definition), q = 2 pi k / L
  for k = 1, 2, 3, 4, 6, 8, 12, ... (2^m and 3 2^m, :func:`wave_numbers`): about seven
  per decade from the box down to below the lattice spacing (tracers move off the
  lattice; k = L/2 is q = pi), so one run holds the diffusive regime (small q) and the
  crossover and ballistic ones (q of order pi and above, where the displacements within
  one event duration are a fraction of a lattice spacing). From one
  cosine per axis, cos 2x = 2 cos^2 x - 1 and cos 3x = cos x (2 cos 2x - 1) give them all
  at a few multiplications each;
* C_u(lag) = <u(t0) . u(t0 + lag)> / <u . u>, u the tracer displacement over one
  sampling interval;
* C_sigma(lag) = cov(sigma_i(t0), sigma_i(t0 + lag)) / var(sigma_i) over probe sites.

Distributions are histograms on fixed (log-spaced) bins, with under/overflow counts.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from epmsweep.model.jit import bind

BLOCK = 10


def lag_grid(sample_interval: float, levels: int) -> np.ndarray:
    """Lags i * 10^l * sample_interval, i = 1..9, l = 0..levels-1 (increasing)."""
    return np.array([i * BLOCK**lev * sample_interval for lev in range(levels) for i in range(1, BLOCK)])


def wave_numbers(n: int) -> np.ndarray:
    """The first ``n`` of k = 1, 2, 3, 4, 6, 8, 12, 16, ... (2^m and 3 2^m, increasing)."""
    ks = sorted({2**m for m in range(n + 1)} | {3 * 2**m for m in range(n)})
    return np.array(ks[:n], dtype=np.int64)


#: Rows of a sample's per-tracer record: position, displacement since the last sample,
#: cos and sin of 2 pi x / box and of 2 pi y / box.
X, Y, UX, UY, COS_X, SIN_X, COS_Y, SIN_Y = range(8)


class _Rings(NamedTuple):
    """Per level, the last BLOCK - 1 samples (ring buffers) and how many are stored."""

    tracers: np.ndarray  # float64[levels, slots, 8, tracers]: the rows X .. SIN_Y
    sig: np.ndarray  # float64[levels, slots, probes]
    filled: np.ndarray  # int64[levels]
    head: np.ndarray  # int64[levels]: next slot to write


class _Sums(NamedTuple):
    """Per lag, the sums the estimators are made of; the MSD's per block of the measurement
    (the run-length driver's blocks, for its error and its long-time regime)."""

    msd: np.ndarray  # [blocks, lags]
    pairs: np.ndarray  # [blocks, lags]: tracer pairs
    sq: np.ndarray  # [lags, wave numbers]
    cu: np.ndarray
    cs_xy: np.ndarray
    cs_x: np.ndarray
    cs_y: np.ndarray
    cs_n: np.ndarray


@njit(cache=True, nogil=True)
def _record(pos, u, previous, two_pi_over_box, out, exact):
    """This sample's per-tracer record (rows X .. SIN_Y) into ``out``, which holds the
    ``previous`` sample's. The cosines and sines (from which the cosines of every pair's
    displacement follow by the addition theorem) are rotated from the previous ones by the
    angle of the displacement since (Taylor series, exact to ~1e-15 below 0.05), or computed
    afresh where the angle is larger and everywhere with ``exact`` (the first sample, and
    every 1024th against the rounding the rotations accumulate)."""
    for m in range(pos.shape[0]):
        for axis in range(2):
            c, s = COS_X + 2 * axis, SIN_X + 2 * axis
            d = two_pi_over_box * (pos[m, axis] - previous[axis, m])
            if exact or abs(d) > 0.05:
                a = two_pi_over_box * pos[m, axis]
                out[c, m], out[s, m] = math.cos(a), math.sin(a)
            else:
                d2 = d * d
                cd = 1.0 - d2 * (0.5 - d2 * (1.0 / 24.0 - d2 * (1.0 / 720.0)))
                sd = d * (1.0 - d2 * (1.0 / 6.0 - d2 * (1.0 / 120.0 - d2 * (1.0 / 5040.0))))
                pc, ps = out[c, m], out[s, m]
                out[c, m] = pc * cd - ps * sd
                out[s, m] = ps * cd + pc * sd
            out[X + axis, m] = pos[m, axis]
            out[UX + axis, m] = u[m, axis]


@njit(cache=True, nogil=True, fastmath=True)
def _correlate(level, now, sig, block, rings, sums, chains):
    """Add the pairs (``now``, each stored sample of ``level``) and store now in the ring.
    ``chains`` (4, tracers) is scratch for the cosines of the wave-number chains."""
    buf, sig_buf, filled, head = rings
    msd, pairs, sq, cu, cs_xy, cs_x, cs_y, cs_n = sums
    slots = buf.shape[1]
    n_q = sq.shape[1]
    n_tr = now.shape[1]
    n_pr = sig.shape[0]
    x, y, ux, uy = now[X], now[Y], now[UX], now[UY]
    c0x, s0x, c0y, s0y = now[COS_X], now[SIN_X], now[COS_Y], now[SIN_Y]
    ax, ay, bx, by = chains[0], chains[1], chains[2], chains[3]
    for i in range(1, filled[level] + 1):
        slot = (head[level] - i) % slots
        k = level * slots + (i - 1)
        then = buf[level, slot]
        tx, ty, tux, tuy = then[X], then[Y], then[UX], then[UY]
        tcx, tsx, tcy, tsy = then[COS_X], then[SIN_X], then[COS_Y], then[SIN_Y]
        total = uu = c1 = 0.0
        for m in range(n_tr):
            dx = x[m] - tx[m]
            dy = y[m] - ty[m]
            total += dx * dx + dy * dy
            uu += ux[m] * tux[m] + uy[m] * tuy[m]
        for m in range(n_tr):  # cos(q1 dx) by the addition theorem
            cx = c0x[m] * tcx[m] + s0x[m] * tsx[m]
            cy = c0y[m] * tcy[m] + s0y[m] * tsy[m]
            c1 += cx + cy
            ax[m] = 2.0 * cx * cx - 1.0
            ay[m] = 2.0 * cy * cy - 1.0
            bx[m] = cx * (2.0 * ax[m] - 1.0)
            by[m] = cy * (2.0 * ay[m] - 1.0)
        msd[block, k] += total
        pairs[block, k] += n_tr
        cu[k] += uu
        sq[k, 0] += 0.5 * c1
        # the wave numbers k = 2, 3, 4, 6, 8, ... (wave_numbers): the chain 2^m by doubling,
        # the chain 3 2^m from cos 3x = cos x (2 cos 2x - 1), each a loop over the tracers
        for j in range(1, n_q):
            acc = 0.0
            if j == 1:
                for m in range(n_tr):
                    acc += ax[m] + ay[m]
            elif j == 2:
                for m in range(n_tr):
                    acc += bx[m] + by[m]
            elif j % 2:
                for m in range(n_tr):
                    vx, vy = 2.0 * ax[m] * ax[m] - 1.0, 2.0 * ay[m] * ay[m] - 1.0
                    ax[m], ay[m] = vx, vy
                    acc += vx + vy
            else:
                for m in range(n_tr):
                    vx, vy = 2.0 * bx[m] * bx[m] - 1.0, 2.0 * by[m] * by[m] - 1.0
                    bx[m], by[m] = vx, vy
                    acc += vx + vy
            sq[k, j] += 0.5 * acc
        sig_then = sig_buf[level, slot]
        xy = x1 = y1 = 0.0
        for p in range(n_pr):
            xy += sig_then[p] * sig[p]
            x1 += sig_then[p]
            y1 += sig[p]
        cs_xy[k] += xy
        cs_x[k] += x1
        cs_y[k] += y1
        cs_n[k] += n_pr
    h = head[level]
    buf[level, h] = now
    sig_buf[level, h] = sig
    head[level] = (h + 1) % slots
    if filled[level] < slots:
        filled[level] += 1


class Correlator(NamedTuple):
    """The multiple-tau correlator's state: rings, sums, moments and the sample count."""

    rings: _Rings
    sums: _Sums
    moments: np.ndarray  # float64[5]: sum u.u, tracers, sum sigma^2, sum sigma, probes (over samples)
    count: np.ndarray  # int64[1]: samples so far
    now: np.ndarray  # float64[8, tracers]: this sample's record (rows X .. SIN_Y)
    chains: np.ndarray  # float64[4, tracers]: scratch of the wave-number chains
    two_pi_over_box: float


@njit(cache=True, nogil=True)
def correlate_sample(corr, pos, u, sig, block):
    """One sample (tracer positions, their displacement since the last sample, the probe
    stresses): it enters the levels its index is a multiple of, and the moments; the MSD's
    pairs count towards measurement block ``block``."""
    moments = corr.moments
    for m in range(u.shape[0]):
        moments[0] += u[m, 0] * u[m, 0] + u[m, 1] * u[m, 1]
    moments[1] += u.shape[0]
    for p in range(sig.shape[0]):
        moments[2] += sig[p] * sig[p]
        moments[3] += sig[p]
    moments[4] += sig.shape[0]
    rings = corr.rings
    previous = rings.tracers[0, (rings.head[0] - 1) % rings.tracers.shape[1]]
    _record(pos, u, previous, corr.two_pi_over_box, corr.now, corr.count[0] % 1024 == 0)
    spacing = 1
    for level in range(rings.filled.size):
        if corr.count[0] % spacing:
            break
        _correlate(level, corr.now, sig, block, rings, corr.sums, corr.chains)
        spacing *= BLOCK
    corr.count[0] += 1


@njit(cache=True, nogil=True)
def _sample_block(corr, pos, u, sig):
    """Samples k = 0, 1, ... of ``pos``, ``u`` (samples, tracers, 2) and ``sig`` (samples,
    probes) in order, all in block 0."""
    for k in range(sig.shape[0]):
        correlate_sample(corr, pos[k], u[k], sig[k], 0)


class TimeCorrelations:
    """MSD, S(q, lag), C_u and C_sigma on the lag grid; see the module docstring. The MSD's
    sums are kept per block of the measurement (``blocks`` of them; see ``merge_blocks``)."""

    def __init__(self, n_tracers: int, n_probes: int, levels: int, sample_interval: float, n_q: int, box: float,
                 blocks: int = 1):
        slots = BLOCK - 1
        self.lags = lag_grid(sample_interval, levels)
        n_lags = self.lags.size
        rings = _Rings(np.zeros((levels, slots, 8, n_tracers)), np.zeros((levels, slots, n_probes)),
                       np.zeros(levels, np.int64), np.zeros(levels, np.int64))
        sums = _Sums(np.zeros((blocks, n_lags)), np.zeros((blocks, n_lags)), np.zeros((n_lags, n_q)),
                     *(np.zeros(n_lags) for _ in range(5)))
        self.state = Correlator(rings, sums, np.zeros(5), np.zeros(1, np.int64), np.zeros((8, n_tracers)),
                                np.zeros((4, n_tracers)), 2.0 * math.pi / box)
        self._sample_block = bind(_sample_block, self.state, np.zeros((1, n_tracers, 2)), np.zeros((1, n_tracers, 2)),
                                  np.zeros((1, n_probes)))

    @property
    def count(self) -> int:
        return int(self.state.count[0])

    def sample(self, pos: np.ndarray, u: np.ndarray, sig: np.ndarray) -> None:
        """One sample: tracer positions (unwrapped), their displacement since the last
        sample, and the stresses at the probe sites."""
        self.sample_block(pos[None], u[None], sig[None])

    def sample_block(self, pos: np.ndarray, u: np.ndarray, sig: np.ndarray) -> None:
        """Consecutive samples at once (first axis): one call of the kernel for all of them."""
        pos, u, sig = (np.ascontiguousarray(a, dtype=np.float64) for a in (pos, u, sig))  # the bound kernel's types
        self._sample_block(self.state, pos, u, sig)

    def merge_blocks(self, n: int) -> None:
        """Blocks 2k and 2k + 1 of the first 2n become block k (the run doubled its blocks)."""
        for a in (self.state.sums.msd, self.state.sums.pairs):
            a[:n] = a[0:2 * n:2] + a[1:2 * n:2]
            a[n:] = 0.0

    def results(self) -> dict[str, np.ndarray]:
        """Estimates per lag (NaN where a lag had no pair of samples yet)."""
        sums = self.state.sums
        with np.errstate(invalid="ignore", divide="ignore"):
            pair_count = sums.pairs.sum(0)
            pairs = np.where(pair_count > 0, pair_count, np.nan)
            msd = sums.msd.sum(0) / pairs
            uu, n_u, ss, s1, n_s = self.state.moments
            mean_uu = uu / n_u if n_u else np.nan
            n = np.where(sums.cs_n > 0, sums.cs_n, np.nan)
            mean_s = s1 / n_s if n_s else np.nan
            var_s = ss / n_s - mean_s**2 if n_s else np.nan
            cov = sums.cs_xy / n - (sums.cs_x / n) * (sums.cs_y / n)
            return {
                "msd": msd,
                "diffusion": msd / (4.0 * self.lags),
                "s_q": sums.sq / pairs[:, None],
                "c_u": sums.cu / pairs / mean_uu,
                "c_sigma": cov / var_s,
            }


class ActivityStructure:
    """The spatial structure of the activity and its correlation length, streamed.

    The measurement is cut into windows (of about one relaxation time); n_r, the number of
    relaxations of site r in a window, is one sample of the activity field. Accumulated over
    windows: the structure factor S(q) = <|n(q)|^2>/N at q = 2 pi k/L along the axes
    (averaged over (q, 0) and (0, q)), k = 1 .. ``modes``, and S(0) = var(sum_r n_r)/N from
    the windows' totals.

    The correlation length is an Ornstein-Zernike fit, S(q) = S(0)/(1 + xi^2 qh^2) with
    qh^2 = 4 sin^2(q/2) the lattice Laplacian's symbol: 1/S is linear in qh^2, fitted by
    weighted least squares over k = 0 .. ``FIT_MODES`` (xi in lattice spacings; over k = 0, 1
    alone it is the second-moment length xi^2 = (S(0)/S(q_1) - 1)/qh_1^2). Its statistical
    error is a jackknife over ``BLOCKS`` *contiguous* blocks of windows (merged in pairs as
    the run grows): windows a relaxation time long are correlated over several windows, so
    blocks of interleaved windows would understate it. Its systematic error is the largest
    change of xi when the fit stops at another k_max = 1 .. ``modes`` (fits with no positive
    xi^2 left out): a field that is not Ornstein-Zernike gives a length that depends on the
    wave numbers used. Memory: ``BLOCKS`` x (modes + 3) numbers, whatever the run length.
    """

    #: Contiguous jackknife blocks (16-32 in use once the run has 32 windows).
    BLOCKS = 32
    #: The largest wave number index of the reported fit (the smallest q, where the
    #: Ornstein-Zernike form of a finite correlation length holds best, and one beyond k = 1).
    FIT_MODES = 2

    def __init__(self, L: int, modes: int):
        self.L, self.modes = L, modes
        self.power = np.zeros((self.BLOCKS, modes))  # per block: sum over windows of S(q_k), k = 1 .. modes
        self.totals = np.zeros((self.BLOCKS, 3))  # per block: windows, sum of totals, sum of squared totals
        self.per_block = 1
        self.count = 0

    def add(self, counts: np.ndarray) -> None:
        """One window's activity field (L x L)."""
        block = self.count // self.per_block
        if block == self.BLOCKS:  # all blocks full: merge neighbours, twice the windows per block
            for arr in (self.power, self.totals):
                arr[: self.BLOCKS // 2] = arr[0::2] + arr[1::2]
                arr[self.BLOCKS // 2:] = 0.0
            self.per_block *= 2
            block = self.count // self.per_block
        f = np.fft.rfft2(counts)
        k = np.arange(1, self.modes + 1)
        self.power[block] += 0.5 * (np.abs(f[k, 0]) ** 2 + np.abs(f[0, k]) ** 2) / counts.size
        total = float(counts.sum())
        self.totals[block] += (1.0, total, total * total)
        self.count += 1

    def _structure(self, power: np.ndarray, totals: np.ndarray) -> np.ndarray:
        """S(q_k), k = 0 .. modes, from summed blocks."""
        n, s1, s2 = totals
        if n < 2:
            return np.full(self.modes + 1, np.nan)
        return np.concatenate([[(s2 - s1 * s1 / n) / (n - 1) / self.L**2], power / n])

    def _xi2(self, s: np.ndarray, weights: np.ndarray, k_max: int) -> float:
        """xi^2 of the weighted fit of 1/S(q_k) = a + b qh_k^2 over k = 0 .. k_max: b / a."""
        qh2 = 4.0 * np.sin(np.pi * np.arange(k_max + 1) / self.L) ** 2
        if not np.all(s[: k_max + 1] > 0):
            return math.nan
        b, a = np.polyfit(qh2, 1.0 / s[: k_max + 1], 1, w=np.sqrt(weights[: k_max + 1]))
        return b / a if a > 0 else math.nan

    def results(self, window: float) -> dict[str, np.ndarray | float]:
        """S(q_k); xi (NaN where the fit has no positive xi^2) with its jackknife error and its
        systematic error; the window length and the number of windows."""
        used = np.flatnonzero(self.totals[:, 0] > 0)
        power, totals = self.power.sum(0), self.totals.sum(0)
        s = self._structure(power, totals)
        leave_out = np.array([self._structure(power - self.power[b], totals - self.totals[b]) for b in used])
        n_used = used.size
        xi_out = {"xi_activity": math.nan, "xi_activity_err": math.nan, "xi_activity_sys": math.nan}
        if n_used >= 2 and np.all(s > 0) and np.all(leave_out > 0):
            inverse = 1.0 / leave_out
            var = (n_used - 1) * np.mean((inverse - inverse.mean(0)) ** 2, axis=0)
            weights = 1.0 / np.maximum(var, 1e-300)
            fit_modes = min(self.FIT_MODES, self.modes)
            xi2 = self._xi2(s, weights, fit_modes)
            if xi2 > 0:
                xi = math.sqrt(xi2)
                jack = np.array([self._xi2(row, weights, fit_modes) for row in leave_out])
                err = math.sqrt((n_used - 1) * float(np.mean((jack - jack.mean()) ** 2))) / (2.0 * xi)
                others = [self._xi2(s, weights, k) for k in range(1, self.modes + 1)]
                sys_err = max((abs(math.sqrt(x) - xi) for x in others if x > 0), default=0.0)
                xi_out = {"xi_activity": xi, "xi_activity_err": err, "xi_activity_sys": sys_err}
        return {"s_activity": s, **xi_out, "activity_window_used": window, "activity_windows": self.count}

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


class _Rings(NamedTuple):
    """Per level, the last BLOCK - 1 samples (ring buffers) and how many are stored."""

    pos: np.ndarray  # float64[levels, slots, tracers, 2]
    u: np.ndarray  # float64[levels, slots, tracers, 2]
    sig: np.ndarray  # float64[levels, slots, probes]
    filled: np.ndarray  # int64[levels]
    head: np.ndarray  # int64[levels]: next slot to write


class _Sums(NamedTuple):
    """Per lag, the sums the estimators are made of."""

    msd: np.ndarray
    pairs: np.ndarray
    sq: np.ndarray  # [lags, wave numbers]
    cu: np.ndarray
    cs_xy: np.ndarray
    cs_x: np.ndarray
    cs_y: np.ndarray
    cs_n: np.ndarray


@njit(cache=True, nogil=True)
def _correlate(level, pos, u, sig, rings, sums, box):
    """Add the pairs (now, each stored sample of ``level``) and store now in the ring."""
    pos_buf, u_buf, sig_buf, filled, head = rings
    msd, pairs, sq, cu, cs_xy, cs_x, cs_y, cs_n = sums
    slots = pos_buf.shape[1]
    n_q = sq.shape[1]
    n_tr = pos.shape[0]
    n_pr = sig.shape[0]
    two_pi_over_box = 2.0 * math.pi / box
    for i in range(1, filled[level] + 1):
        slot = (head[level] - i) % slots
        k = level * slots + (i - 1)
        for m in range(n_tr):
            dx = pos[m, 0] - pos_buf[level, slot, m, 0]
            dy = pos[m, 1] - pos_buf[level, slot, m, 1]
            msd[k] += dx * dx + dy * dy
            cu[k] += u[m, 0] * u_buf[level, slot, m, 0] + u[m, 1] * u_buf[level, slot, m, 1]
            # cos(k theta) at the wave numbers k = 1, 2, 3, 4, 6, 8, ... (wave_numbers), both
            # axes: the chain 2^m by doubling, the chain 3 2^m from cos 3x = cos x (2 cos 2x - 1)
            cx, cy = math.cos(two_pi_over_box * dx), math.cos(two_pi_over_box * dy)
            sq[k, 0] += 0.5 * (cx + cy)
            ax, ay = 2.0 * cx * cx - 1.0, 2.0 * cy * cy - 1.0
            bx, by = cx * (2.0 * ax - 1.0), cy * (2.0 * ay - 1.0)
            for j in range(1, n_q):
                if j % 2:
                    if j > 1:
                        ax, ay = 2.0 * ax * ax - 1.0, 2.0 * ay * ay - 1.0
                    sq[k, j] += 0.5 * (ax + ay)
                else:
                    if j > 2:
                        bx, by = 2.0 * bx * bx - 1.0, 2.0 * by * by - 1.0
                    sq[k, j] += 0.5 * (bx + by)
        pairs[k] += n_tr
        for p in range(n_pr):
            a, b = sig_buf[level, slot, p], sig[p]
            cs_xy[k] += a * b
            cs_x[k] += a
            cs_y[k] += b
        cs_n[k] += n_pr
    h = head[level]
    pos_buf[level, h] = pos
    u_buf[level, h] = u
    sig_buf[level, h] = sig
    head[level] = (h + 1) % slots
    if filled[level] < slots:
        filled[level] += 1


@njit(cache=True, nogil=True)
def _sample_block(pos, u, sig, count, levels, rings, sums, box, moments):
    """Samples k = 0, 1, ... of ``pos``, ``u`` (samples, tracers, 2) and ``sig`` (samples,
    probes) in order, ``count`` samples having come before: each enters the levels its index
    is a multiple of, and ``moments`` (sum u.u, tracers, sum sigma^2, sum sigma, probes)."""
    for k in range(sig.shape[0]):
        for m in range(u.shape[1]):
            moments[0] += u[k, m, 0] * u[k, m, 0] + u[k, m, 1] * u[k, m, 1]
        moments[1] += u.shape[1]
        for p in range(sig.shape[1]):
            moments[2] += sig[k, p] * sig[k, p]
            moments[3] += sig[k, p]
        moments[4] += sig.shape[1]
        spacing = 1
        for level in range(levels):
            if (count + k) % spacing:
                break
            _correlate(level, pos[k], u[k], sig[k], rings, sums, box)
            spacing *= BLOCK


class TimeCorrelations:
    """MSD, S(q, lag), C_u and C_sigma on the lag grid; see the module docstring."""

    def __init__(self, n_tracers: int, n_probes: int, levels: int, sample_interval: float, n_q: int, box: float):
        slots = BLOCK - 1
        self.levels, self.box = levels, box
        self.lags = lag_grid(sample_interval, levels)
        n_lags = self.lags.size
        self.rings = _Rings(np.zeros((levels, slots, n_tracers, 2)), np.zeros((levels, slots, n_tracers, 2)),
                            np.zeros((levels, slots, n_probes)), np.zeros(levels, np.int64), np.zeros(levels, np.int64))
        self.sums = _Sums(*(np.zeros(n_lags) for _ in range(2)), np.zeros((n_lags, n_q)),
                          *(np.zeros(n_lags) for _ in range(5)))
        self.count = 0
        self.moments = np.zeros(5)  # sum u.u, tracers, sum sigma^2, sum sigma, probes (over samples)
        self._sample_block = bind(_sample_block, np.zeros((1, n_tracers, 2)), np.zeros((1, n_tracers, 2)),
                                  np.zeros((1, n_probes)), 0, levels, self.rings, self.sums, float(box), self.moments)

    def sample(self, pos: np.ndarray, u: np.ndarray, sig: np.ndarray) -> None:
        """One sample: tracer positions (unwrapped), their displacement since the last
        sample, and the stresses at the probe sites."""
        self.sample_block(pos[None], u[None], sig[None])

    def sample_block(self, pos: np.ndarray, u: np.ndarray, sig: np.ndarray) -> None:
        """Consecutive samples at once (first axis): one call of the kernel for all of them."""
        pos, u, sig = (np.ascontiguousarray(a, dtype=np.float64) for a in (pos, u, sig))  # the bound kernel's types
        self._sample_block(pos, u, sig, self.count, self.levels, self.rings, self.sums, float(self.box), self.moments)
        self.count += sig.shape[0]

    def results(self) -> dict[str, np.ndarray]:
        """Estimates per lag (NaN where a lag had no pair of samples yet)."""
        sums = self.sums
        with np.errstate(invalid="ignore", divide="ignore"):
            pairs = np.where(sums.pairs > 0, sums.pairs, np.nan)
            msd = sums.msd / pairs
            uu, n_u, ss, s1, n_s = self.moments
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
    the windows' totals. The correlation length is the second-moment one (exact for an
    Ornstein-Zernike field S(q) = S(0)/(1 + xi^2 qh^2), qh^2 = 4 sin^2(q/2) the lattice
    Laplacian's symbol): xi^2 = (S(0)/S(q_1) - 1)/qh_1^2, in lattice spacings. Its error is a
    jackknife over ``blocks`` interleaved blocks of windows (window w in block w mod blocks).
    Memory: ``blocks`` x (modes + 3) numbers, whatever the run length.
    """

    def __init__(self, L: int, modes: int, blocks: int):
        self.L, self.modes, self.blocks = L, modes, blocks
        self.power = np.zeros((blocks, modes))  # per block: sum over windows of S(q_k), k = 1 .. modes
        self.totals = np.zeros((blocks, 3))  # per block: windows, sum of totals, sum of squared totals
        self.count = 0

    def add(self, counts: np.ndarray) -> None:
        """One window's activity field (L x L)."""
        f = np.fft.rfft2(counts)
        k = np.arange(1, self.modes + 1)
        block = self.count % self.blocks
        self.power[block] += 0.5 * (np.abs(f[k, 0]) ** 2 + np.abs(f[0, k]) ** 2) / counts.size
        total = float(counts.sum())
        self.totals[block] += (1.0, total, total * total)
        self.count += 1

    def _estimate(self, power: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, float]:
        """S(q_k), k = 0 .. modes, and xi^2 from summed blocks."""
        n, s1, s2 = totals
        if n < 2:
            return np.full(self.modes + 1, np.nan), math.nan
        s = np.concatenate([[(s2 - s1 * s1 / n) / (n - 1) / self.L**2], power / n])
        qh2 = 4.0 * math.sin(math.pi / self.L) ** 2
        return s, (s[0] / s[1] - 1.0) / qh2 if s[1] > 0 else math.nan

    def results(self, window: float) -> dict[str, np.ndarray | float]:
        """S(q_k), xi (NaN where S(0) <= S(q_1): no positive correlation length) and its
        jackknife error, the window length and the number of windows."""
        power, totals = self.power.sum(0), self.totals.sum(0)
        s, xi2 = self._estimate(power, totals)
        used = [b for b in range(self.blocks) if self.totals[b, 0] > 0]
        leave_out = np.array([self._estimate(power - self.power[b], totals - self.totals[b])[1]
                              for b in used]) if len(used) >= 2 else np.array([math.nan])
        xi2_err = math.sqrt((len(used) - 1) * float(np.mean((leave_out - leave_out.mean()) ** 2)))
        xi = math.sqrt(xi2) if xi2 > 0 else math.nan
        return {"s_activity": s, "xi_activity": xi, "xi_activity_err": xi2_err / (2.0 * xi) if xi > 0 else math.nan,
                "activity_window_used": window, "activity_windows": self.count}

"""Plain FFT-every-step implementation of paper 002's thermal rule: the speed baseline.

Every step: one NumPy Bernoulli trial with an exponential per site, the plastic strain of
the active sites as a dense field, and the stress (and, with tracers, the displacement)
update by FFT -- no real-space shortcut, no skipping of trials.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from epmsweep.model.lattice.propagator import Propagator


def run_steps(prop: Propagator, sigma: np.ndarray, active: np.ndarray, sign: np.ndarray, pos: np.ndarray,
              n_steps: int, rng: np.random.Generator, T: float, dt: float = 0.025, eps_step: float = 0.0125,
              two_mu: float = 2.0) -> None:
    """Advance the state arrays in place by ``n_steps`` steps (Gamma0 = tau_res = sigma_Y = 1)."""
    L = prop.L
    for _ in range(n_steps):
        d_eps = np.where(active, sign * eps_step, 0.0)
        f = scipy.fft.rfft2(d_eps)
        sigma += scipy.fft.irfft2(two_mu * prop.g_q * f, s=(L, L))
        if pos.shape[0]:
            ux = scipy.fft.irfft2(prop.ux_q * f, s=(L, L))
            uy = scipy.fft.irfft2(prop.uy_q * f, s=(L, L))
            ix, iy = np.floor(pos[:, 0]).astype(int) % L, np.floor(pos[:, 1]).astype(int) % L  # lower-left corner
            pos[:, 0] += ux[ix, iy]
            pos[:, 1] += uy[ix, iy]
        p_on = np.minimum(np.exp((sigma**2 - 1.0) / (2.0 * T)), 1.0) * dt
        u = rng.random((L, L))
        turn_on = (~active) & (u < p_on)
        turn_off = active & (rng.random((L, L)) < dt)
        sign[turn_on] = np.where(sigma[turn_on] > 0, 1, -1)
        active ^= turn_on | turn_off

"""Eshelby propagator and displacement kernel on the periodic L x L lattice (Fourier space).

Stress response (Picard et al. 2004; paper 002, Eq. 1): a plastic shear strain field
eps_pl changes the scalar (xy) stress by

    d sigma(q) = 2 mu G(q) d eps_pl(q),    G(q) = -4 qx^2 qy^2 / q^4,

for an incompressible 2-D elastic medium (lattice spacing 1, q = 2 pi n / L). The
``lattice`` form replaces q -> 2 sin(q/2) (the symbols of the discrete Laplacian);
``continuum`` (default) uses q itself.

Conventions:

* **q = 0 mode.** ``fixed-strain`` (default): the box keeps its macroscopic shape, so
  the mean stress is 2 mu (eps_macro - <eps_pl>) and G(0) = -1: one site's plastic
  strain d eps lowers the mean stress by 2 mu d eps / N. ``conserved``: G(0) = 0,
  the mean stress never changes.
* **Self term.** G_self = G(r = 0) = (1/N) sum_q G(q): the fraction of 2 mu d eps a
  site loses itself; -0.571 (continuum) or -0.637 (lattice) for large L, plus -1/N
  for ``fixed-strain``. The rest, sum_{r != 0} G(r) = -G(0) - G_self, goes to the
  other sites.
* **Frozen modes.** G(q) = 0 wherever q_x = 0 or q_y = 0 (q != 0): plastic strain never
  changes the stress in those 2L - 2 Fourier modes, so whatever stress an initial state
  puts there stays for ever, and modes near the axes (small |G|) relax over thousands of
  tau. The lattice therefore starts cold (sigma = 0) by default: a random start biases the
  steady state (the activity comes out several per cent high) and C_sigma never decays
  to 0.
* **Far field.** In real space G(r, theta) -> cos(4 theta)/(pi r^2) (checked in the
  tests: exponent -2 of the cos 4 theta harmonic). Paper 002 writes the far field as
  2 cos(4 theta)/(pi r^2) but prints neither G(q) nor the self term, so its mu cannot be
  mapped onto ours; ``mu`` is a parameter whose value the paper leaves unstated.
* **Displacements.** u(q) = K(q) eps_pl(q), with K_x = 2 d_y* (|d_y|^2 - |d_x|^2)/|d|^4,
  K_y = 2 d_x* (|d_x|^2 - |d_y|^2)/|d|^4, where d = i q (continuum) or 2 i sin(q/2)
  (lattice) is the derivative symbol; its symmetric gradient reproduces the stress,
  d sigma = 2 mu [(d_x u_y + d_y u_x)/2 - eps_pl]. Modes with |q_x| = pi or |q_y| = pi
  carry no displacement (a derivative of a real lattice field has no Nyquist part).
  This is the displacement of the tensor strain eps_pl = eps_xy whose 2 mu G gives the
  stress. Paper 002's displacements are twice as large at the same stress (its S(q, t)
  fits and D(t), compared at equal activity; see docs/paper002.md): the shear angle
  gamma = 2 eps_xy in the displacement, or the factor 2 of its printed far field
  2 cos(4 theta)/(pi r^2) kept in u but not in the stress.
  :data:`DISPLACEMENT_PER_STRAIN` names the two conventions.

Mean-field coupling (paper 000, Eq. A5): alpha = <d sigma^2>/2 sum_{j != i} G_ij^2 and
m = (a^2/4) <d sigma^2> sum_{j in nn(i)} G_ij^2, where the kernel is normalised so that
the relaxing site loses its whole stress drop, G_ii = -1 (G_ij = G(r_ij)/|G_self|).
See :func:`mean_field_coupling`, and :func:`rule_coupling` for paper 000's rule, whose
kernel takes a random orientation at each event.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

FORMS = ("continuum", "lattice")
Q0_MODES = ("fixed-strain", "conserved")
#: Tracer displacement per unit plastic strain eps_pl: 'tensor' moves tracers by u(eps_pl),
#: 'engineering' by u(2 eps_pl) (paper 002's scale, see the module docstring).
DISPLACEMENT_PER_STRAIN = {"tensor": 1.0, "engineering": 2.0}


def _symbols(L: int, form: str) -> tuple[np.ndarray, np.ndarray]:
    """Derivative symbols (d_x, d_y) on the rfft2 grid (L, L//2 + 1): d = i q or 2 i sin(q/2)."""
    qx = 2 * np.pi * np.fft.fftfreq(L)[:, None]
    qy = 2 * np.pi * np.fft.rfftfreq(L)[None, :]
    if form == "lattice":
        return 2j * np.sin(qx / 2) * np.ones_like(qy), 2j * np.sin(qy / 2) * np.ones_like(qx)
    return 1j * qx * np.ones_like(qy), 1j * qy * np.ones_like(qx)


@dataclass(frozen=True, eq=False)
class Propagator:
    """Stress and displacement kernels of one lattice, in Fourier (rfft2) and real space."""

    L: int
    form: str
    q0: str
    g_q: np.ndarray  # G(q), real, shape (L, L//2 + 1)
    g_r: np.ndarray  # G(r), shape (L, L): stress change at r per unit 2 mu d eps at the origin
    ux_r: np.ndarray  # displacement x at r per unit d eps at the origin
    uy_r: np.ndarray
    ux_q: np.ndarray
    uy_q: np.ndarray
    uxy_r: np.ndarray  # (L, L, 2): u_x and u_y interleaved, one cache line per lookup


    @property
    def self_term(self) -> float:
        return float(self.g_r[0, 0])

    def stress_change(self, d_eps: np.ndarray, two_mu: float = 1.0) -> np.ndarray:
        """2 mu G * d_eps on the lattice (periodic convolution by FFT)."""
        return scipy.fft.irfft2(two_mu * self.g_q * scipy.fft.rfft2(d_eps), s=d_eps.shape)

    def displacement(self, d_eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u_x, u_y) of the plastic strain field d_eps."""
        f = scipy.fft.rfft2(d_eps)
        return (scipy.fft.irfft2(self.ux_q * f, s=d_eps.shape), scipy.fft.irfft2(self.uy_q * f, s=d_eps.shape))


@functools.lru_cache(maxsize=16)
def eshelby(L: int, form: str = "continuum", q0: str = "fixed-strain") -> Propagator:
    """The propagator of the L x L periodic lattice (cached: one per process and size)."""
    if form not in FORMS or q0 not in Q0_MODES:
        raise ValueError(f"form must be one of {FORMS} and q0 one of {Q0_MODES}")
    dx, dy = _symbols(L, form)
    kx2, ky2 = np.abs(dx) ** 2, np.abs(dy) ** 2
    k4 = (kx2 + ky2) ** 2
    k4[0, 0] = 1.0
    g_q = -4.0 * kx2 * ky2 / k4
    g_q[0, 0] = -1.0 if q0 == "fixed-strain" else 0.0
    ux_q = 2.0 * np.conj(dy) * (ky2 - kx2) / k4
    uy_q = 2.0 * np.conj(dx) * (kx2 - ky2) / k4
    ux_q[0, 0] = uy_q[0, 0] = 0.0
    if L % 2 == 0:  # Nyquist lines: no displacement on a real lattice
        for arr in (ux_q, uy_q):
            arr[L // 2, :] = 0.0
            arr[:, L // 2] = 0.0
    g_r = scipy.fft.irfft2(g_q, s=(L, L))
    ux_r = scipy.fft.irfft2(ux_q, s=(L, L))
    uy_r = scipy.fft.irfft2(uy_q, s=(L, L))
    uxy_r = np.ascontiguousarray(np.stack([ux_r, uy_r], axis=-1))
    for arr in (g_q, g_r, ux_r, uy_r, uxy_r):
        arr.setflags(write=False)
    return Propagator(L, form, q0, g_q, g_r, ux_r, uy_r, ux_q, uy_q, uxy_r)


@functools.lru_cache(maxsize=16)
def orientation_harmonics(L: int, form: str = "continuum") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real-space parts of a randomly oriented quadrupole, for paper 000's rule.

    With G(q) = -sin^2(2 phi_q) = (cos 4 phi_q - 1)/2, a kernel rotated by the angle chi is
    (cos 4(phi_q - chi) - 1)/2 = (cos 4chi C(q) + sin 4chi S(q) - 1)/2 with
    C = cos 4 phi_q = (qx^4 - 6 qx^2 qy^2 + qy^4)/q^4 and S = sin 4 phi_q =
    4 qx qy (qx^2 - qy^2)/q^4 (in the lattice form with the lattice symbols). Returns
    the real-space (C(r), S(r), local) with local(r) = -(delta_r0 - 1/N)/2 (the -1/2 of
    every q != 0 mode), so that G_chi(r) = (cos 4chi C(r) + sin 4chi S(r))/2 + local(r);
    q = 0 terms are zero (conserved mean stress, as in the mean-field model).
    """
    dx, dy = _symbols(L, form)
    kx, ky = (dx / 1j).real, (dy / 1j).real
    k2 = kx**2 + ky**2
    k2[0, 0] = 1.0
    c_q = (kx**4 - 6 * kx**2 * ky**2 + ky**4) / k2**2
    s_q = 4 * kx * ky * (kx**2 - ky**2) / k2**2
    c_q[0, 0] = s_q[0, 0] = 0.0
    local = np.full((L, L), 0.5 / (L * L))
    local[0, 0] -= 0.5
    return scipy.fft.irfft2(c_q, s=(L, L)), scipy.fft.irfft2(s_q, s=(L, L)), local


def mean_field_coupling(prop: Propagator, mean_square_drop: float = 1.0) -> tuple[float, float]:
    """(alpha, m) of Eq. (A5) of paper 000 from the lattice kernel, lattice spacing 1.

    The kernel is normalised so that the relaxing site loses its whole drop, G_ii = -1,
    and ``mean_square_drop`` is <d sigma^2>. With <d sigma^2> = 1 the continuum kernel
    gives alpha = 0.194 and the lattice one 0.155 at large L; paper 000's 0.110 needs
    <d sigma^2> = 0.57 (continuum) or 0.71 (lattice).
    """
    g = prop.g_r / abs(prop.self_term)
    others = float((g**2).sum() - g[0, 0] ** 2)
    nn = float(g[1, 0] ** 2 + g[-1, 0] ** 2 + g[0, 1] ** 2 + g[0, -1] ** 2)
    return 0.5 * mean_square_drop * others, 0.25 * mean_square_drop * nn


@dataclass(frozen=True)
class RuleCoupling:
    """Eq. (A5) of paper 000 for the kernel as paper 000's lattice rule applies it, per unit
    mean-square drop <d sigma^2>, averaged over the kernel's orientation, for any kick scale.

    With kick scale kappa an event of drop d adds d (kappa K_chi(r) - c) to every other site,
    c = (kappa - 1)/(N - 1), K_chi = G_chi/|G_chi(0)| (K_chi(0) = -1, sum_{r != 0} K_chi = 1):
    the relaxing site still lands on its redrawn stress, the others still receive d in all
    (mean stress conserved), and the kicks' spatial shape is kappa times the kernel's."""

    others_sq: float  # < sum_{r != 0} K_chi(r)^2 >_chi
    nn_sq: float  # < sum_{nearest neighbours} K_chi^2 >_chi
    nn_sum: float  # < sum_{nearest neighbours} K_chi >_chi
    n_sites: int
    self_min: float  # the range of the self term G_chi(0) over orientations chi
    self_max: float

    def alpha(self, kick_scale: float = 1.0) -> float:
        """alpha/<d sigma^2> = (1/2) sum_{r != 0} <(kappa K - c)^2> = (kappa^2 others_sq -
        (kappa^2 - 1)/(N - 1))/2, using sum_{r != 0} K = 1."""
        return 0.5 * (kick_scale**2 * self.others_sq - (kick_scale**2 - 1.0) / (self.n_sites - 1))

    def m(self, kick_scale: float = 1.0) -> float:
        """m/<d sigma^2> = (1/4) sum_nn <(kappa K - c)^2> (lattice spacing 1)."""
        c = (kick_scale - 1.0) / (self.n_sites - 1)
        return 0.25 * (kick_scale**2 * self.nn_sq - 2.0 * kick_scale * c * self.nn_sum + 4.0 * c * c)

    def kick_scale_for(self, alpha_per_drop: float) -> float:
        """The kick scale kappa >= 0 at which alpha/<d sigma^2> = ``alpha_per_drop`` (0 when even
        kappa = 0, the drop shared evenly, couples more)."""
        inv = 1.0 / (self.n_sites - 1)
        return math.sqrt(max(0.0, (2.0 * alpha_per_drop - inv) / (self.others_sq - inv)))


@functools.lru_cache(maxsize=16)
def rule_coupling(L: int, form: str = "continuum", n_angles: int = 256) -> RuleCoupling:
    """The coupling paper 000's rule simulates on the lattice (``lattice`` model, rules
    ``baron-biroli``): at each event the kernel G_chi of a uniformly random orientation chi
    (:func:`orientation_harmonics`) is divided by its own |G_chi(0)|, so that the relaxing
    site loses exactly its drop; Eq. (A5) is averaged over chi (trapezoidal rule on the
    period pi/2: spectrally accurate for this smooth periodic integrand).

    On the square lattice G_chi(0) = cos(4 chi) C(0)/2 - (1 - 1/N)/2 depends on chi: the
    Brillouin-zone average C(0) of cos 4 phi_q is not zero, a lattice artefact (about -0.57
    to -0.43 for the continuum form). Dividing by it keeps the relaxing site on its
    redrawn stress and the mean stress conserved at every event, at the price of kicks
    that are larger when |G_chi(0)| is small: the averaged alpha (0.251 <d sigma^2> at
    L = 64, kick scale 1) exceeds the unrotated kernel's (0.194, :func:`mean_field_coupling`)."""
    c_r, s_r, local = orientation_harmonics(L, form)
    others, nn_sq, nn_sum, selves = [], [], [], []
    for chi in np.arange(n_angles) * (0.5 * math.pi / n_angles):
        g = 0.5 * (math.cos(4 * chi) * c_r + math.sin(4 * chi) * s_r) + local
        k = g / abs(g[0, 0])
        nn = np.array([k[1, 0], k[-1, 0], k[0, 1], k[0, -1]])
        others.append(float((k**2).sum() - k[0, 0] ** 2))
        nn_sq.append(float((nn**2).sum()))
        nn_sum.append(float(nn.sum()))
        selves.append(float(g[0, 0]))
    return RuleCoupling(float(np.mean(others)), float(np.mean(nn_sq)), float(np.mean(nn_sum)), L * L,
                        min(selves), max(selves))


def quadrupole_amplitude(g_r: np.ndarray, radii: np.ndarray, width: float = 0.5) -> np.ndarray:
    """cos 4 theta harmonic of a real-space field on annuli around the origin:
    A(r) = 2 <G(r, theta) cos 4 theta>_annulus, so that G ~ A(r) cos 4 theta."""
    L = g_r.shape[0]
    x = (np.arange(L) + L // 2) % L - L // 2
    X, Y = np.meshgrid(x, x, indexing="ij")
    R = np.hypot(X, Y)
    cos4 = np.cos(4 * np.arctan2(Y, X))
    out = []
    for r in radii:
        ring = np.abs(R - r) < width
        out.append(2.0 * float((g_r[ring] * cos4[ring]).mean()))
    return np.array(out)


def far_field_exponent(prop: Propagator, r_min: float = 5.0, r_max: float | None = None) -> tuple[float, float]:
    """(exponent, amplitude) of a power-law fit A(r) = amplitude * r^exponent to the cos 4 theta
    harmonic between r_min and r_max (default L/8, before periodic images matter)."""
    r_max = r_max or prop.L / 8
    radii = np.geomspace(r_min, r_max, 12)
    amp = quadrupole_amplitude(prop.g_r, radii)
    slope, intercept = np.polyfit(np.log(radii), np.log(np.abs(amp)), 1)
    return float(slope), float(math.exp(intercept) * np.sign(amp.mean()))

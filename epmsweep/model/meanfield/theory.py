"""Closed forms of paper 000 (Baron & Biroli), each tagged with its equation.

Conventions are the paper's: sigma_c = sigma_0 = K = tau = 1 unless a function
takes them as arguments; T is an energy (k_B = 1); Gamma is in events per site per
unit tau.

Printed formulas that are not consistent with the paper's own numbers or with the
exact solution of Eq. (8) are kept under ``*_printed`` names, next to the
corrected form; each docstring gives the evidence, and ``tests/test_theory.py``
checks it against the Fokker-Planck solver:

* Eq. (B6), T_onset: the printed expression is negative, -0.2840 at alpha = 0.11,
  a = 1.5; its magnitude is exactly the large-T coefficient of the Eq. (7) solution
  and the paper's quoted 0.284. A sign error: the corrected form is -(B6).
* Eq. (12), MCT-like law: with beta_1 < 0 and beta_2 > 0 of Eq. (C3), the printed
  Gamma = -(beta_1/beta_2)(sigma_B - sigma_bar)^3 is negative for T > T_c (where
  sigma_B < sigma_bar): a sign error. Setting D = alpha Gamma in Eq. (11) also gives
  a factor 1/alpha that the printed form drops: a prefactor error. Even so corrected,
  the beta's of the approximate App. C solution give 5.5 instead of the exact 14.3
  for Gamma/(sigma_bar - sigma_B)^3 at alpha = 0.11; :func:`gamma_mct` is the exact
  leading asymptote (an Airy boundary layer at sigma_B).
* Eqs. (20)-(22), low-T law: the printed gamma = -(c_1/c_3) T_1/alpha (Eq. 21),
  i.e. Gamma ~ T exp(-Ebar/T) (Eq. 22), has the wrong power of T: the exact solution
  gives Gamma ~ T^2 exp(-Ebar/T). :func:`gamma_low_t` is the exact leading
  asymptote, gamma = exp(2 gamma_E) T_1^2 / alpha (a Bessel-K0 boundary layer at
  sigma_bar).

* Eq. (16), the length near T_c: the printed xi = sqrt(m / |beta_1 (sigma_B - sigma_bar)|)
  has the right power, (T - T_c)^(-1/2), but beta_1 = -(4/7) b of Eq. (C3) (b = sigma_bar
  Y(sigma_bar), Y the cumulative of y from 0) where the exact linearisation of the
  normalisation gives -(2/3) b: the printed xi is sqrt(7/6) = 1.080 times too long.
  :func:`xi_mct` is the exact leading asymptote.
* Eq. (23), the length at low T: the printed coefficient alpha^2 c_1 T_1 / m (c_1 of Eq. D8)
  gives xi ~ T^(-1/2) (Eq. 24, right) but a xi^2 1.40 times too small at alpha = 0.11: the
  exact coefficient is 2 b T_1 / m. :func:`xi_low_t` is the exact leading asymptote.

Eqs. (17), (18), (7), (10), (19) and T_c from sigma_B(T_c) = sigma_bar are
consistent with the paper's numbers (sigma_bar(0.110) = 0.749, T_c = 0.066 ~ 0.07).
Lengths (xi) are in units of sqrt(m), m the gradient coefficient of Eq. (6) (Eq. A5).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import airy

from epmsweep.model.rules import y_norm

LN2 = math.log(2.0)

#: The units every closed form here is written in (paper 000: sigma_c = sigma_0 = K = tau = 1).
PAPER_UNITS = {"sigma_c": 1.0, "sigma_0": 1.0, "K": 1.0, "tau": 1.0}


def units_mismatch(params: dict) -> str:
    """Empty if ``params`` are in the paper's units, where the closed forms apply; else which
    parameters differ (the exact Fokker-Planck solution still applies)."""
    off = [f"{k} = {float(params[k]):g}" for k, v in PAPER_UNITS.items() if float(params.get(k, v)) != v]
    return "" if not off else "closed forms need sigma_c = sigma_0 = K = tau = 1; here " + ", ".join(off)


# ---- T -> 0 frozen state: Eqs. (17), (18) -------------------------------------
def alpha_of_sigma_bar(sigma_bar: float, sigma_c: float = 1.0, sigma_0: float = 1.0) -> float:
    """Right-hand side of Eq. (18): the coupling alpha whose frozen state has support edge sigma_bar."""
    e_c = math.exp(-sigma_c / sigma_0)
    num = sigma_0 * (sigma_bar - sigma_0) * math.exp((sigma_bar - sigma_c) / sigma_0) + (sigma_0**2 - sigma_bar**2 / 2) * e_c
    return num / (1.0 - e_c)


def alpha_max(sigma_c: float = 1.0, sigma_0: float = 1.0) -> float:
    """Largest alpha with a frozen T -> 0 state (sigma_bar -> sigma_c in Eq. 18)."""
    return alpha_of_sigma_bar(sigma_c, sigma_c, sigma_0)


def sigma_bar(alpha: float, sigma_c: float = 1.0, sigma_0: float = 1.0) -> float:
    """Edge sigma_bar of the T -> 0 support, root of Eq. (18); 0.749 at alpha = 0.110.

    Eq. (18) increases monotonically from 0 at sigma_bar = 0 to ``alpha_max`` at
    sigma_bar = sigma_c, so the root is unique for 0 < alpha < alpha_max.
    """
    top = alpha_max(sigma_c, sigma_0)
    if not 0.0 < alpha < top:
        raise ValueError(f"alpha = {alpha:g} has no frozen T -> 0 state: Eq. (18) needs 0 < alpha < {top:.6g}")
    return brentq(lambda s: alpha_of_sigma_bar(s, sigma_c, sigma_0) - alpha, 0.0, sigma_c, xtol=1e-15)


def p0_frozen(sigma, alpha: float, sigma_c: float = 1.0, sigma_0: float = 1.0):
    """T -> 0 stationary density P_0(sigma) of Eq. (17) (normalised by Eq. 18), in 1/stress."""
    s = np.abs(np.asarray(sigma, dtype=float))
    sb = sigma_bar(alpha, sigma_c, sigma_0)
    pref = 1.0 / (alpha * y_norm(sigma_c, sigma_0))
    p = pref * (sigma_0**2 * (math.exp((sb - sigma_c) / sigma_0) - np.exp((s - sigma_c) / sigma_0))
                + sigma_0 * math.exp(-sigma_c / sigma_0) * (s - sb))
    return np.where(s < sb, p, 0.0)


# ---- MCT-like regime: Eq. (10) ------------------------------------------------
def mct_linearisation(T: float, a: float, sigma_c: float = 1.0, K: float = 1.0) -> tuple[float, float, float]:
    """(Delta, sigma_1/2, sigma_B) of Eq. (10): nu linearised where nu = 1/2.

    sigma_1/2 = sigma_c - (T ln2 / K)^(1/a), Delta = (a K / 2T) (T ln2 / K)^((a-1)/a),
    sigma_B = sigma_1/2 - 1/(2 Delta); the printed forms are the case sigma_c = K = 1.
    """
    x = T * LN2 / K
    delta = a * K / (2.0 * T) * x ** ((a - 1.0) / a)
    s_half = sigma_c - x ** (1.0 / a)
    return delta, s_half, s_half - 0.5 / delta


def t1(T: float, s_bar: float, a: float, sigma_c: float = 1.0, K: float = 1.0) -> float:
    """T_1 = T / (a K (sigma_c - sigma_bar)^(a-1)) of Eq. (19), in stress units."""
    return T / (a * K * (sigma_c - s_bar) ** (a - 1.0))


def t_c(alpha: float, a: float = 1.5) -> float:
    """MCT-like critical temperature: root of sigma_B(T_c) = sigma_bar(alpha) (Eqs. 10, 12).

    sigma_B(T) = 1 - (T ln2)^(1/a) (1 + 1/(a ln2)) decreases monotonically from 1,
    so the root is unique; T_c(0.11) = 0.0659, the paper's "T_c ~ 0.07".
    """
    target = 1.0 - sigma_bar(alpha)
    return (target / (1.0 + 1.0 / (a * LN2))) ** a / LN2


# ---- high-T regime: Eqs. (7), (9), (B6) ---------------------------------------
def t_onset_printed(alpha: float, a: float = 1.5) -> float:
    """Eq. (B6) exactly as printed. NEGATIVE (-0.2840 at alpha = 0.11, a = 1.5):
    sign error, see :func:`t_onset`."""
    e, n = math.e, y_norm(1.0, 1.0)
    r = math.sqrt(alpha)
    e1, e2 = math.exp(1 / r), math.exp(2 / r)
    bracket = (2 * e2 * (e - 1 - 3 * a + a * e)
               - 2 * a * alpha**1.5 * (e1 - 1) * (2 * e1 + e * e1 - e)
               + (a - 1) * r * e * (e2 - 1)
               + alpha * (e - 3 * a * e + 4 * a * e * e1 - (1 + a) * e * e2 + 2 * (a - 1) * e1 + 2 * (1 + a) * e2))
    return n / ((alpha - 1) * (1 - e) ** 2 * 2 ** (2 + a)) * e * math.exp(-2 / r) * bracket


def t_onset(alpha: float, a: float = 1.5) -> float:
    """Corrected Eq. (B6): T_onset of the high-T law Eq. (9) for the rate of Eq. (7).

    Equals -(printed B6), 0.2840 at alpha = 0.11, a = 1.5 (the paper quotes 0.284),
    and the large-T coefficient T (1 - Gamma) of the exact FP solution with the
    Eq. (7) rate, i.e. int [2^-a - a 2^(1-a) (|s| - 1/2)] P_inf over |s| < 1, where
    P_inf solves alpha P'' - P + y = 0 (the T = infinity state, Gamma = 1).
    """
    return -t_onset_printed(alpha, a)


def p_infinite_t(sigma, alpha: float, sigma_c: float = 1.0, sigma_0: float = 1.0):
    """Stationary density at T = infinity (nu = 1, Gamma = 1, D = alpha): the solution of
    alpha P'' - P + y = 0, i.e. y convolved with exp(-|x|/l)/(2l), l = sqrt(alpha)."""
    s = np.atleast_1d(np.asarray(sigma, dtype=float))
    ell = math.sqrt(alpha)
    pref = math.exp(-sigma_c / sigma_0) / (2.0 * ell * y_norm(sigma_c, sigma_0))

    def side(x, lo, hi, k):
        # int_lo^hi exp(-|x - u|/l + k u) du, split at u = x
        left_hi, right_lo = np.clip(x, lo, hi), np.clip(x, lo, hi)
        return (np.exp(-x / ell) * _exp_integral(k + 1 / ell, lo, left_hi)
                + np.exp(x / ell) * _exp_integral(k - 1 / ell, right_lo, hi))

    total = side(s, 0.0, sigma_c, 1 / sigma_0) + side(s, -sigma_c, 0.0, -1 / sigma_0)
    return pref * total if np.ndim(sigma) else float(pref * total[0])


def _exp_integral(q: float, lo, hi):
    """int_lo^hi exp(q u) du, stable as q -> 0."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if abs(q) < 1e-12:
        return hi - lo
    return np.exp(q * lo) * np.expm1(q * (hi - lo)) / q


def t_onset_exact(alpha: float, a: float = 1.5) -> float:
    """Large-T coefficient for the exact rate Eq. (3): Gamma = 1 - T_onset_exact/T + O(T^-2),
    T_onset_exact = <dE>_inf = int (1 - |s|)^a P_inf(s) ds (0.319 at alpha = 0.11, a = 1.5).
    Not in the paper: Eq. (B6) is the value for the linearised rate of Eq. (7)."""
    return 2.0 * quad(lambda s: (1.0 - s) ** a * p_infinite_t(s, alpha), 0.0, 1.0, epsabs=0, epsrel=1e-12)[0]


def gamma_high_t(T, t_onset_value: float):
    """High-T law Eq. (9): Gamma = 1 - T_onset/T."""
    return 1.0 - t_onset_value / np.asarray(T, dtype=float)


# ---- MCT-like regime: Eqs. (11)-(14), (C3) ------------------------------------
def beta_coefficients(T: float, alpha: float, a: float = 1.5) -> tuple[float, float]:
    """(beta_1, beta_2(T)) of Eq. (C3) as printed."""
    sb, n = sigma_bar(alpha), y_norm(1.0, 1.0)
    delta = mct_linearisation(T, a)[0]
    base = (math.exp(sb) - 1.0) * sb / (math.e * n)
    return -4.0 / 7.0 * base, 36.0 / 49.0 * sb / delta + 8.0 / 21.0 * base


def gamma_mct_printed(T: float, alpha: float, a: float = 1.5) -> float:
    """Eq. (12) as printed: -(beta_1/beta_2)(sigma_B - sigma_bar)^3 for T > T_c, else 0.
    Negative for T > T_c, and lacks the 1/alpha of D = alpha Gamma; see :func:`gamma_mct`."""
    if T <= t_c(alpha, a):
        return 0.0
    b1, b2 = beta_coefficients(T, alpha, a)
    return -(b1 / b2) * (mct_linearisation(T, a)[2] - sigma_bar(alpha)) ** 3


#: c_A = -Ai(0)/Ai'(0) = Gamma(1/3) / (3^(1/3) Gamma(2/3)) = 1.3717.
AIRY_SHIFT = float(-airy(0.0)[0] / airy(0.0)[1])


def gamma_mct(T: float, alpha: float, a: float = 1.5) -> float:
    """Corrected Eq. (12): the exact leading behaviour of Gamma for T -> T_c+ with the rate of Eq. (10),

        Gamma = Delta(T) (sigma_bar - sigma_B(T))^3 / (alpha c_A^3),   c_A = -Ai(0)/Ai'(0),

    and 0 for T <= T_c; hence Gamma ~ (T - T_c)^3 (Eq. 14). Derivation: for small Gamma
    the density vanishes across a layer above sigma_B where alpha Gamma P'' =
    Delta (sigma - sigma_B) P, solved by Ai((sigma - sigma_B)/l), l = (alpha Gamma/Delta)^(1/3);
    seen from below, the layer is an absorbing wall at sigma_B + c_A l, and
    normalisation (Eq. 18) puts that wall at sigma_bar. Compared with the printed
    form: positive, divided by alpha, and with the exact layer constant in place of
    the beta's of App. C.
    """
    delta, _, s_b = mct_linearisation(T, a)
    gap = sigma_bar(alpha) - s_b
    return delta * gap**3 / (alpha * AIRY_SHIFT**3) if gap > 0 else 0.0


# ---- low-T regime: Eqs. (19)-(22), (D8) ---------------------------------------
def e_bar(alpha: float, a: float = 1.5) -> float:
    """Ebar = (1 - sigma_bar)^a (Sec. VI A): the Arrhenius energy, K (sigma_c - sigma_bar)^a
    in the paper's units sigma_c = K = 1."""
    return (1.0 - sigma_bar(alpha)) ** a


def c_coefficients(alpha: float) -> tuple[float, float, float]:
    """(c_1, c_2, c_3) of Eq. (D8) as printed (c_1 read as -2 e^(sigma_bar - 1) sigma_bar / (alpha^2 (e - 1)))."""
    sb, e = sigma_bar(alpha), math.e
    den = alpha**2 * (e - 1.0)
    return -2.0 * math.exp(sb - 1.0) * sb / den, -4.0 * math.exp(sb) * sb / den, math.exp(sb) * sb / den


def gamma_low_t_printed(T: float, alpha: float, a: float = 1.5) -> float:
    """Eqs. (21)-(22) as printed: Gamma = -(c_1/c_3) T_1/alpha exp(-Ebar/T) ~ T exp(-Ebar/T).
    Wrong power of T; see :func:`gamma_low_t`."""
    c1, _, c3 = c_coefficients(alpha)
    return -(c1 / c3) * t1(T, sigma_bar(alpha), a) / alpha * math.exp(-e_bar(alpha, a) / T)


def gamma_low_t(T: float, alpha: float, a: float = 1.5) -> float:
    """Corrected Eqs. (21)-(22): the exact leading behaviour for T -> 0,

        Gamma = exp(2 gamma_E) T_1^2 / alpha * exp(-Ebar/T),   T_1 = T/(a (1 - sigma_bar)^(a-1)),

    i.e. Gamma ~ T^2 exp(-Ebar/T): relaxation time ~ T^-2 exp(Ebar/T), not T^-1.
    Derivation: near sigma_bar, with nu of Eq. (19), x = (sigma - sigma_bar)/T_1 and
    gamma = Gamma exp(Ebar/T), Eq. (8) becomes P_xx = (T_1^2/(alpha gamma)) e^x P at
    leading order, solved by K_0(2 e^((x - x*)/2)), x* = ln(alpha gamma / T_1^2).
    Seen from the bulk this layer is an absorbing wall at sigma_bar + T_1 (x* - 2 gamma_E)
    (K_0(z) ~ -ln(z/2) - gamma_E); normalisation (Eq. 18) puts the wall at sigma_bar,
    so x* = 2 gamma_E. Corrections are O(T).
    """
    sb = sigma_bar(alpha)
    return math.exp(2.0 * np.euler_gamma) * t1(T, sb, a) ** 2 / alpha * math.exp(-e_bar(alpha, a) / T)


# ---- the growing length: Eqs. (15), (16), (23), (24) ----------------------------
def frozen_mass_slope(alpha: float) -> float:
    """F'(sigma_bar) = 2 sigma_bar Y(sigma_bar), Y(s) = int_0^s y (Eq. 1): how fast the mass of
    the frozen density (P'' = -y/D on |sigma| < w, zero at the wall w, Eq. 17) grows with
    the wall position, times D. It sets both lengths below; 2 b with b of Eq. (C3)."""
    sb = sigma_bar(alpha)
    return 2.0 * sb * (math.exp(sb - 1.0) - math.exp(-1.0)) / y_norm(1.0, 1.0)


def xi_mct_printed(T: float, alpha: float, a: float = 1.5) -> float:
    """Eq. (16) as printed: xi/sqrt(m) = 1/sqrt(|beta_1 (sigma_B - sigma_bar)|) (beta_1 of Eq. C3),
    for T > T_c. sqrt(7/6) times the exact asymptote; see :func:`xi_mct`."""
    b1, _ = beta_coefficients(T, alpha, a)
    return 1.0 / math.sqrt(abs(b1 * (mct_linearisation(T, a)[2] - sigma_bar(alpha))))


def xi_mct(T: float, alpha: float, a: float = 1.5) -> float:
    """Corrected Eq. (16): the exact leading behaviour of xi for T -> T_c+ with the rate of Eq. (10),

        xi/sqrt(m) = sqrt(3 / (F'(sigma_bar) (sigma_bar - sigma_B(T)))) ~ (T - T_c)^(-1/2).

    Derivation: with the Airy layer of :func:`gamma_mct` the density is the frozen one with
    an absorbing wall at w = sigma_B + c_A (D/Delta)^(1/3), so int P = (Gamma/D) F(w); its
    elasticity s = -d ln int P/d ln D = 1 - F'(w)(w - sigma_B)/(3 F(w)), with F = alpha and
    w -> sigma_bar at the homogeneous state, and xi^2/m = s/(alpha (1 - s))
    (:mod:`epmsweep.model.meanfield.growing_length`). Corrections are O(T - T_c).
    """
    gap = sigma_bar(alpha) - mct_linearisation(T, a)[2]
    return math.sqrt(3.0 / (frozen_mass_slope(alpha) * gap)) if gap > 0 else math.inf


def xi_low_t_printed(T: float, alpha: float, a: float = 1.5) -> float:
    """Eqs. (23)-(24) as printed: lap(dgamma) = (alpha^2 c_1 T_1/m) dgamma, so
    xi/sqrt(m) = 1/sqrt(alpha^2 |c_1| T_1) ~ T^(-1/2). See :func:`xi_low_t`."""
    c1, _, _ = c_coefficients(alpha)
    return 1.0 / math.sqrt(alpha**2 * abs(c1) * t1(T, sigma_bar(alpha), a))


def xi_low_t(T: float, alpha: float, a: float = 1.5) -> float:
    """Corrected Eq. (23): the exact leading behaviour of xi for T -> 0 (exact rate),

        xi/sqrt(m) = 1/sqrt(F'(sigma_bar) T_1),   T_1 = T/(a (1 - sigma_bar)^(a-1)),   xi ~ T^(-1/2) (Eq. 24).

    Derivation: the Bessel-K0 layer of :func:`gamma_low_t` puts the absorbing wall at
    w = sigma_bar + T_1 (ln(d/T_1^2) - 2 gamma_E), d = D exp(Ebar/T), so
    1 - s = F'(w) T_1 / F(w) -> F'(sigma_bar) T_1 / alpha and xi^2/m = s/(alpha (1 - s)).
    Corrections are O(T).
    """
    return 1.0 / math.sqrt(frozen_mass_slope(alpha) * t1(T, sigma_bar(alpha), a))


"""Gamma(T) of the mean-field thermal EPM: simulation, Fokker-Planck solution and the
paper's closed forms side by side (paper 000, alpha = 0.11). Runs in about ten seconds."""

import time

from epmsweep.model import get_model
from epmsweep.model.meanfield import theory

sim, fp = get_model("meanfield"), get_model("meanfield-fp")
alpha = 0.11
print(f"alpha = {alpha}: sigma_bar = {theory.sigma_bar(alpha):.4f} (Eq. 18), T_c = {theory.t_c(alpha):.4f} (Eq. 10), "
      f"T_onset = {theory.t_onset(alpha):.4f} (Eq. B6, corrected)\n")
print(f"{'T':>6} {'Gamma sim (N=1000)':>24} {'Gamma FP':>11} {'high-T (9)':>11} {'low-T (22)':>11} {'wall':>6}")
for T in (2.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.07, 0.05):
    start = time.perf_counter()
    s = sim.run({"T": T, "alpha": alpha, "N": 1000}, {"burn_in": 50, "duration": 300}, seed=1)
    f = fp.run({"T": T, "alpha": alpha}, {"n_times": 0})
    wall = time.perf_counter() - start
    # Each asymptotic law is shown only in its own regime.
    high = f"{theory.gamma_high_t(T, theory.t_onset_exact(alpha)):11.5f}" if T >= 1 else f"{'-':>11}"
    low = f"{theory.gamma_low_t(T, alpha):11.5f}" if T <= 0.07 else f"{'-':>11}"
    print(f"{T:6.3f} {s['gamma']:13.5f} +- {s['gamma_err']:.5f} {f['gamma']:11.5f} {high} {low} {wall:5.2f}s")

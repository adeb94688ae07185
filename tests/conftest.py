"""Shared helpers: the paper's units and an independent renewal-theory reference."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from epmsweep.model import get_model

PAPER = dict(alpha=0.11, a=1.5, sigma_c=1.0, sigma_0=1.0, K=1.0, tau=1.0)


def renewal_integrand(s: float, T: float, a: float = 1.5) -> float:
    """y(s)/nu(s) in the paper's units, written out independently of the package."""
    return math.exp(s - 1.0) / (2.0 * (1.0 - math.exp(-1.0))) * math.exp((1.0 - s) ** a / T)


def renewal_gamma(T: float, a: float = 1.5) -> float:
    """alpha = 0 renewal theory: Gamma = 1 / int y/nu (sites never move between relaxations)."""
    return 1.0 / (2.0 * quad(renewal_integrand, 0.0, 1.0, args=(T, a), epsabs=0.0, epsrel=1e-13, limit=200)[0])


def renewal_bins(edges: np.ndarray, T: float) -> np.ndarray:
    """alpha = 0: bin averages of P = Gamma y/nu (zero outside |sigma| < 1)."""

    def from_zero(x: float) -> float:  # int_0^x y/nu, odd in x
        return math.copysign(quad(renewal_integrand, 0.0, min(abs(x), 1.0), args=(T,), epsabs=0.0, epsrel=1e-13, limit=200)[0], x)

    cdf = np.array([from_zero(x) for x in edges])
    return renewal_gamma(T) * np.diff(cdf) / np.diff(edges)


@pytest.fixture(scope="session")
def sim():
    return get_model("meanfield")


@pytest.fixture(scope="session")
def fp():
    return get_model("meanfield-fp")


@pytest.fixture
def example_plugin_site(tmp_path) -> Path:
    """The example model package (examples/plugin, model ``toy``) as pip installs it: the
    package and its ``*.dist-info`` (metadata, entry points) in a directory to put on PYTHONPATH."""
    source = Path(__file__).resolve().parents[1] / "examples" / "plugin"
    site = tmp_path / "site"
    shutil.copytree(source / "epmsweep_toy", site / "epmsweep_toy")
    info = site / "epmsweep_toy-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: epmsweep-toy\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[epmsweep.models]\ntoy = epmsweep_toy:Toy\n")
    return site

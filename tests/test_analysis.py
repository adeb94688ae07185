"""Figures, store fits, `epmsweep plot/fit/report`, and the report page in headless Chromium."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

from epmsweep.analysis import figures
from epmsweep.analysis.store_fits import fit_store
from epmsweep.sweep import store
from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

MEANFIELD_FIGURES = {"p-sigma-high-t", "p-sigma-mct", "p-sigma-low-t", "gamma-high-t", "relaxation-time", "arrhenius"}


@pytest.fixture(scope="module")
def meanfield_store(tmp_path_factory):
    """A small real sweep: N = 100, 9 temperatures from 0.04 to 3 (each fit regime has at least
    three), two replicas."""
    path = tmp_path_factory.mktemp("mf") / "mf.zarr"
    spec = build_spec("meanfield", {"T": "0.04,0.05,0.065,0.09,0.2,0.5,1,2,3", "alpha": "0.11"}, {"N": 100},
                      {"burn_in": 20, "duration": 60, "n_windows": 5}, 2, 3, "mf")
    run_sweep(spec, path, ClusterOptions(kind="sync"), progress=False)
    return path


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "epmsweep", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_report_writes_every_meanfield_figure_and_a_page_chromium_loads(meanfield_store, tmp_path):
    result = cli("report", meanfield_store, "-o", tmp_path / "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = tmp_path / "report"
    for kind in MEANFIELD_FIGURES:
        png = report / f"{kind}.png"
        assert png.stat().st_size > 10_000, kind
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (report / "index.html").read_text()
    assert "Fits" in page and "arrhenius" in page and '"model": "meanfield"' in page.replace("&quot;", '"')
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
                          "--no-first-run", "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", "--virtual-time-budget=10000", "--dump-dom", (report / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    images = re.findall(r"<img[^>]*>", dom)
    assert len(images) == len(MEANFIELD_FIGURES)
    assert all('data-loaded="1"' in img for img in images), images
    assert not any("data-broken" in img for img in images)


def test_figures_on_a_store_with_missing_points_say_how_many(meanfield_store, tmp_path):
    copy = tmp_path / "partial.zarr"
    shutil.copytree(meanfield_store, copy)
    status = zarr.open_array(copy / "status", mode="r+")
    status[0, 0, 1] = store.PENDING
    status[3, 0, 0] = store.FAILED
    ds, spec = xr.open_zarr(copy), store.read_spec(copy)
    for kind in MEANFIELD_FIGURES:
        fig = figures.draw(kind, ds, spec)
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("2 of 18 points missing" in t for t in texts), (kind, texts)


def test_store_fits_and_the_fit_command(meanfield_store, tmp_path):
    ds, spec = xr.open_zarr(meanfield_store), store.read_spec(meanfield_store)
    arr = fit_store("arrhenius", ds, spec)
    assert 0.05 < float(arr.E) < 0.5 and float(arr.E_err) > 0
    assert set(fit_store("power-law", ds, spec).T.values) == {0.09, 0.2, 0.5}
    result = cli("fit", meanfield_store, "high-t", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["fit"] == "high-t"
    assert 0.1 < payload["parameters"]["T_onset"]["value"] < 0.6
    bad = cli("fit", meanfield_store, "s-q", cwd=tmp_path)
    assert bad.returncode == 2 and "does not apply" in bad.stderr


def test_plot_command_writes_a_png_and_lists_kinds(meanfield_store, tmp_path):
    listing = cli("plot", meanfield_store, cwd=tmp_path)
    assert listing.returncode == 0 and "arrhenius" in listing.stdout
    result = cli("plot", meanfield_store, "arrhenius", "-o", tmp_path / "a.png", "--sel", "alpha=0.11", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.png").stat().st_size > 10_000


def test_lattice_figures_draw_from_a_lattice_store(tmp_path):
    spec = build_spec("lattice", {"T": "0.15,0.3"}, {"L": 16},
                      {"burn_in": 5, "duration": 40, "n_tracers": 50, "q_modes": 6, "lag_levels": 3, "n_probes": 32},
                      2, 1, "lat")
    run_sweep(spec, tmp_path / "lat.zarr", ClusterOptions(kind="sync"), progress=False)
    ds = xr.open_zarr(tmp_path / "lat.zarr")
    kinds = figures.supported(ds, spec)
    assert {"diffusion", "p-u", "psi", "c-u", "c-sigma", "s-q-ballistic", "s-q-crossover", "s-q-diffusive"} <= set(kinds)
    for kind in kinds:
        fig = figures.draw(kind, ds, spec)
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None, kind
        has_data = any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in ax.lines)
        assert has_data or any("no data" in t.get_text() for t in ax.texts), kind
    with_reference = figures.draw("diffusion", ds, spec, reference=ds)
    assert any("reference" in line.get_label() for line in with_reference.axes[0].lines)

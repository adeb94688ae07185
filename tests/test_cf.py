"""The store and its NetCDF export against the CF conventions, checked by the IOOS
compliance-checker (cf 1.10) and UDUNITS (cf-units): before, 13 errors (units such as
'energy', '1/time', 'stress^2'; _FillValue on coordinates; flag_values of another type)."""

import json
import subprocess
import sys
import warnings

import cf_units
import pytest
import xarray as xr
from compliance_checker.runner import CheckSuite, ComplianceChecker

import epmsweep
from epmsweep.sweep.cf import REDUCED_UNITS

SWEEPS = {
    "meanfield": {"model": "meanfield", "axes": {"T": [0.2, 0.5], "alpha": 0.11}, "parameters": {"N": 50},
                  "settings": {"burn_in": 5, "duration": 10, "n_windows": 4}, "replicas": 2},
    "lattice": {"model": "lattice", "axes": {"T": [0.3]}, "parameters": {"L": 16}, "settings": {
        "burn_in": 5, "duration": 20, "n_tracers": 20, "q_modes": 4, "lag_levels": 2, "n_probes": 8}},
}


def cf_errors(path) -> list[str]:
    """The compliance-checker's failed checks of the highest priority (its 'errors')."""
    report = path.with_suffix(".json")
    with warnings.catch_warnings():
        # the checker's own deprecation warnings (its ioos_sos plugin, loaded with the others), not ours
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"compliance_checker|typing_extensions")
        CheckSuite.load_all_available_checkers()
        ComplianceChecker.run_checker(str(path), ["cf:1.10"], 0, "normal", output_filename=str(report),
                                      output_format="json")
    results = json.loads(report.read_text())["cf:1.10"]
    return [f"{r['name']}: {m}" for r in results["high_priorities"] for m in r["msgs"] if r["value"][0] < r["value"][1]]


@pytest.mark.parametrize("model", sorted(SWEEPS))
def test_the_store_has_udunits_units_and_its_export_passes_the_cf_checker(model, tmp_path):
    ds = epmsweep.run(SWEEPS[model], out=tmp_path / "s.zarr", cluster="sync", progress=False)
    plain = xr.open_zarr(tmp_path / "s.zarr")
    for name, variable in plain.variables.items():
        if "units" in variable.attrs:
            cf_units.Unit(variable.attrs["units"])  # raises for a unit UDUNITS does not know
        if variable.attrs.get("reduced_units"):
            unit = REDUCED_UNITS[variable.attrs["reduced_units"]]
            assert variable.attrs["units"] == "1" and variable.attrs["long_name"].endswith(f"in units of {unit}")
    assert plain.T.attrs["reduced_units"] == "energy" and plain.p_sigma.attrs["reduced_units"] == "1/stress"
    rate = "gamma" if model == "meanfield" else "activity"  # averages over the measurement say so
    assert plain[rate].attrs["cell_methods"] == "time: mean" and "cell_methods" not in plain.events.attrs
    assert "Baron" in plain.attrs["references"] and plain.attrs["history"]
    result = subprocess.run([sys.executable, "-m", "epmsweep", "export", "s.zarr", "s.nc"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert cf_errors(tmp_path / "s.nc") == []
    exported = xr.open_dataset(tmp_path / "s.nc")
    assert exported.status.attrs["flag_values"].dtype == exported.status.dtype
    assert all("_FillValue" not in exported[c].encoding for c in exported.coords)
    xr.testing.assert_identical(exported.p_sigma.load(), ds.p_sigma)
    exported.close()

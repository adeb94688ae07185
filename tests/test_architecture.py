"""The package's layout keeps its promises: the contract imports no model, no model imports
another model, and model/ imports neither the sweep service nor dask or zarr."""

import ast
from pathlib import Path

import epmsweep

ROOT = Path(epmsweep.__file__).parent
MODEL = ROOT / "model"
FAMILIES = {"meanfield": MODEL / "meanfield", "lattice": MODEL / "lattice", "probe": MODEL / "probe.py"}


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def files(where: Path) -> list[Path]:
    return sorted(where.rglob("*.py")) if where.is_dir() else [where]


def test_no_model_imports_another_model():
    for family, where in FAMILIES.items():
        others = [f"epmsweep.model.{other}" for other in FAMILIES if other != family]
        for path in files(where):
            bad = {name for name in imports(path) for other in others if name == other or name.startswith(other + ".")}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_contract_and_the_shared_numerics_import_no_model():
    shared = files(MODEL / "core") + [MODEL / name for name in ("rules.py", "events.py", "histogram.py", "jit.py", "run_length.py")]
    for path in shared:
        bad = {name for name in imports(path) for family in FAMILIES if name.startswith(f"epmsweep.model.{family}")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_model_imports_neither_the_sweep_service_nor_dask_or_zarr():
    for path in files(MODEL):
        bad = {name for name in imports(path)
               if name.split(".")[0] in ("dask", "distributed", "zarr", "xarray") or name.startswith("epmsweep.sweep")
               or name.startswith("epmsweep.analysis")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_every_built_in_model_is_found_by_entry_point():
    from importlib.metadata import entry_points

    from epmsweep.model import available_models, get_model

    declared = {ep.name for ep in entry_points(group="epmsweep.models")}
    assert {"meanfield", "meanfield-fp", "lattice", "probe"} <= declared
    assert declared <= set(available_models())
    for name in declared:
        assert get_model(name).name == name

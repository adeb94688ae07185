"""Users' own models: an installed package (entry point), --import of a module or a file,
`imports` in a spec, and a model defined in a script run through the Python API with its
own Client. Each runs on worker processes that know nothing of the model beforehand
(before: "unknown model" on every worker of the local cluster)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from rich.console import Console

from epmsweep.sweep.cluster import ClusterOptions
from epmsweep.sweep.runner import run_sweep
from epmsweep.sweep.spec import build_spec

CLI = [sys.executable, "-m", "epmsweep"]
def epmsweep(*args, cwd, pythonpath: Path | None = None, timeout=180):
    env = {**os.environ, "COLUMNS": "200"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_an_installed_model_package_is_listed_and_runs_on_the_local_cluster(tmp_path, example_plugin_site):
    site = example_plugin_site
    listed = epmsweep("models", "toy", cwd=tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    assert "example plugin model" in listed.stdout and "slope" in listed.stdout
    result = epmsweep("run", "toy", "--x", "0:1:6", "--set", "slope=2.5", "--replicas", "2", "--workers", "2",
                      "--no-progress", "--out", "toy.zarr", cwd=tmp_path, pythonpath=site)
    assert result.returncode == 0, result.stderr
    ds = xr.open_zarr(tmp_path / "toy.zarr")
    assert (ds.status == 1).all()
    np.testing.assert_allclose(ds.y.values, 2.5 * np.linspace(0, 1, 6)[:, None] * np.ones((1, 2)))
    assert np.unique(ds.z.values).size == 12  # one seeded number per point


def model_source(name: str, y: str, preamble: str = "") -> str:
    """The source of a module registering a one-parameter model ``name`` with output y = ``y``
    (an expression in x), as a user writes it."""
    return f'''{preamble}
from epmsweep.model import Field, Model, Output, OutputSpec, register


@register
class UserModel(Model):
    name = "{name}"
    description = "y = {y}"
    parameters = {{"x": Field(0.0, "abscissa", "1")}}
    settings = {{}}

    def seconds_per_point(self, params, settings):
        return 1e-6

    def outputs(self, settings):
        return OutputSpec({{"y": Output((), "float64", "1", "{y}")}})

    def _run(self, params, settings, rng):
        x = float(params["x"])
        return {{"y": {y}}}
'''


def test_import_of_a_file_from_the_command_line_and_from_a_spec_reaches_every_worker(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my_models.py").write_text(model_source("cube", "x ** 3"))
    (tmp_path / "models" / "cube.toml").write_text('model = "cube"\nimports = ["my_models.py"]\n[axes]\nx = "1:4:4"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = epmsweep("models", "--import", "../models/my_models.py", cwd=elsewhere)
    assert listed.returncode == 0 and "cube" in listed.stdout, listed.stderr
    # the spec's path is relative to the spec file, and the workers are other processes
    result = epmsweep("run", "../models/cube.toml", "--workers", "2", "--no-progress", "--out", "c.zarr", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(xr.open_zarr(elsewhere / "c.zarr").y.values[:, 0], [1.0, 8.0, 27.0, 64.0])
    # the same model by --import of the module name, found on PYTHONPATH
    result = epmsweep("run", "cube", "--import", "my_models", "--x", "2,3", "--cluster", "sync", "--no-progress",
                      "--out", "m.zarr", cwd=elsewhere, pythonpath=tmp_path / "models")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(xr.open_zarr(elsewhere / "m.zarr").y.values[:, 0], [8.0, 27.0])


@pytest.mark.parametrize(("module", "message"), [
    ("no_such_module_xyz", "import 'no_such_module_xyz': no module named 'no_such_module_xyz' here"),
    ("broken.py", "import '{tmp}/broken.py' failed: ZeroDivisionError: division by zero"),
    ("missing.py", "import '{tmp}/missing.py': not a readable .py file"),
])
def test_an_import_that_fails_is_refused_with_exit_2_naming_it(tmp_path, module, message):
    (tmp_path / "broken.py").write_text("x = 1 / 0\n")
    result = epmsweep("run", "probe", "--x", "1", "--import", module, "--cluster", "sync", "--out", "s.zarr",
                      cwd=tmp_path)
    assert result.returncode == 2
    assert message.format(tmp=tmp_path.resolve()) in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not (tmp_path / "s.zarr").exists()


NOTEBOOK = model_source("square", "x ** 2", "import warnings\nfrom distributed import Client, LocalCluster\n"
                                                "import numpy as np\nimport epmsweep") + '''

if __name__ == "__main__":
    warnings.simplefilter("error")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
            Client(cluster) as client:
        ds = epmsweep.run({"model": "square", "axes": {"x": np.arange(5.0)}, "replicas": 2}, out="sq.zarr",
                          client=client, progress=False)
        assert client.status == "running"  # the user's client is left open
        workers = client.run(lambda: __import__("os").getpid())
        print(ds.y.values[:, 0].tolist(), len(set(workers.values())))
'''


def test_the_python_api_runs_a_model_defined_in_a_script_on_the_scripts_own_client(tmp_path):
    (tmp_path / "notebook.py").write_text(NOTEBOOK)
    result = subprocess.run([sys.executable, "notebook.py"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    values, n_workers = result.stdout.strip().rsplit(" ", 1)
    assert values == "[0.0, 1.0, 4.0, 9.0, 16.0]" and n_workers == "2"
    stored = xr.open_zarr(tmp_path / "sq.zarr")
    assert (stored.status == 1).all()


def test_a_first_run_says_that_it_compiles_the_models_kernels_and_a_second_does_not(tmp_path):
    tag = tmp_path.name.replace("_", "-")[-20:]
    module = tmp_path / f"kernels_{tmp_path.name[-20:]}.py"
    module.write_text(model_source(f"tripled-{tag}", "triple(x)",
                                   "import numba\n\n\n@numba.njit(cache=True)\ndef triple(x):\n    return 3.0 * x\n"))
    said = []
    for out in ("a.zarr", "b.zarr"):
        text = io.StringIO()
        spec = build_spec(f"tripled-{tag}", {"x": [1.0, 2.0]}, imports=[str(module)])
        outcome = run_sweep(spec, tmp_path / out, ClusterOptions(kind="sync"), progress=False,
                            console=Console(file=text, width=200))
        assert outcome.done == 2
        said.append("compiling the model's numba kernels" in text.getvalue())
    assert said == [True, False]
    assert list((tmp_path / "__pycache__").glob("*.nbi"))  # numba's cache, next to the model's source

"""The documentation site builds with warnings as errors (mkdocs --strict: broken links,
missing snippets, docstrings mkdocstrings cannot render) and carries the API reference."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_build_strictly_with_the_api_reference_and_the_tutorials(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert all(f"epmsweep.api.{name}" in api for name in ("run", "open_store", "figure", "fit", "to_netcdf"))
    own = (tmp_path / "site" / "tutorial" / "own-model" / "index.html").read_text()
    assert "epmsweep_toy" in own and "Toy" in own  # the example package, included from examples/plugin
    physics = (tmp_path / "site" / "physics" / "index.html").read_text()
    assert "Fokker-Planck" in physics and "--8&lt;--" not in physics

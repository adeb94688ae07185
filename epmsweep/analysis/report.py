"""``epmsweep report``: every figure a store supports, the fits, and the sweep's metadata in
one static ``index.html`` (relative image links; opens in a browser with no server).

Works on a store whose sweep is still running or has failed points: figures and fits use
what is done, and the page says what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from epmsweep.analysis import figures
from epmsweep.analysis.store_fits import available_fits, fit_store, summary_lines, table_rows
from epmsweep.model import InvalidInput
from epmsweep.sweep import store


#: Resolution of the PNGs (the page shows them 600 px wide and links the full size; a PDF
#: of each figure sits next to it for print).
PNG_DPI = 200


#: In the head of every report page: what marks a directory as a report that may be replaced.
GENERATOR_TAG = '<meta name="generator" content="epmsweep report">'


def check_report_dir(out_dir: str | Path) -> None:
    """A report goes into a directory: refuse a file, and a directory whose index.html is not
    an epmsweep report (it would be overwritten)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"--output {str(out_dir)!r} is an existing file; a report is a directory")
    index = out_dir / "index.html"
    if index.exists() and GENERATOR_TAG not in index.read_text(errors="replace")[:4000]:
        raise InvalidInput(f"--output {str(out_dir)!r} holds an index.html that is not an epmsweep report; choose "
                           "another directory")


def write_report(path: str | Path, out_dir: str | Path, reference: str | Path | None = None) -> dict:
    """Write each figure as PNG and PDF, and index.html, into ``out_dir``; ``reference`` is
    another store overlaid in grey where a figure supports it (paper 002's random model).
    Returns what was written and what failed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = store.summary(path)
    spec = info["spec"]
    ds = xr.open_zarr(path)
    ref = xr.open_zarr(reference) if reference is not None else None
    written, problems = [], []
    for kind in figures.supported(ds, spec):
        try:
            fig = figures.draw(kind, ds, spec, reference=ref)
            for suffix, dpi in ((".png", PNG_DPI), (".pdf", None)):
                fig.savefig(out_dir / f"{kind}{suffix}", dpi=dpi, bbox_inches="tight")
        except Exception as err:  # one figure must not take the report down
            problems.append(f"figure {kind}: {type(err).__name__}: {err}")
            continue
        finally:
            plt.close("all")
        written.append(kind)
    fitted = []
    for kind in available_fits(ds, spec):
        try:
            fit = fit_store(kind, ds, spec)
        except Exception as err:
            problems.append(f"fit {kind}: {err}")
            continue
        fitted.append({"kind": kind, "law": fit.attrs.get("law", ""), "rows": table_rows(fit),
                       "lines": summary_lines(kind, fit)})
    (out_dir / "index.html").write_text(_page(path, info, written, fitted, problems, reference))
    return {"figures": written, "fits": [(f["kind"], *row) for f in fitted for row in f["rows"]], "problems": problems}


def _page(path, info, written, fitted, problems, reference) -> str:
    """index.html from the package's template (jinja2, every value escaped)."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("epmsweep.analysis", "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    wall = info["wall"]
    wall_text = (f"{wall.sum() / 3600:.3g} core-hours in total; per point mean {wall.mean():.3g} s, "
                 f"max {wall.max():.3g} s" if wall.size else "no point done yet")
    return environment.get_template("report.html").render(
        generator_tag=GENERATOR_TAG, spec=info["spec"], info=info, attrs=info["attrs"],
        store_path=str(Path(path).resolve()), wall_text=wall_text,
        reference=str(Path(reference).resolve()) if reference is not None else None,
        label=lambda where: ", ".join(f"{k}={v:g}" for k, v in where.items()),
        figures=[(kind, figures.FIGURES[kind].title) for kind in written], fits=fitted, problems=problems,
        spec_json=json.dumps(json.loads(info["spec"].to_json()), indent=2))

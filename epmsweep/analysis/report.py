"""``epmsweep report``: every figure a store supports, the fits, and the sweep's metadata in
one static ``index.html`` (relative image links; opens in a browser with no server).

Works on a store whose sweep is still running or has failed points: figures and fits use
what is done, and the page says what is missing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr

from epmsweep.analysis import figures
from epmsweep.analysis.store_fits import available_fits, fit_store, table_rows
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
    fit_rows = []
    for kind in available_fits(ds, spec):
        try:
            fit = fit_store(kind, ds, spec)
        except Exception as err:
            problems.append(f"fit {kind}: {err}")
            continue
        fit_rows += [(kind, name, value, error) for name, value, error in table_rows(fit)]
    (out_dir / "index.html").write_text(_page(path, info, written, fit_rows, problems, reference))
    return {"figures": written, "fits": fit_rows, "problems": problems}


def _page(path, info, written, fit_rows, problems, reference) -> str:
    spec = info["spec"]
    e = html.escape
    wall = info["wall"]
    wall_text = (f"{wall.sum() / 3600:.3g} core-hours in total; per point mean {wall.mean():.3g} s, "
                 f"max {wall.max():.3g} s" if wall.size else "no point done yet")
    missing = info["pending"] + info["failed"]
    status = (f"{info['done']} of {info['total']} points done, {info['pending']} pending, {info['failed']} failed"
              + (" &mdash; figures and fits use the done points only" if missing else ""))
    failures = "".join(f"<li>{e(', '.join(f'{k}={v:g}' for k, v in where.items()))}: {e(line)}</li>"
                       for where, line in info["failures"])
    flagged = "".join(f"<li>{e(', '.join(f'{k}={v:g}' for k, v in where.items()))}: {e(why)}</li>"
                      for where, why in info["flagged"])
    fits_html = "".join(f"<tr><td>{e(k)}</td><td>{e(n)}</td><td>{v:.6g}</td><td>{err:.2g}</td></tr>"
                        for k, n, v, err in fit_rows)
    figs_html = "".join(f'<figure><a href="{e(k)}.png"><img src="{e(k)}.png" alt="{e(figures.FIGURES[k].title)}" '
                        f'onload="this.dataset.loaded=1" onerror="this.dataset.broken=1"></a>'
                        f'<figcaption>{e(figures.FIGURES[k].title)} (<a href="{e(k)}.pdf">PDF</a>)</figcaption>'
                        f"</figure>" for k in written)
    reference_html = (f"<br>Reference (grey): <code>{e(str(Path(reference).resolve()))}</code>"
                      if reference is not None else "")
    problems_html = "".join(f"<li>{e(p)}</li>" for p in problems)
    spec_json = json.dumps(json.loads(spec.to_json()), indent=2)
    attrs = info["attrs"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{GENERATOR_TAG}<title>epmsweep report: {e(spec.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} figure{{display:inline-block;margin:8px}}
img{{width:600px}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}
pre{{background:#f6f6f6;padding:8px;overflow:auto}}</style></head><body>
<h1>Sweep {e(spec.name)} ({e(spec.model)})</h1>
<p>Store: <code>{e(str(Path(path).resolve()))}</code><br>
epmsweep {e(str(attrs.get('epmsweep_version', '?')))}, created {e(str(attrs.get('created', '?')))}<br>
{status}<br>Wall time: {e(wall_text)}{reference_html}</p>
{f'<h2>Failed points</h2><ul>{failures}</ul>' if failures else ''}
{f'<h2>Points to check</h2><p>Done, but not shown stationary or short of the target error: run them longer (max_burn_in, max_duration) or read them with care.</p><ul>{flagged}</ul>' if flagged else ''}
<h2>Figures</h2>{figs_html or '<p>No figure applies to this store.</p>'}
<h2>Fits</h2>{f'<table><tr><th>fit</th><th>parameter</th><th>value</th><th>standard error</th></tr>{fits_html}</table>' if fits_html else '<p>No fit applies.</p>'}
{f'<h2>Not drawn</h2><ul>{problems_html}</ul>' if problems_html else ''}
<h2>Spec</h2><pre>{e(spec_json)}</pre>
</body></html>
"""



"""The entry point: every figure, table and the HTML report of a results folder.

``make_figures(results_dir)`` is what ``hpbench figures DIR``, ``make figures`` and the end of
``make bench`` call. It loads the folder once (``hpbench.analysis.load``), computes everything
(``analyse``: no drawing, so its cost can be measured on its own), then draws every figure of
the registry (``hpbench.analysis.registry``: each is one decorated function in its own
module) and writes:

* ``regret/<problem>.{pdf,png}`` — regret curves against evaluations, cost and wall time;
* ``normalized_regret``, ``ranks``, ``cd_<budget>``, ``ecdf``, ``performance_profile``,
  ``overhead`` ``.{pdf,png}`` and ``overfit/<problem>.{pdf,png}``;
* ``tables/regret_<budget>.{md,tex,csv}``, ``tables/summary.{md,tex,csv}``;
* ``report.html`` with all of them, the suite definition, package versions, git revision
  and the notes a reader needs (references used, skipped figures, failed cells).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpbench.analysis import (
    overfit,
    overhead,
    profiles,
    ranks,
    registry,
    regret,
    stats,
    style,
    tables,
)
from hpbench.analysis.curves import BANDS, Cube, budget_points, cube, cubes
from hpbench.analysis.load import Results, load
from hpbench.store import ResultsDir

DEFAULT_BUDGETS = (0.25, 0.5, 1.0)
PROBLEM_AXES = ("evaluations", "cost", "wall")


@dataclass
class Analysis:
    """Everything the figures and tables show, computed without drawing."""

    results: Results
    band: str
    cube: Cube
    budgets: np.ndarray
    budget_labels: list[str]
    budget_cube: Cube
    curves: dict[str, dict[str, pd.DataFrame]]
    normalized: pd.DataFrame | None
    normalized_at: dict[str, pd.DataFrame]
    ranks: pd.DataFrame
    friedman: dict[str, stats.FriedmanResult | None]
    versus_best: dict[str, pd.DataFrame]
    targets: pd.DataFrame
    ecdf: pd.DataFrame
    tau: float
    runtimes: pd.DataFrame
    profile: pd.DataFrame
    overfit_cubes: tuple[Cube, Cube] | None
    overhead: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def resolve_budgets(results: Results, budgets: Sequence[float] | None
                    ) -> tuple[np.ndarray, list[str]]:
    """Budgets for statistics and tables as shares of the budget, with labels.

    ``budgets``: None (a quarter, half and all of the budget); numbers in (0, 1] are shares;
    numbers > 1 are amounts in the budget's unit (e.g. 50 evaluations), which needs all
    problems to share one budget."""
    values = list(DEFAULT_BUDGETS if budgets is None else budgets)
    if not values:
        raise ValueError("budgets must name at least one budget, got an empty list")
    common = results.common_budget()
    fracs = []
    for v in values:
        v = float(v)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"budgets must be > 0, got {v}")
        if v <= 1:
            fracs.append(v)
            continue
        if common is None:
            raise ValueError(f"budget {v} is an amount, but problems ran under different "
                             "budgets; give shares in (0, 1] instead")
        if v > common[0] * (1 + 1e-9):
            raise ValueError(f"budget {v} exceeds the runs' budget of {common[0]:g} "
                             f"{common[1]}")
        fracs.append(v / common[0])
    fracs = np.array(sorted(set(fracs)))
    labels = []
    for f in fracs:
        if common is not None:
            amount = f * common[0]
            unit = common[1][:-1] if amount == 1 and common[1].endswith("s") else common[1]
            labels.append(f"{amount:.4g} {unit}")
        else:
            labels.append(f"{100 * f:.3g}% of the budget")
    return fracs, labels


def analyse(results: Results, *, band: str = "iqr", budgets: Sequence[float] | None = None,
            posthoc: str = "nemenyi", alpha: float = 0.05, tau: float = 1e-3,
            n_points: int = 200, problem_curves: bool = True) -> Analysis:
    """Compute every number the figures and tables show."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {sorted(BANDS)}, got {band!r}")
    clock = time.perf_counter
    seconds: dict[str, float] = {}
    notes: list[str] = []
    t0 = clock()
    points = budget_points(results, n_points)
    columns = ["regret"]
    if overfit.problems_with_test(results):
        columns += ["val_regret", "test_regret"]
    all_cubes = cubes(results, points, columns)
    c = all_cubes["regret"]
    fracs, labels = resolve_budgets(results, budgets)
    cb = cube(results, fracs)
    seconds["cubes"] = clock() - t0

    t0 = clock()
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    if problem_curves:
        curves = regret.all_summaries(results, PROBLEM_AXES, band, n_points)
    seconds["problem curves"] = clock() - t0

    t0 = clock()
    normalized = None
    normalized_at: dict[str, pd.DataFrame] = {}
    if style.BASELINE in results.optimizers:
        normalized = regret.normalized_summary(c)
        cells = results.cells
        ran = set(cells.loc[(cells["optimizer"] == style.BASELINE) & (cells["n_rows"] > 0),
                            "problem"])
        without = [p for p in results.problem_names if p not in ran]
        if without:
            notes.append(f"normalized regret leaves out {len(without)} problem(s) where "
                         f"'{style.BASELINE}' did not run: " + ", ".join(without[:10])
                         + (" …" if len(without) > 10 else ""))
        at = regret.normalized_summary(cb)
        for f, label in zip(fracs, labels):
            normalized_at[label] = at[np.isclose(at["point"], f)].set_index("optimizer")
    else:
        notes.append(f"no '{style.BASELINE}' optimizer in the results: normalized regret "
                     "(random search's median = 1) is not drawn")
    seconds["normalized"] = clock() - t0

    t0 = clock()
    rank_frame = ranks.average_ranks(c)
    seconds["ranks"] = clock() - t0

    t0 = clock()
    friedman: dict[str, stats.FriedmanResult | None] = {}
    vb: dict[str, pd.DataFrame] = {}
    said: dict[str, list[str]] = {}  # a note and the budgets it applies to
    for g, label in enumerate(labels):
        res = stats.friedman(cb, g, alpha=alpha, posthoc=posthoc)
        friedman[label] = res
        if res is None:
            said.setdefault("no Friedman test / critical-difference diagram: it needs at "
                            "least two problems and two optimizers that ran on all of them",
                            []).append(label)
        else:
            for n in res.notes:
                said.setdefault(n, []).append(label)
        vb[label] = stats.versus_best(cb, g, alpha=alpha)
    for text, where in said.items():
        notes.append(f"{'every budget' if len(where) == len(labels) else ', '.join(where)}: "
                     f"{text}")
    seconds["statistics"] = clock() - t0

    t0 = clock()
    tgt = profiles.targets(results)
    ecdf = profiles.ecdf(c, tgt)
    rt = profiles.runtimes(results, tau)
    profile = profiles.performance_profile(rt)
    seconds["profiles"] = clock() - t0

    oc = None
    if "val_regret" in all_cubes:
        oc = (all_cubes["val_regret"], all_cubes["test_regret"])

    t0 = clock()
    oh = overhead.overhead(results)
    seconds["overhead"] = clock() - t0
    return Analysis(results=results, band=band, cube=c, budgets=fracs, budget_labels=labels,
                    budget_cube=cb, curves=curves, normalized=normalized,
                    normalized_at=normalized_at, ranks=rank_frame, friedman=friedman,
                    versus_best=vb, targets=tgt, ecdf=ecdf, tau=tau, runtimes=rt,
                    profile=profile, overfit_cubes=oc, overhead=oh, notes=notes,
                    seconds=seconds)


def write_figures(a: Analysis, out: Path) -> dict[str, list[Path]]:
    """Draw and save every registered figure (``hpbench.analysis.registry``); returns the
    files per figure name."""
    return registry.draw_all(a, out)


def write_tables(a: Analysis, out: Path) -> dict[str, dict[str, str]]:
    """Write every table; returns, per table name, its Markdown, LaTeX and HTML texts."""
    r = a.results
    refs = r.problems["ref_kind"]
    written: dict[str, dict[str, str]] = {}
    tdir = out / "tables"
    for label in a.budget_labels:
        vb = a.versus_best[label]
        md = tables.regret_markdown(vb, r.problem_names, r.optimizers, refs, label)
        tex = tables.regret_latex(vb, r.problem_names, r.optimizers, refs, label,
                                  label=f"tab:regret-{style.slug(label)}")
        csv = vb.assign(budget=label, reference=vb["problem"].map(refs))
        name = f"regret_{style.slug(label)}"
        tables.write_all(tdir, name, markdown=md, latex=tex, csv=csv)
        written[name] = {"title": f"Regret at {label}", "markdown": md, "latex": tex,
                         "html": tables.regret_html(vb, r.problem_names, r.optimizers, refs,
                                                    label)}
    per_budget: dict[str, dict] = {}
    tests: dict[str, str] = {}
    for label in a.budget_labels:
        res = a.friedman.get(label)
        per_budget[label] = {"ranks": res.avg_ranks if res is not None else None,
                             "normalized": a.normalized_at.get(label)}
        if res is not None:
            name = "Friedman" if len(res.optimizers) > 2 else "Wilcoxon signed-rank"
            tests[label] = (f"{name} over {len(res.problems)} problems, statistic "
                            f"{res.statistic:.3g}, p = {res.p_value:.3g}")
    frame = tables.summary_frame(r.optimizers, per_budget)
    md = tables.summary_markdown(frame, tests)
    tex = tables.summary_latex(frame, tests)
    tables.write_all(tdir, "summary", markdown=md, latex=tex, csv=frame.reset_index())
    written["summary"] = {"title": "Summary per optimizer", "markdown": md, "latex": tex,
                          "html": _frame_html(frame, tests)}
    return written


def _frame_html(frame: pd.DataFrame, tests: dict[str, str]) -> str:
    cols = list(frame.columns)
    best = {c: frame[c].min(skipna=True) for c in cols}
    rows = ["<table><thead><tr><th>optimizer</th>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr></thead><tbody>"]
    for o, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            t = "n/a" if pd.isna(v) else ("∞" if np.isinf(v) else f"{v:.3g}")
            cells.append(f"<td><b>{t}</b></td>" if not pd.isna(v) and v == best[c]
                         else f"<td>{t}</td>")
        rows.append(f"<tr><td>{html.escape(str(o))}</td>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table>")
    items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in tests.items())
    return "\n".join(rows) + (f"<ul>{items}</ul>" if items else "")


def _environment(results: Results) -> tuple[dict[str, list[str]], list[str], list[str]]:
    versions: dict[str, set[str]] = {}
    revisions: set[str] = set()
    hosts: set[str] = set()
    for m in results.metas:
        for k, v in (m.get("versions") or {}).items():
            versions.setdefault(k, set()).add(str(v))
        if m.get("python"):
            versions.setdefault("python", set()).add(str(m["python"]))
        revisions.add(str(m.get("git_revision", "unknown")))
        hosts.add(str(m.get("host", "unknown")))
    return ({k: sorted(v) for k, v in sorted(versions.items())}, sorted(revisions),
            sorted(hosts))


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1, h2, h3 { font-weight: 600; } figure { margin: 1em 0; } img { max-width: 100%; }
figcaption { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child { text-align: left; } pre { background: #f6f6f6; padding: 1em; }
.caption { font-size: 0.85em; color: #555; } .grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { width: 48%; } .footer { font-size: 0.8em; color: #666; margin-top: 3em; }
"""


def _figure_html(out: Path, png: Path, caption: str) -> str:
    """A PNG linked to its PDF, with its caption."""
    e = html.escape
    rel = png.relative_to(out).as_posix()
    pdf = png.with_suffix(".pdf").relative_to(out).as_posix()
    return (f"<figure><a href='{e(pdf)}'><img src='{e(rel)}' alt='{e(png.stem)}'></a>"
            f"<figcaption>{e(caption)}</figcaption></figure>")


def _section_html(out: Path, sec: registry.Section, pngs: list[tuple[Path, str]]
                  ) -> list[str]:
    head = f"<h2>{html.escape(sec.title)}</h2>"
    parts = [_figure_html(out, png, caption) for png, caption in pngs]
    if sec.grid:
        return [head + "<div class='grid'>", *parts, "</div>"]
    return [head, *parts]


def _tables_html(tabs: dict[str, dict[str, str]]) -> list[str]:
    return [f"<h2>{html.escape(registry.TABLES.title)}</h2>",
            *(f"<h3>{html.escape(t['title'])}</h3>{t['html']}" for t in tabs.values())]


def _head_html(a: Analysis) -> list[str]:
    """The title, what the folder holds, and the notes."""
    r = a.results
    e = html.escape
    status = r.cells["status"].value_counts().to_dict()
    common = r.common_budget()
    budget = f"{common[0]:g} {common[1]}" if common else "differs by problem"
    body = [f"<h1>hpbench report: suite {e(r.suite)}</h1>",
            f"<p>fingerprint <code>{e(r.fingerprint)}</code> (from {e(r.fingerprint_source)});"
            f" {len(r.problem_names)} problems × {len(r.optimizers)} optimizers; {len(r.cells)} "
            f"cells ({', '.join(f'{v} {k}' for k, v in status.items())}); "
            f"{len(r.trials):,} trials; budget {e(budget)}; bands: {e(BANDS[a.band])}.</p>"]
    notes = r.notes + a.notes
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes)
                    + "</ul>")
    return body


def _appendix_html(r: Results) -> list[str]:
    """The suite definition, run.json, the environment and the footer."""
    e = html.escape
    versions, revisions, hosts = _environment(r)
    body = ["<h2>Suite definition</h2>",
            f"<pre>{e(r.suite_toml or '(no suite.toml in the results folder)')}</pre>"]
    if r.run_info:
        info = {k: v for k, v in r.run_info.items() if k not in ("versions",)}
        body.append(f"<details><summary>run.json</summary><pre>"
                    f"{e(json.dumps(info, indent=2, default=str))}</pre></details>")
    body.append("<h2>Environment</h2>")
    body.append(f"<p>git revision: {e(', '.join(revisions))}; host: {e(', '.join(hosts))}</p>")
    body.append("<table><thead><tr><th>package</th><th>version</th></tr></thead><tbody>"
                + "".join(f"<tr><td>{e(k)}</td><td>{e(', '.join(v))}</td></tr>"
                          for k, v in versions.items()) + "</tbody></table>")
    body.append(f"<p class='footer'>{e(style.footer_text(r.suite, r.fingerprint))} · "
                f"generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>")
    return body


def write_html(a: Analysis, out: Path, figs: dict[str, list[Path]],
               tabs: dict[str, dict[str, str]]) -> Path:
    """``report.html``: every figure (PNG, linked to its PDF) in its registered section,
    the tables, the suite definition, versions, git revision and notes."""
    body = _head_html(a)
    parts = [(sec.order, _section_html(out, sec, pngs))
             for sec, pngs in registry.sections(a, figs)]
    parts.append((registry.TABLES.order, _tables_html(tabs)))
    for _, lines in sorted(parts, key=lambda part: part[0]):
        body += lines
    body += _appendix_html(a.results)
    e = html.escape
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>hpbench report: {e(a.results.suite)}</title><style>{_CSS}</style>"
            "</head><body>" + "\n".join(body) + "</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def make_figures(results_dir: Path | str, out_dir: Path | str | None = None,
                 band: str = "iqr", budgets: Sequence[float] | None = None) -> Path:
    """Every figure (PDF + PNG), table (Markdown, LaTeX, CSV) and ``report.html`` of
    ``results_dir`` into ``out_dir`` (default ``<results_dir>/figures``); returns it.

    ``band``: ``"iqr"`` (median and interquartile range over repeats) or ``"ci"`` (mean and
    95% bootstrap CI). ``budgets``: where statistics and tables are computed — shares of the
    budget in (0, 1] or amounts in its unit; default a quarter, half and all of it.
    """
    out = Path(out_dir) if out_dir is not None else ResultsDir(results_dir).figures
    results = load(results_dir)
    a = analyse(results, band=band, budgets=budgets)
    out.mkdir(parents=True, exist_ok=True)
    figs = write_figures(a, out)
    tabs = write_tables(a, out)
    write_html(a, out, figs, tabs)
    return out

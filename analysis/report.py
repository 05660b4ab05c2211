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
* ``report.html`` with all of them, a guide to reading it, the suite definition, package
  versions, git revision and the notes a reader needs (references used, skipped figures,
  failed cells): one self-contained file (images embedded, style inline) to mail or attach
  to a review, or, ``linked_images``, one that refers to the PNGs beside it.

``<budget>`` is the budget point's label in a file name: ``50_evaluations`` where all
problems share a budget, else the share with its percent sign as ``pct``
(``100pct_of_the_budget``; ``tables.budget_slug``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpbench.analysis import (
    lineup,
    overfit,
    overhead,
    parallel,
    profiles,
    ranks,
    registry,
    regret,
    simulated,
    stats,
    style,
    tables,
)
from hpbench.analysis.curves import BANDS, Cube, budget_points, cube, cubes
from hpbench.analysis.load import Results, load
from hpbench.memory import large_tables
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
    #: optimizers drawn bold over a faded field (``hpbench.analysis.lineup``)
    highlight: tuple[str, ...] = ()


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
            labels.append(tables.share_label(f))
    return fracs, labels


@large_tables()  # hpbench.memory: how to hold millions of rows
def analyse(results: Results, *, band: str = "iqr", budgets: Sequence[float] | None = None,
            posthoc: str = "nemenyi", alpha: float = 0.05, tau: float = 1e-3,
            n_points: int = 200, problem_curves: bool = True,
            highlight: Sequence[str] = ()) -> Analysis:
    """Compute every number the figures and tables show."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {sorted(BANDS)}, got {band!r}")
    highlight = lineup.check_highlight(highlight, results.optimizers)
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
                    seconds=seconds, highlight=highlight)


def write_figures(a: Analysis, out: Path, workers: int | None = None
                  ) -> dict[str, list[Path]]:
    """Draw and save every registered figure (``hpbench.analysis.registry``), the
    per-problem ones in ``workers`` processes (``hpbench.analysis.parallel``; default: the
    cores, at most 4; 1: all in this one); returns the files per figure name."""
    return parallel.draw_all(a, out, workers)


def write_tables(a: Analysis, out: Path) -> dict[str, dict[str, str]]:
    """Write every table; returns, per table name, its Markdown, LaTeX and HTML texts."""
    r = a.results
    refs = r.regret_words()
    written: dict[str, dict[str, str]] = {}
    tdir = out / "tables"
    for frac, label in zip(a.budgets, a.budget_labels):
        vb = a.versus_best[label]
        md = tables.regret_markdown(vb, r.problem_names, r.optimizers, refs, label)
        tex = tables.regret_latex(vb, r.problem_names, r.optimizers, refs, label,
                                  label=f"tab:regret-{tables.budget_slug(label)}")
        csv = vb.assign(budget=label, reference=vb["problem"].map(r.problems["ref_kind"]),
                        metric=vb["problem"].map(r.problems["metric"]))
        name = f"regret_{tables.budget_slug(label)}"
        tables.write_all(tdir, name, markdown=md, latex=tex, csv=csv)
        written[name] = {"title": f"Regret at {_budget_words(frac, label)}", "markdown": md,
                         "latex": tex,
                         "html": tables.regret_html(vb, r.problem_names, r.optimizers, refs,
                                                    label, highlight=a.highlight)}
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
    words = {label: _budget_words(f, label) for f, label in zip(a.budgets, a.budget_labels)}
    written["summary"] = {"title": "Summary per optimizer", "markdown": md, "latex": tex,
                          "html": _frame_html(frame, tests, words, a.highlight)}
    # tables that belong in a figure section (key "section") are shown there
    written.update(simulated.write_tables(a, out))
    return written


def _budget_words(frac: float, label: str) -> str:
    """A budget for a heading: its label, and its share when the label is an amount
    (``"12 evaluations (100 % of the budget)"``)."""
    share = tables.share_label(frac)
    return label if label == share else f"{label} ({share})"


def _frame_html(frame: pd.DataFrame, tests: dict[str, str],
                words: dict[str, str] | None = None, highlight: Sequence[str] = ()) -> str:
    """The summary table of the report: a header row per budget over its columns, the rows
    sorted by mean rank at the largest budget (n/a last), the highlighted optimizers'
    rows marked, and what the columns mean."""
    e = html.escape
    cols = list(frame.columns)
    best = {c: frame[c].min(skipna=True) for c in cols}
    groups: dict[str, int] = {}
    for c in cols:  # "mean rank @ 12 evaluations": metric @ budget label
        label = c.partition(" @ ")[2]
        groups[label] = groups.get(label, 0) + 1
    ranked = [c for c in cols if c.startswith("mean rank @ ")]
    if ranked:
        frame = frame.sort_values(ranked[-1], na_position="last", kind="stable")
    words = words or {}
    rows = ["<table class='summary'><thead><tr><th rowspan='2'>optimizer</th>"
            + "".join(f"<th colspan='{n}' class='group'>{e(words.get(label, label))}</th>"
                      for label, n in groups.items())
            + "</tr><tr>" + "".join(f"<th>{e(c.partition(' @ ')[0])}</th>" for c in cols)
            + "</tr></thead><tbody>"]
    for o, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            t = "n/a" if pd.isna(v) else ("∞" if np.isinf(v) else f"{v:.3g}")
            cells.append(f"<td><b>{t}</b></td>" if not pd.isna(v) and v == best[c]
                         else f"<td>{t}</td>")
        mark = " class='hl'" if o in highlight else ""
        rows.append(f"<tr{mark}><td>{html.escape(str(o))}</td>" + "".join(cells) + "</tr>")
    rows.append("</tbody></table>")
    order = (f" Rows sorted by mean rank at {ranked[-1].partition(' @ ')[2]}."
             if ranked else "")
    caption = ("Mean rank: on each problem the optimizers' median regrets over repeats are "
               "ranked (1 = best), among the optimizers that ran on every problem (n/a: left "
               "out of the test); the mean is over problems. Normalized regret (bayesmark): "
               "random search's median = 1, optimum = 0; the median over problems, and "
               "bayesmark's normalized mean (regrets clipped at random search's median first "
               "regret). Bold: the best of a column." + order)
    items = "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in tests.items())
    return ("\n".join(rows) + f"\n<p class='caption'>{e(caption)}</p>"
            + (f"<ul>{items}</ul>" if items else ""))


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
th.group { text-align: center; border-bottom: 1px solid #999; }
th .ref { font-weight: normal; color: #666; }
tr.hl td, .table-wrap tr.hl td:first-child, th.hl { background: #fff3c4; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.table-wrap td:first-child, .table-wrap th:first-child { position: sticky; left: 0;
  background: #fff; }
.caption { font-size: 0.85em; color: #555; } .grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { width: 48%; } .grid figure.wide { width: 100%; }
.guide { font-size: 0.9em; } .guide li { margin: 0.2em 0; }
.footer { font-size: 0.8em; color: #666; margin-top: 3em; }
"""

#: a figure at least this much wider than high takes a whole row of a grid section (three
#: panels side by side at half the page width would shrink their text below reading size)
WIDE = 2.0


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk; (0, 0) when ``data`` is no PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return 0, 0
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _figure_html(out: Path, png: Path, caption: str, *, linked: bool = False) -> str:
    """A figure with its caption: the PNG embedded as a data URI (the report is one file to
    mail), or, ``linked``, a reference to the PNG on disk linked to its PDF. The caption
    names the PDF either way."""
    e = html.escape
    rel = png.relative_to(out).as_posix()
    pdf = png.with_suffix(".pdf").relative_to(out).as_posix()
    data = png.read_bytes()
    width, height = _png_size(data)
    wide = " class='wide'" if height and width >= WIDE * height else ""
    files = f" <code>{e(pdf)}</code>"
    if linked:
        img = f"<a href='{e(pdf)}'><img src='{e(rel)}' alt='{e(png.stem)}'></a>"
    else:
        img = (f"<img src='data:image/png;base64,{base64.b64encode(data).decode('ascii')}' "
               f"alt='{e(png.stem)}'>")
    return f"<figure{wide}>{img}<figcaption>{e(caption)} ·{files}</figcaption></figure>"


def _section_html(out: Path, sec: registry.Section, pngs: list[tuple[Path, str]], *,
                  linked: bool = False) -> list[str]:
    head = f"<h2>{html.escape(sec.title)}</h2>"
    parts = [_figure_html(out, png, caption, linked=linked) for png, caption in pngs]
    if sec.grid:
        return [head + "<div class='grid'>", *parts, "</div>"]
    return [head, *parts]


def _wrap_tables(page: str) -> str:
    """Every table in a horizontal scroll box: a table of 40 optimizers scrolls inside the
    page (its first column stays put) instead of widening it."""
    return re.sub(r"<table\b.*?</table>",
                  lambda m: ("<div class='table-wrap' style='overflow-x:auto'>"
                             f"{m.group(0)}</div>"), page, flags=re.S)


def _tables_html(tabs: dict[str, dict[str, str]]) -> list[str]:
    return [f"<h2>{html.escape(registry.TABLES.title)}</h2>",
            *(f"<h3>{html.escape(t['title'])}</h3>{t['html']}" for t in tabs.values()
              if "section" not in t)]


def _section_tables(tabs: dict[str, dict[str, str]], key: str) -> list[str]:
    """The tables that belong in figure section ``key``, under its figures."""
    return [f"<h3>{html.escape(t['title'])}</h3>{t['html']}" for t in tabs.values()
            if t.get("section") == key]


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
            f"{len(r.trials):,} trials; budget {e(budget)}; bands: {e(BANDS[a.band])}"
            + (f"; highlighted: {e(', '.join(a.highlight))}" if a.highlight else "")
            + ".</p>"]
    body += _guide_html(a)
    notes = r.notes + a.notes
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes)
                    + "</ul>")
    return body


_REFERENCES = {"optimum": "the exact optimum (“regret”)",
               "best known": "the shipped best-known value of the instance (“vs best known”)",
               "best seen": "the best value any optimizer reached on the instance "
                            "(“vs best seen”)"}


def _guide_html(a: Analysis) -> list[str]:
    """“How to read this report”: the definitions the figures and tables use, with this
    analysis's band, references, targets, τ and test."""
    r = a.results
    kinds = [k for k in _REFERENCES if k in set(r.problems["ref_kind"])]
    res = next((f for f in a.friedman.values() if f is not None), None)
    alpha = res.alpha if res is not None else 0.05
    posthoc = {"nemenyi": "Nemenyi", "wilcoxon": "Wilcoxon signed-rank, Holm"}.get(
        res.posthoc if res is not None else "nemenyi", "Nemenyi")
    items = [
        "<b>Cell, repeat</b>: a cell is one problem × optimizer × repeat, run under the budget."
        " At repeat k every optimizer meets the same problem instance (seed, noise, data "
        "split), so repeats pair up across optimizers.",
        "<b>Regret</b> (lower is better): the best noise-free value found so far at full "
        "fidelity, minus the reference: " + "; or ".join(_REFERENCES[k] for k in kinds)
        + ". The axis labels and the tables' reference column say which. A run without a "
        "result yet has no regret and counts as worse than any (∞). Log axes cannot show "
        "0: a regret of 0 is drawn at a floor below the smallest one shown, which the axis "
        "states.",
        "<b>Incumbent regret</b> (“incumbent regret” on an axis, “incumbent” in a table's "
        "reference column): the noise-free value of the config the optimizer would return "
        "(its recommendation, else its best observed value) minus the same reference. On a "
        "noisy problem the best noise-free value among the evaluated points is an oracle no "
        "user has, so incumbent regret is shown there (<code>hpbench figures --regret "
        "auto|oracle|incumbent</code>).",
        f"<b>Lines and bands</b>: {BANDS[a.band]} (<code>hpbench figures --band "
        "iqr|ci</code>); per problem against evaluations, cumulative cost and wall time. "
        "With many optimizers, bands may be shaded only for the best few and any "
        "highlighted ones. An optimizer is drawn alike in every figure: the hue says its "
        "family, shade and marker the member; random search is black and dashed.",
        "<b>Normalized regret</b> (bayesmark): per problem and budget, regret divided by "
        "random search's median regret (optimum = 0, random search = 1), then over "
        "problems: the median, and bayesmark's mean of regrets clipped at random search's "
        "first result.",
        "<b>Rank plot</b>: at each budget the optimizers are ranked by regret in every "
        "(problem, repeat) block (ties share a rank; no result yet ranks last), the rank "
        "scaled to [0, 1] within the block, (rank − 1) / (n − 1) for n optimizers (0 = "
        "best), so blocks of different sizes weigh alike, then averaged over blocks.",
        f"<b>ECDF</b> (COCO): the fraction of (problem, repeat, target) triples reached by "
        f"each budget; {a.targets.shape[1]} targets per problem, log-spaced from r0 to "
        "r0·10⁻⁸, r0 the median regret of a run's first result. Higher is better.",
        "<b>Performance profile</b> (Dolan-Moré): a (problem, repeat) instance is solved at "
        f"regret ≤ {a.tau:g}·r0; the curve at α is the share of instances an optimizer "
        "solved within α times the budget of the fastest one (at α = 1: how often it was "
        "fastest).",
        "<b>Critical-difference diagram</b>, per budget: each optimizer's median regret "
        "over repeats is ranked on every problem; the axis is the mean rank over problems "
        "(lower is better), the title the Friedman test; a bar joins optimizers not "
        f"significantly different at α = {alpha:g} ({posthoc}). Optimizers or problems are "
        "left out until every optimizer ran on every problem (the notes say which).",
        "<b>Tables</b>: regret as median [interquartile range] over repeats; bold: lowest "
        "median; underlined: not significantly worse than it (one-sided Mann-Whitney U, "
        "Holm-corrected per problem).",
        "<b>Fingerprint</b>: the line in each figure's top-right corner names the suite "
        f"and its fingerprint <code>{html.escape(r.fingerprint)}</code>, a hash of "
        + ("the suite as run (run.json)" if r.fingerprint_source == "run.json" else
           "the cells' problem instances and budgets")
        + ", as in this report's header: a figure cut out of the report still names the "
        "run that made it.",
    ]
    return ["<h2>How to read this report</h2><ul class='guide'>"
            + "".join(f"<li>{i}</li>" for i in items) + "</ul>"]


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
               tabs: dict[str, dict[str, str]], *, linked_images: bool = False) -> Path:
    """``report.html``: a guide to reading it, every figure in its registered section, the
    tables, the suite definition, versions, git revision and notes.

    One self-contained file: the PNGs embedded as data URIs, the style inline, no
    reference to another file, so it can be mailed or attached to a review (the PNG and
    PDF files stay beside it). ``linked_images``: refer to the PNGs on disk instead, each
    linked to its PDF (a smaller file that needs its folder)."""
    body = _head_html(a)
    parts = [(sec.order, _section_html(out, sec, pngs, linked=linked_images)
              + _section_tables(tabs, sec.key)) for sec, pngs in registry.sections(a, figs)]
    parts.append((registry.TABLES.order, _tables_html(tabs)))
    for _, lines in sorted(parts, key=lambda part: part[0]):
        body += lines
    body += _appendix_html(a.results)
    e = html.escape
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>hpbench report: {e(a.results.suite)}</title><style>{_CSS}</style>"
            "</head><body>" + _wrap_tables("\n".join(body)) + "</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def make_figures(results_dir: Path | str, out_dir: Path | str | None = None,
                 band: str = "iqr", budgets: Sequence[float] | None = None, *,
                 linked_images: bool = False, highlight: Sequence[str] = (),
                 regret: str = "auto", workers: int = 1) -> Path:
    """Every figure (PDF + PNG), table (Markdown, LaTeX, CSV) and ``report.html`` of
    ``results_dir`` into ``out_dir`` (default ``<results_dir>/figures``); returns it.

    ``band``: ``"iqr"`` (median and interquartile range over repeats) or ``"ci"`` (mean and
    95% bootstrap CI). ``budgets``: where statistics and tables are computed — shares of the
    budget in (0, 1] or amounts in its unit; default a quarter, half and all of it.
    ``linked_images``: ``report.html`` refers to the PNGs on disk instead of embedding them.
    ``highlight``: optimizers drawn bold over a faded field in every figure (an unknown name
    raises ``lineup.UnknownOptimizerError``). ``regret``: which regret every figure and
    table shows (``load.REGRET_METRICS``; ``auto``: incumbent regret on noisy problems).
    ``workers``: processes drawing the per-problem figures (``hpbench figures`` uses the
    cores, at most 4; a script passing more than 1 must guard its own code with
    ``if __name__ == "__main__":``, since spawned workers import it).
    """
    workers = parallel.check_workers(workers)
    out = Path(out_dir) if out_dir is not None else ResultsDir(results_dir).figures
    results = load(results_dir, regret=regret)
    enough = len(results.problem_names) >= parallel.MIN_PROBLEMS
    tabs: dict[str, dict[str, str]] = {}
    # the drawing workers start importing while this process analyses; it writes the
    # tables while they draw
    with parallel.worker_pool(workers if enough else 1) as pool:
        a = analyse(results, band=band, budgets=budgets, highlight=highlight)
        out.mkdir(parents=True, exist_ok=True)
        figs = parallel.draw_all(a, out, 1, pool=pool,
                                 meanwhile=lambda: tabs.update(write_tables(a, out)))
    write_html(a, out, figs, tabs, linked_images=linked_images)
    return out

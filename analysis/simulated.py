"""Parallel methods on simulated workers: regret against virtual wall time at K workers.

Cells run with ``--sim-workers K`` (docs/simulated-clock.md) are labelled
``<optimizer>@<K>w`` and carry the virtual clock in ``v_start`` / ``v_end``. For every
K > 1 in the results this section draws one figure, a panel per problem, of best-so-far
regret (median and band over repeats, as every per-problem figure) against virtual wall
time for every ``@Kw`` optimizer, and a table of each one's median regret at a quarter,
half and all of the virtual time random search on K workers needed to spend its budget,
with its median virtual makespan.

That is the comparison of Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht &
Talwalkar 2020 ("A System for Massively Parallel Hyperparameter Tuning", MLSys 2020): ASHA
against synchronous successive halving and Hyperband, and against random search, on k
workers and at equal wall time: the asynchronous method keeps every worker busy, the
synchronous ones idle at each rung's end, and evaluations alone cannot show it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import lineup, style, tables
from hpbench.analysis.curves import BANDS, step_lookup, summarize
from hpbench.analysis.load import Results
from hpbench.analysis.registry import add_section, figure
from hpbench.analysis.regret import draw_curves, final_scores

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis

SIMULATED = add_section("simulated", "Parallel methods on simulated workers", 45)

#: the methods Li et al. 2020 compare, drawn bold over the other ``@Kw`` optimizers
COMPARED = ("asha", "successive-halving", "hyperband", "random")
#: shares of random search's virtual time at which the table compares the methods
SHARES = (0.25, 0.5, 1.0)
CITATION = ("Li et al. 2020, \"A System for Massively Parallel Hyperparameter Tuning\", "
            "MLSys 2020")


def worker_counts(results: Results) -> list[int]:
    """The K > 1 of the cells run on K simulated workers, ascending (none: no section)."""
    cells = results.cells
    if "sim_workers" not in cells:
        return []
    return sorted({int(k) for k in cells["sim_workers"] if k > 1})


def _cells_at(results: Results, k: int) -> pd.DataFrame:
    cells = results.cells
    return cells[(cells["sim_workers"] == k) & (cells["n_rows"] > 0)]


def _virtual(results: Results, cells: pd.DataFrame) -> pd.DataFrame:
    """The trials of ``cells`` with their virtual end time (``x``, its running maximum per
    cell: rows are in completion order, so it is ``v_end`` itself) and regret (``inf``
    before the first incumbent)."""
    t = results.trials
    mine = t[t["cell"].isin(cells.index)]
    x = pd.Series(mine["v_end"].to_numpy(dtype=float)).groupby(
        mine["cell"].to_numpy(), sort=False).cummax().to_numpy()
    y = mine["regret"].to_numpy(dtype=float)
    return pd.DataFrame({"cell": mine["cell"].to_numpy(), "x": x,
                         "regret": np.where(np.isnan(y), np.inf, y)})


def regret_at(results: Results, cells: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Best-so-far regret of each of ``cells`` (rows) at each virtual time of ``times``
    (columns): the last trial completed by then; ``inf`` before any incumbent."""
    v = _virtual(results, cells)
    ids = cells.index.to_numpy()
    times = np.asarray(times, dtype=float)
    vals = step_lookup(v["cell"].to_numpy(), v["x"].to_numpy(), v["regret"].to_numpy(),
                       np.repeat(ids, len(times)), np.tile(times, len(ids)))
    return np.where(np.isnan(vals), np.inf, vals).reshape(len(ids), len(times))


def makespans(results: Results, cells: pd.DataFrame) -> pd.Series:
    """Each cell's virtual makespan: the end of its last trial."""
    t = results.trials
    mine = t[t["cell"].isin(cells.index)]
    return mine.groupby("cell")["v_end"].max().reindex(cells.index)


def problem_curves(results: Results, problem: str, k: int, n: int = 200) -> pd.DataFrame:
    """Best-so-far regret of every ``@Kw`` cell of ``problem`` on one grid of virtual time
    (log-spaced from the first completion to the last; every distinct completion time when
    there are at most ``n``): columns optimizer, repeat, g, x, regret."""
    cells = _cells_at(results, k)
    cells = cells[cells["problem"] == problem]
    if cells.empty:
        return pd.DataFrame(columns=["optimizer", "repeat", "g", "x", "regret"])
    v = _virtual(results, cells)
    ends = np.unique(v["x"].to_numpy()[np.isfinite(v["x"].to_numpy())])
    if len(ends) <= n:
        grid = ends
    else:
        grid = np.geomspace(max(ends[0], 1e-9), ends[-1], n)
    vals = regret_at(results, cells, grid)
    m = len(grid)
    return pd.DataFrame({
        "optimizer": np.repeat(cells["optimizer"].astype(str).to_numpy(), m),
        "repeat": np.repeat(cells["repeat"].to_numpy(), m),
        "g": np.tile(np.arange(m), len(cells)), "x": np.tile(grid, len(cells)),
        "regret": vals.ravel()})


def _groups(results: Results, k: int, names: Sequence[str]) -> dict[str, str]:
    """Each ``@Kw`` optimizer's group in the figure's legend and colours: random search
    with the baselines, the others by how they use the workers (the cells' ``sim``
    metadata, else the registered class)."""
    sync: dict[str, bool] = {}
    for m in results.metas:
        sim = m.get("sim") or {}
        if m.get("sim_workers") == k and "synchronous" in sim:
            sync[str(m["optimizer"])] = bool(sim["synchronous"])  # the label, asha@8w
    out = {}
    for name in names:
        base = name.split("@", 1)[0]
        if base == style.BASELINE:
            out[name] = "baselines"
            continue
        if name not in sync:
            from hpbench import registry

            try:
                sync[name] = bool(getattr(registry.get_entry("optimizer", base).factory,
                                          "synchronous", False))
            except (KeyError, ValueError, ImportError):  # a plugin not installed here
                sync[name] = False
        out[name] = "synchronous" if sync[name] else "asynchronous"
    return out


def plot_parallel(results: Results, k: int, *, kind: str = "iqr", n: int = 200,
                  cols: int = 3) -> tuple[object, pd.DataFrame]:
    """One figure for K = ``k`` simulated workers: a panel per problem of best-so-far regret
    (log scale; ``kind``: median and IQR, or mean and CI, over repeats) against virtual wall
    time, for every ``@Kw`` optimizer; ASHA, successive halving, Hyperband and random search
    drawn bold over the others. Returns the figure and the frame drawn (problem, optimizer,
    x, y, low, high)."""
    cells = _cells_at(results, k)
    problems = [p for p in results.problem_names if p in set(cells["problem"])]
    names = [o for o in results.optimizers if o in set(cells["optimizer"])]
    data = {p: summarize(problem_curves(results, p, k, n), kind) for p in problems}
    groups = _groups(results, k, names)
    compared = [f"{c}@{k}w" for c in COMPARED if f"{c}@{k}w" in names]
    everyone = pd.concat(data.values(), ignore_index=True)
    lu = lineup.lineup(names, names, highlight=compared if len(compared) < len(names) else (),
                       scores=final_scores(everyone), score="final median", fams=groups)
    rows, ncols = math.ceil(len(problems) / cols), min(cols, len(problems))
    # at least 6 inches of panels: the two-line title must not reach the legend beside them
    fig, grid = style.new_figure(max(3.6 * ncols, 6.0) + 1.8, 3.0 * rows + 0.4, nrows=rows,
                                 ncols=ncols)
    flat = list(np.atleast_1d(grid).ravel())
    drawn, first = [], None
    for ax, p in zip(flat, problems):
        d = data[p]
        floor = style.zero_floor(d[["centre", "low", "high"]].to_numpy(dtype=float))
        drawn.append(draw_curves(ax, d, lu, lu.names(), floor=floor).assign(problem=p))
        style.log_scale(ax.yaxis)
        style.log_scale(ax.xaxis)
        style.readable_log_ticks(ax.xaxis)
        style.mark_floor(ax, floor)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(p, fontsize=8)
        ax.set_ylabel(style.floor_note(floor) or results.ref_label(p), fontsize=7)
        ax.set_xlabel(f"virtual wall time (s), {k} simulated workers", fontsize=7)
        if first is None or d["optimizer"].nunique() > first[1]:
            first = (ax, d["optimizer"].nunique())
    for ax in flat[len(problems):]:
        ax.remove()
    repeats = int(cells.groupby(["problem", "optimizer"])["repeat"].nunique().max())
    fig.suptitle(f"Regret against virtual wall time on {k} simulated workers\n"
                 f"{BANDS[kind]} ({repeats} repeats)", fontsize=10, x=0.02, ha="left")
    if first is not None:
        lineup.add_legends(fig, lu, [[first[0]]])
    style.add_footer(fig, results.suite, results.fingerprint)
    frame = pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame(
        columns=["optimizer", "x", "y", "low", "high", "problem"])
    return fig, frame[["problem", "optimizer", "x", "y", "low", "high"]]


def equal_time_table(results: Results, k: int) -> pd.DataFrame:
    """Per problem and ``@Kw`` optimizer: the median over repeats of its regret at a
    quarter, half and all of T, the median virtual makespan of random search on K workers
    (the time it needed to spend its budget; NaN where it did not run), and its own median
    makespan. Columns problem, optimizer, T, regret@0.25T, regret@0.5T, regret@1T,
    makespan."""
    cells = _cells_at(results, k)
    spans = makespans(results, cells)
    rows = []
    base = f"{style.BASELINE}@{k}w"
    for p in [p for p in results.problem_names if p in set(cells["problem"])]:
        mine = cells[cells["problem"] == p]
        ref = mine[mine["optimizer"] == base]
        total = float(np.median(spans[ref.index])) if len(ref) else math.nan
        times = np.array([s * total for s in SHARES])
        for o in [o for o in results.optimizers if o in set(mine["optimizer"])]:
            part = mine[mine["optimizer"] == o]
            row = {"problem": p, "optimizer": o, "T": total}
            at = regret_at(results, part, times) if np.isfinite(total) else None
            for j, s in enumerate(SHARES):
                row[f"regret@{s:g}T"] = float(np.median(at[:, j])) if at is not None \
                    else math.nan
            row["makespan"] = float(np.median(spans[part.index]))
            rows.append(row)
    return pd.DataFrame(rows)


def caption_text(k: int) -> str:
    return (f"ASHA against synchronous successive halving and Hyperband, and against random "
            f"search, on {k} simulated workers at equal virtual wall time: the comparison of "
            f"{CITATION}. Virtual time is the simulated clock (docs/simulated-clock.md): each "
            f"evaluation occupies a worker for its duration; synchronous methods idle "
            f"workers at the end of each rung.")


def _table_texts(frame: pd.DataFrame, k: int) -> tuple[str, str, str]:
    """Markdown, LaTeX and HTML of ``equal_time_table``'s frame."""
    import html

    heads = ["problem", "optimizer", *(f"regret at {s:g} T" for s in SHARES),
             "median makespan (s)"]
    cols = [*(f"regret@{s:g}T" for s in SHARES), "makespan"]
    note = (f"T: median virtual time random search on {k} workers needed to spend its budget "
            f"(per problem). Median over repeats; ∞: no incumbent yet; n/a: random@{k}w not "
            f"run. {caption_text(k)}")
    body = [[str(r["problem"]), str(r["optimizer"]), *(tables.fmt(r[c]) for c in cols)]
            for _, r in frame.iterrows()]
    md = "\n".join(["| " + " | ".join(heads) + " |",
                    "|---|---|" + "|".join(["---:"] * len(cols)) + "|",
                    *("| " + " | ".join(b) + " |" for b in body)]) + f"\n\n{note}\n"
    tex = "\n".join([r"\begin{table}[t]", r"\centering", r"\scriptsize",
                     rf"\caption{{{tables.latex_escape(note)}}}",
                     rf"\label{{tab:parallel-{k}w}}", r"\begin{tabular}{ll" + "r" * len(cols)
                     + "}", r"\toprule", " & ".join(tables.latex_escape(h) for h in heads)
                     + r" \\", r"\midrule",
                     *(" & ".join(tables.latex_escape(c) for c in b) + r" \\" for b in body),
                     r"\bottomrule", r"\end{tabular}", r"\end{table}"]) + "\n"
    e = html.escape
    page = ["<table class='regret'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in heads)
            + "</tr></thead><tbody>",
            *("<tr>" + "".join(f"<td>{e(c)}</td>" for c in b) + "</tr>" for b in body),
            f"</tbody></table>\n<p class='caption'>{e(note)}</p>"]
    return md, tex, "\n".join(page)


def write_tables(a: Analysis, out: Path) -> dict[str, dict[str, str]]:
    """``tables/parallel_<K>w.{md,tex,csv}`` for every K > 1; per table its texts and the
    report section it belongs in (``section``)."""
    written = {}
    for k in worker_counts(a.results):
        frame = equal_time_table(a.results, k)
        md, tex, page = _table_texts(frame, k)
        tables.write_all(out / "tables", f"parallel_{k}w", markdown=md, latex=tex, csv=frame)
        written[f"parallel_{k}w"] = {
            "title": f"Regret at equal virtual wall time, {k} simulated workers",
            "markdown": md, "latex": tex, "html": page, "section": SIMULATED.key}
    return written


def _caption(a: Analysis, png: Path) -> str:
    k = png.stem.rsplit("_", 1)[-1].rstrip("w")
    return caption_text(int(k)) if k.isdigit() else caption_text(0)


@figure("parallel", section=SIMULATED.key, order=10, caption=_caption)
def parallel_figures(a: Analysis, out: Path) -> list[Path]:
    files: list[Path] = []
    for k in worker_counts(a.results):
        fig, _ = plot_parallel(a.results, k, kind=a.band)
        files += style.save(fig, out / f"parallel_{k}w", fingerprint=a.results.fingerprint)
    return files

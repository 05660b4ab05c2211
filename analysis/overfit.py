"""Validation versus test: how much of an optimizer's progress on the value it sees carries
over to data it never sees (the "overfitting to the validation set" picture of Lévesque et
al., "Bayesian Hyperparameter Optimization for Ensemble Learning", 2016, and Makarova et
al., "Automatic Termination for Hyperparameter Optimization", AutoML 2022).

For problems that record a ``test_value``: the incumbent is the trial with the best
*observed* value so far (what the optimizer would return); its validation regret is that
value minus the problem's regret reference, its test regret its ``test_value`` minus the best
test value any run reached on the same problem instance (no test optimum is known).

The two regrets are measured from different references, so they show each one's progress
(left panel) but cannot be compared point by point: the scatter of final incumbents (right
panel) plots the *values* themselves — the validation value against the test value of the
same configuration, one metric in one unit — where the diagonal means what it says: test as
good as validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import lineup, style
from hpbench.analysis.curves import Cube, quantiles
from hpbench.analysis.load import Results, slim_results
from hpbench.analysis.registry import PerProblem, figure
from hpbench.analysis.regret import _safe, budget_axis

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis


def problems_with_test(results: Results) -> list[str]:
    """Problems with at least one finite test value."""
    return [p for p in results.problem_names if bool(results.problems.at[p, "has_test"])]


def final_pairs(results: Results, problems: Sequence[str] | None = None) -> pd.DataFrame:
    """The last incumbent of each cell of a problem with test values (of ``problems`` only,
    when given): problem, optimizer, repeat, its validation and test value (``val_value``,
    ``test_value``) and regret (``val_regret``, ``test_regret``)."""
    cells = results.cells
    wanted = problems_with_test(results)
    if problems is not None:
        chosen = set(problems)
        wanted = [p for p in wanted if p in chosen]
    keep = cells[(cells["n_rows"] > 0) & cells["problem"].isin(wanted)]
    ends = np.cumsum(cells["n_rows"].to_numpy()) - 1
    last = ends[keep.index.to_numpy()]
    t = results.trials
    out = keep[["problem", "optimizer", "repeat"]].copy()
    for column, source in (("val_value", "inc_value"), ("test_value", "inc_test"),
                           ("val_regret", "val_regret"), ("test_regret", "test_regret")):
        out[column] = t[source].to_numpy()[last]
    return out.reset_index(drop=True)


def overfit_curves(val: Cube, test: Cube, problem: str) -> pd.DataFrame:
    """Median over repeats of validation and test regret per (optimizer, point)."""
    p = val.problems.index(problem)
    mv = quantiles(val.values[p], [0.5], axis=1)[0]  # (O, G)
    mt = quantiles(test.values[p], [0.5], axis=1)[0]
    rows = []
    for o, name in enumerate(val.optimizers):
        if np.all(np.isnan(mv[o])):
            continue
        rows.append(pd.DataFrame({"optimizer": name, "point": val.points,
                                  "val_regret": mv[o], "test_regret": mt[o]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["optimizer", "point", "val_regret", "test_regret"])


def plot_overfit(results: Results, problem: str, curves: pd.DataFrame, pairs: pd.DataFrame,
                 *, highlight: Sequence[str] = ()) -> tuple[object, dict[str, pd.DataFrame]]:
    """Left: median validation (solid) and test (dashed) regret against the budget. Right:
    the final incumbent's validation value against its test value, one point per repeat,
    with the diagonal (test = validation). Per family when there are many optimizers.
    Returns the figure and the frames drawn."""
    pts = pairs[pairs["problem"] == problem]
    last = curves.sort_values("point").groupby("optimizer", observed=True)["test_regret"].last()
    lu = lineup.lineup(results.optimizers, set(curves["optimizer"]) | set(pts["optimizer"]),
                       highlight=highlight, scores=last.to_dict(), score="final test regret")
    fig, grid = lineup.panel_axes(lu, 2, width=4.6, height=3.6)
    floor = style.zero_floor(curves[["val_regret", "test_regret"]].to_numpy(dtype=float))
    scale, label = budget_axis(results)
    drawn_curves, drawn_pts = {}, {}  # random search is drawn in every panel: once here
    for panel, (a1, a2) in zip(lu.panels, grid):
        for name in panel.names:
            drawn_curves[name] = _draw_curves(a1, curves[curves["optimizer"] == name], lu,
                                              name, scale, floor)
            drawn_pts[name] = _draw_final(a2, pts[pts["optimizer"] == name], lu, name)
        style.log_scale(a1.yaxis)
        style.mark_floor(a1, floor)
        a1.grid(True, alpha=0.3)
        a2.grid(True, alpha=0.3)
    curve_frames = [d for d in drawn_curves.values() if d is not None]
    pt_frames = [d for d in drawn_pts.values() if d is not None]
    both = pd.concat(pt_frames, ignore_index=True) if pt_frames else pd.DataFrame()
    _diagonal(grid, both)
    note = style.floor_note(floor)
    lineup.label_panels(
        lu, grid, [label, "validation value of the final incumbent\n(what the optimizer saw)"],
        ["regret of the incumbent" + (f"\n({note})" if note else ""), "test value"],
        [f"median over repeats: validation {results.ref_label(problem)} (solid),\ntest "
         "regret vs the best test value seen (dashed)",
         f"final incumbents, one point per repeat: the test value against the\nvalidation "
         f"value of the same configuration; Kendall τ = {_tau(pts):.2f}"])
    fig.suptitle(f"{problem}: validation versus test", fontsize=10)
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    empty = pd.DataFrame()
    return fig, {"curves": pd.concat(curve_frames, ignore_index=True) if curve_frames
                 else empty, "final": both if len(both) else empty}


def _draw_curves(ax, part: pd.DataFrame, lu: lineup.Lineup, name: str, scale: float,
                 floor: float | None) -> pd.DataFrame | None:
    """One optimizer's median validation (solid, labelled) and test (dashed) regret."""
    if part.empty:
        return None
    kw = lu.line_kw(name)
    x = part["point"].to_numpy() * scale
    yv, yt = (style.on_log_axis(part[c].to_numpy(), floor) for c in ("val_regret",
                                                                    "test_regret"))
    ax.plot(x, yv, markevery=max(1, len(x) // 8), **{**kw, "linestyle": "-"})
    ax.plot(x, yt, **{**kw, "linestyle": "--", "marker": None, "label": "_nolegend_"})
    return pd.DataFrame({"optimizer": name, "x": x, "val": yv, "test": yt})


def _draw_final(ax, mine: pd.DataFrame, lu: lineup.Lineup, name: str
                ) -> pd.DataFrame | None:
    """One optimizer's final incumbents: validation value against test value."""
    if mine.empty:
        return None
    kw = lu.line_kw(name)
    xv, yt = (mine[c].to_numpy(dtype=float) for c in ("val_value", "test_value"))
    ax.scatter(xv, yt, color=kw["color"], marker=kw["marker"], alpha=kw["alpha"],
               s=3 * kw["markersize"] ** 2, zorder=kw["zorder"], label=name)
    return pd.DataFrame({"optimizer": name, "x": xv, "y": yt})


def _tau(pts: pd.DataFrame) -> float:
    """Kendall's τ between the final validation and test values (NaN under three points)."""
    from scipy.stats import kendalltau

    ok = np.isfinite(pts["val_value"]) & np.isfinite(pts["test_value"])
    if ok.sum() <= 2:
        return np.nan
    return float(kendalltau(pts.loc[ok, "val_value"], pts.loc[ok, "test_value"]).statistic)


def _diagonal(grid, pts: pd.DataFrame) -> None:
    """The line test = validation on every scatter panel, over the values drawn; log axes
    when every value is positive and they span more than two decades."""
    v = pts[["x", "y"]].to_numpy(dtype=float).ravel() if len(pts) else np.array([])
    v = v[np.isfinite(v)]
    if not len(v):
        return
    lo, hi = float(v.min()), float(v.max())
    for row in grid:
        ax = row[1]
        ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=0.8, label="_nolegend_", zorder=0)
        ax.annotate("test = validation", (hi, hi), xytext=(-2, -2), textcoords="offset points",
                    ha="right", va="top", fontsize=6, color="0.4")
        if lo > 0 and hi / lo > 100:
            style.log_scale(ax.xaxis)
            style.log_scale(ax.yaxis)


def write_overfit_figures(results: Results, out: Path, val: Cube | None, test: Cube | None,
                          *, highlight: Sequence[str] = (), problems: Sequence[str] | None = None,
                          curves: dict[str, pd.DataFrame] | None = None,
                          pairs: pd.DataFrame | None = None) -> list[Path]:
    """Draw and save the figures of ``problems`` (default every problem with test values);
    ``curves`` and ``pairs``: their ``overfit_curves`` and ``final_pairs`` when known (a
    drawing worker of ``hpbench.analysis.parallel`` has neither the cubes nor the trials)."""
    pairs = final_pairs(results) if pairs is None else pairs
    paths = []
    for problem in problems_with_test(results) if problems is None else problems:
        data = curves[problem] if curves is not None else overfit_curves(val, test, problem)
        fig, _ = plot_overfit(results, problem, data, pairs, highlight=highlight)
        paths += style.save(fig, out / "overfit" / _safe(problem),
                            fingerprint=results.fingerprint, title=f"overfit {problem}")
    return paths


def _overfit_problems(a: Analysis) -> list[str]:
    return [] if a.overfit_cubes is None else problems_with_test(a.results)


def _overfit_job(a: Analysis, problems: list[str]) -> dict:
    """What a worker needs to draw the figures of ``problems``: their median curves and final
    incumbents, their cells, and no trials."""
    val, test = a.overfit_cubes
    return {"results": slim_results(a.results, problems), "highlight": a.highlight,
            "problems": problems, "pairs": final_pairs(a.results, problems),
            "curves": {p: overfit_curves(val, test, p) for p in problems}}


def _draw_overfit_job(job: dict, out: Path) -> list[Path]:
    return write_overfit_figures(job["results"], out, None, None, highlight=job["highlight"],
                                 problems=job["problems"], curves=job["curves"],
                                 pairs=job["pairs"])


@figure("overfit", section="overfit", order=10,
        caption=lambda a, png: f"{png.stem}: median validation and test regret against the "
                               "budget (each from its own reference); the final incumbents' "
                               "validation value against their test value",
        per_problem=PerProblem(_overfit_problems, _overfit_job, _draw_overfit_job))
def overfit_figures(a: Analysis, out: Path) -> list[Path]:
    """``overfit/<problem>`` for problems with test values; none without."""
    if a.overfit_cubes is None:
        return []
    return write_overfit_figures(a.results, out, *a.overfit_cubes, highlight=a.highlight)

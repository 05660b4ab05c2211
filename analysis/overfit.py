"""Validation versus test regret: how much of an optimizer's progress on the value it sees
carries over to data it never sees (the "overfitting to the validation set" picture of
Lévesque et al., "Bayesian Hyperparameter Optimization for Ensemble Learning", 2016, and
Makarova et al., "Automatic Termination for Hyperparameter Optimization", AutoML 2022).

For problems that record a ``test_value``: the incumbent is the trial with the best
*observed* value so far (what the optimizer would return); its validation regret is that
value minus the problem's regret reference, its test regret its ``test_value`` minus the best
test value any run reached on the same problem instance (no test optimum is known).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import style
from hpbench.analysis.curves import Cube, quantiles
from hpbench.analysis.load import FLOOR, Results
from hpbench.analysis.registry import figure
from hpbench.analysis.regret import _safe, budget_axis

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis


def problems_with_test(results: Results) -> list[str]:
    """Problems with at least one finite test value."""
    return [p for p in results.problem_names if bool(results.problems.at[p, "has_test"])]


def final_pairs(results: Results) -> pd.DataFrame:
    """The last incumbent of each cell of a problem with test values: problem, optimizer,
    repeat, val_regret, test_regret."""
    cells = results.cells
    keep = cells[(cells["n_rows"] > 0) & cells["problem"].isin(problems_with_test(results))]
    ends = np.cumsum(cells["n_rows"].to_numpy()) - 1
    last = ends[keep.index.to_numpy()]
    t = results.trials
    out = keep[["problem", "optimizer", "repeat"]].copy()
    out["val_regret"] = t["val_regret"].to_numpy()[last]
    out["test_regret"] = t["test_regret"].to_numpy()[last]
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


def plot_overfit(results: Results, problem: str, curves: pd.DataFrame, pairs: pd.DataFrame
                 ) -> tuple[object, dict[str, pd.DataFrame]]:
    """Left: median validation (solid) and test (dashed) regret against the budget. Right:
    final validation against final test regret, one point per repeat, with the diagonal.
    Returns the figure and the frames drawn."""
    from scipy.stats import kendalltau

    styles = style.styles(results.optimizers)
    fig, (a1, a2) = style.new_figure(10, 4.0, ncols=2)
    scale, label = budget_axis(results)
    drawn_curves, drawn_pts = [], []
    for name in results.optimizers:
        part = curves[curves["optimizer"] == name]
        if not part.empty:
            x = part["point"].to_numpy() * scale
            yv = _draw(part["val_regret"].to_numpy())
            yt = _draw(part["test_regret"].to_numpy())
            kw = styles[name].line_kw()
            a1.plot(x, yv, markevery=max(1, len(x) // 8), **{**kw, "linestyle": "-"})
            a1.plot(x, yt, **{**kw, "linestyle": "--", "marker": None, "label": None})
            drawn_curves.append(pd.DataFrame({"optimizer": name, "x": x, "val": yv,
                                              "test": yt}))
        pts = pairs[(pairs["problem"] == problem) & (pairs["optimizer"] == name)]
        if not pts.empty:
            xv = _draw(pts["val_regret"].to_numpy())
            yt = _draw(pts["test_regret"].to_numpy())
            st = styles[name]
            a2.scatter(xv, yt, color=st.color, marker=st.marker, s=18, label=name)
            drawn_pts.append(pd.DataFrame({"optimizer": name, "x": xv, "y": yt}))
    for ax in (a1, a2):
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    a1.set_xlabel(label)
    a1.set_ylabel("regret of the incumbent")
    a1.set_title("median over repeats: validation (solid), test (dashed)", fontsize=9)
    a2.set_xscale("log")
    a2.set_xlabel(f"final validation {results.ref_label(problem)}")
    a2.set_ylabel("final test regret vs best seen")
    sub = pairs[pairs["problem"] == problem]
    ok = np.isfinite(sub["val_regret"]) & np.isfinite(sub["test_regret"])
    tau = kendalltau(sub.loc[ok, "val_regret"], sub.loc[ok, "test_regret"]).statistic \
        if ok.sum() > 2 else np.nan
    a2.set_title(f"one point per repeat; Kendall τ = {tau:.2f}", fontsize=9)
    if drawn_pts:
        both = pd.concat(drawn_pts)
        lim = [np.nanmin(both[["x", "y"]].to_numpy()), np.nanmax(both[["x", "y"]].to_numpy())]
        if np.all(np.isfinite(lim)):
            a2.plot(lim, lim, color="0.5", linewidth=0.8, label=None)
    fig.suptitle(f"{problem}: validation versus test regret", fontsize=10)
    style.legend_below(fig, a1, ncols=min(6, len(results.optimizers)))
    style.add_footer(fig, results.suite, results.fingerprint)
    empty = pd.DataFrame()
    return fig, {"curves": pd.concat(drawn_curves, ignore_index=True) if drawn_curves
                 else empty,
                 "final": pd.concat(drawn_pts, ignore_index=True) if drawn_pts else empty}


def _draw(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v), np.maximum(v, FLOOR), np.nan)


def write_overfit_figures(results: Results, out: Path, val: Cube, test: Cube) -> list[Path]:
    pairs = final_pairs(results)
    paths = []
    for problem in problems_with_test(results):
        fig, _ = plot_overfit(results, problem, overfit_curves(val, test, problem), pairs)
        paths += style.save(fig, out / "overfit" / _safe(problem),
                            fingerprint=results.fingerprint, title=f"overfit {problem}")
    return paths


@figure("overfit", section="overfit", order=10)
def overfit_figures(a: Analysis, out: Path) -> list[Path]:
    """``overfit/<problem>`` for problems with test values; none without."""
    if a.overfit_cubes is None:
        return []
    return write_overfit_figures(a.results, out, *a.overfit_cubes)

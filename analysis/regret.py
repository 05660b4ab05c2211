"""Regret curves per problem (against evaluations, cost and wall time) and the normalized
regret aggregated over problems.

Normalized regret follows bayesmark (Turner et al., "Bayesian Optimization is Superior to
Random Search for Machine Learning Hyperparameter Tuning", PMLR 133, 2021; bayesmark docs,
"How scoring works"), where the optimum scores 0 and random search 1:

* median: per problem and budget, the median over repeats of the regret divided by random
  search's median regret at the same budget (``norm-med-perf``; a median of 0 scores 0, two
  exact zeros give 1, not 0/0); across problems, the median of these with its
  interquartile range over problems (bayesmark's median of medians);
* mean: per problem, the mean over repeats of the regret clipped at c_p — random search's
  median regret after its first evaluation, bayesmark's ``clip`` — divided by c_p (so a run
  that found nothing, or diverged, counts as 1 instead of making the mean infinite); the mean
  over problems of that, divided by the same quantity for random search (bayesmark's
  ``normed mean``), with a 95% bootstrap CI over problems (the baseline held fixed, as
  bayesmark does). This one stays defined when random search's median regret reaches 0 on a
  problem, where the per-problem ratio of the median version is unbounded (the median version
  leaves that problem out at that point).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import lineup, style
from hpbench.analysis.curves import (
    BANDS,
    Cube,
    all_problem_curves,
    band,
    problem_curves,
    quantiles,
    summarize,
)
from hpbench.analysis.load import FLOOR, Results, slim_results
from hpbench.analysis.registry import PerProblem, figure

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis

AXES = {
    "evaluations": "evaluations",
    "cost": "cumulative cost",
    "wall": "wall time (s)",
}


def problem_summary(results: Results, problem: str, axis: str = "evaluations",
                    kind: str = "iqr", n: int = 200) -> pd.DataFrame:
    """The curves of one panel: per optimizer and x, centre and band over repeats."""
    return summarize(problem_curves(results, problem, axis, n), kind)


def all_summaries(results: Results, axes: tuple[str, ...] = ("evaluations", "cost", "wall"),
                  kind: str = "iqr", n: int = 200) -> dict[str, dict[str, pd.DataFrame]]:
    """``problem_summary`` of every problem and axis, computed one axis at a time for all
    problems at once: {problem: {axis: frame}}."""
    out: dict[str, dict[str, pd.DataFrame]] = {p: {} for p in results.problem_names}
    for axis in axes:
        s = summarize(all_problem_curves(results, axis, n), kind, by=("problem", "optimizer"))
        for problem, part in s.groupby("problem", sort=False):
            out[problem][axis] = part.drop(columns="problem").reset_index(drop=True)
    return out


#: curves longer than this are drawn through their corners only (``step_corners``)
THIN_ABOVE = 64


def step_corners(*columns: np.ndarray) -> np.ndarray:
    """Indices of the points a step function (``steps-post``) through ``columns`` needs:
    every point whose values differ from the previous or the next point's (NaN equal to
    NaN), and the first and last. The points left out continue a flat step: drawing
    without them draws the same steps, bands (``where`` runs included) and gaps."""
    v = np.column_stack(columns)
    same = np.all((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])), axis=1)
    keep = np.ones(len(v), dtype=bool)
    keep[1:-1] = ~(same[:-1] & same[1:])
    return np.flatnonzero(keep)


def draw_curves(ax, data: pd.DataFrame, lu: lineup.Lineup, names: Sequence[str], *,
                floor: float | None = None, steps: bool = True) -> pd.DataFrame:
    """Draw the centre lines of ``names`` from ``data`` (a ``summarize`` frame) on ``ax``,
    with the bands the lineup gives them, as step functions (best-so-far curves change only
    at the points); 0 is drawn at ``floor``. Returns what was drawn (NaN where hidden)."""
    drawn = []
    for name in names:
        part = data[data["optimizer"] == name]
        if part.empty:
            continue
        x = part["x"].to_numpy(dtype=float)
        y, lo, hi = (style.on_log_axis(part[c].to_numpy(), floor)
                     for c in ("centre", "low", "high"))
        every = max(1, len(x) // 8)
        at = slice(None)
        marks: int | list[int] = every
        if steps and len(x) > THIN_ABOVE:
            # the same steps through fewer points: a long curve keeps only its corners
            # (and the points its markers sit on), so it is laid out and rendered faster
            at = np.union1d(step_corners(y, lo, hi), np.arange(0, len(x), every))
            marks = np.searchsorted(at, np.arange(0, len(x), every)).tolist()
        ax.plot(x[at], y[at], markevery=marks,
                drawstyle="steps-post" if steps else "default", **lu.line_kw(name))
        # the band is drawn where both ends exist (an infinite upper quartile means a
        # quarter of the repeats have found nothing yet; the line still shows the centre)
        ok = np.isfinite(lo) & np.isfinite(hi)
        band = lu.band_kw(name)
        if band is not None and ok.any():
            ax.fill_between(x[at], np.where(ok, lo, 1.0)[at], np.where(ok, hi, 1.0)[at],
                            where=ok[at], step="post" if steps else None, **band)
        drawn.append(pd.DataFrame({"optimizer": name, "x": x, "y": y, "low": lo, "high": hi}))
    return pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame(
        columns=["optimizer", "x", "y", "low", "high"])


def cost_is_evaluations(results: Results, problem: str) -> bool:
    """Whether every trial of ``problem`` has spent as much cost as evaluations (no
    fidelity, unit cost): then a cost panel would repeat the evaluations panel."""
    t = results.trials
    mine = (t["problem"] == problem).to_numpy()
    evals = t["evals"].to_numpy(dtype=float)[mine]
    cost = t["cum_cost"].to_numpy(dtype=float)[mine]
    return bool(len(evals)) and bool(np.allclose(evals, cost, rtol=1e-9, atol=1e-12))


def problem_axes(results: Results, problem: str) -> tuple[str, ...]:
    """The x axes of a problem's figure: evaluations, cumulative cost (unless it equals
    evaluations) and wall time."""
    if cost_is_evaluations(results, problem):
        return ("evaluations", "wall")
    return ("evaluations", "cost", "wall")


def final_scores(data: pd.DataFrame, column: str = "centre") -> dict[str, float]:
    """Each optimizer's ``column`` at its last x: the score that picks the bands drawn."""
    last = data.sort_values("x").groupby("optimizer", observed=True)[column].last()
    return {str(k): float(v) for k, v in last.items()}


def _floors(frames: dict[str, pd.DataFrame], names: Sequence[str]) -> dict[str, float | None]:
    """Where each panel kind draws 0: from every value its panels show."""
    out = {}
    for key, d in frames.items():
        d = d[d["optimizer"].isin(list(names))]
        out[key] = style.zero_floor(d[["centre", "low", "high"]].to_numpy(dtype=float))
    return out


def _y_label(base: str, floor: float | None, what: str = "regret") -> str:
    note = style.floor_note(floor, what)
    return f"{base}\n({note})" if note else base


def plot_problem(results: Results, problem: str, *, kind: str = "iqr",
                 axes: tuple[str, ...] | None = None, n: int = 200,
                 data: dict[str, pd.DataFrame] | None = None, highlight: Sequence[str] = ()
                 ) -> tuple[object, dict[str, pd.DataFrame]]:
    """One figure for ``problem``: best-so-far regret (log scale) against each of ``axes``
    (default ``problem_axes``), from the same trial log (``data``: precomputed
    ``problem_summary`` frames per axis), in the panels of its lineup. Returns the figure
    and, per axis, the frame it drew."""
    axes = axes or problem_axes(results, problem)
    frames = {axis: data[axis] if data and axis in data else
              problem_summary(results, problem, axis, kind, n) for axis in axes}
    first = frames[axes[0]]
    lu = lineup.lineup(results.optimizers, set(first["optimizer"].astype(str)),
                       highlight=highlight, scores=final_scores(first),
                       score="final " + ("median" if kind == "iqr" else "mean"))
    fig, grid = lineup.panel_axes(lu, len(axes), width=4.0, height=3.4)
    floors = _floors(frames, lu.names())
    parts: dict[str, list[pd.DataFrame]] = {axis: [] for axis in axes}
    for panel, row in zip(lu.panels, grid):
        for ax, axis in zip(row, axes):
            parts[axis].append(draw_curves(ax, frames[axis], lu, panel.names,
                                           floor=floors[axis]))
            style.log_scale(ax.yaxis)
            if axis == "wall":
                style.log_scale(ax.xaxis)
            ax.grid(True, which="major", alpha=0.3)
            style.mark_floor(ax, floors[axis])
    for row in grid:
        for ax, axis in zip(row, axes):
            if axis == "wall":
                style.readable_log_ticks(ax.xaxis)
    # random search is drawn in every panel: once in what is returned
    drawn = {axis: pd.concat(p, ignore_index=True).drop_duplicates(["optimizer", "x"])
             .reset_index(drop=True) for axis, p in parts.items()}
    lineup.label_panels(lu, grid, [_x_label(results, problem, a, axes) for a in axes],
                        [_y_label(results.ref_label(problem), floors[a]) for a in axes])
    repeats = int(results.cells[results.cells["problem"] == problem]
                  .groupby("optimizer")["repeat"].nunique().max())
    note = lu.band_note()
    fig.suptitle(f"{problem}: {BANDS[kind]} ({repeats} repeats)"
                 + (f"; {note}" if note else ""), fontsize=10)
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    return fig, drawn


def _x_label(results: Results, problem: str, axis: str, axes: Sequence[str] = ()) -> str:
    if axis == "evaluations":
        same = "cost" not in axes and bool(axes)
        unit = results.problems.at[problem, "budget_unit"]
        if unit != "evaluations":
            label = "evaluations (count)"
        elif np.isfinite(results.problems.at[problem, "fidelity_high"]):
            label = "full-fidelity-equivalent evaluations"
        else:
            label = "evaluations"
        return label + (" (= cumulative cost)" if same else "")
    if axis == "wall":
        return results.wall_label(problem)
    return AXES[axis]


# ---------------------------------------------------------------------------------------
# normalized regret


def normalized(c: Cube, baseline: str = style.BASELINE) -> np.ndarray:
    """Per (problem, optimizer, point) median-over-repeats regret divided by the baseline's
    median regret at the same point: 0 where the optimizer's median regret is 0 (≤ FLOOR)
    and the baseline's is not, 1 where both are.

    NaN where the baseline has no median yet (fewer than half its repeats found anything)
    or the pair was not run; ``inf`` where the optimizer's median is not defined yet. NaN too
    where the baseline's median regret has reached the reference (≤ FLOOR) and the
    optimizer's has not: the ratio is unbounded there (it read 1e11 on the default suite's
    torch problem, which random search solved to its best-seen value), so that problem drops
    out of the median over problems at that point; the bayesmark mean stays defined.
    """
    if baseline not in c.optimizers:
        raise KeyError(f"normalized regret needs the {baseline!r} optimizer in the results")
    med = quantiles(c.values, [0.5], axis=2)[0]  # (P, O, G)
    base = med[:, c.optimizers.index(baseline), :]  # (P, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.maximum(med, FLOOR) / np.maximum(base, FLOOR)[:, None, :]
    # a median at the reference scores 0 (the optimum), not FLOOR over the baseline's: a
    # log axis then draws it where it says, not at 1e-12
    at_ref = (base <= FLOOR)[:, None, :]
    out = np.where(med <= FLOOR, np.where(at_ref, 1.0, 0.0), out)
    out = np.where(np.isfinite(base)[:, None, :], out, np.nan)
    unbounded = (base <= FLOOR)[:, None, :] & (med > FLOOR)
    return np.where(np.isnan(med) | unbounded, np.nan, out)


def clip_levels(c: Cube, baseline: str = style.BASELINE) -> np.ndarray:
    """c_p per problem: the baseline's median regret at the first budget point (bayesmark's
    ``clip``); where that is not positive and finite, the largest finite regret any cell of
    the problem had there, else 1."""
    b = c.optimizers.index(baseline)
    first = quantiles(c.values[:, b, :, 0], [0.5], axis=1)[0]  # (P,)
    v = c.values[:, :, :, 0].reshape(len(c.problems), -1)
    fallback = np.max(np.where(np.isfinite(v), v, -np.inf), axis=1)
    fallback = np.where(np.isfinite(fallback) & (fallback > 0), fallback, 1.0)
    return np.where(np.isfinite(first) & (first > 0), first, fallback)


def normalized_mean(c: Cube, baseline: str = style.BASELINE) -> np.ndarray:
    """Per (problem, optimizer, point): mean over repeats of min(regret, c_p) / c_p (NaN
    where the pair did not run, and on problems the baseline did not run on)."""
    clip = clip_levels(c, baseline)[:, None, None, None]
    v = np.where(np.isnan(c.values), np.nan, np.minimum(c.values, clip) / clip)
    # only problems the baseline ran on, so that its grand mean covers the same problems
    ran = ~np.all(np.isnan(c.values[:, c.optimizers.index(baseline)]), axis=(1, 2))
    v[~ran] = np.nan
    n = np.sum(~np.isnan(v), axis=2)
    with np.errstate(invalid="ignore"):
        return np.nansum(v, axis=2) / np.where(n > 0, n, np.nan)


def normalized_summary(c: Cube, baseline: str = style.BASELINE, *, seed: int = 0
                       ) -> pd.DataFrame:
    """Normalized regret aggregated over problems, one row per (optimizer, point): the
    median over problems of the per-problem normalized median with its interquartile range
    (``median``, ``q25``, ``q75``), and bayesmark's normed mean with a 95% bootstrap CI over
    problems (``mean``, ``ci_low``, ``ci_high``); ``n_problems`` where the optimizer ran."""
    norm = normalized(c, baseline)  # (P, O, G)
    per = np.moveaxis(norm, 0, -1)  # (O, G, P)
    q = quantiles(per, [0.5, 0.25, 0.75])
    nm = np.moveaxis(normalized_mean(c, baseline), 0, -1)  # (O, G, P)
    # the baseline's grand mean over the problems it ran on, held fixed
    b = c.optimizers.index(baseline)
    nb = np.sum(~np.isnan(nm[b]), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        base = np.nansum(nm[b], axis=-1) / nb  # (G,)
    base = np.where(base > 0, base, np.nan)
    mean, lo, hi = band(nm, "ci", rng=np.random.default_rng(seed))
    mean, lo, hi = (v / base[None, :] for v in (mean, lo, hi))
    n = np.sum(~np.isnan(per), axis=-1)
    o_idx, g_idx = np.meshgrid(np.arange(len(c.optimizers)), np.arange(len(c.points)),
                               indexing="ij")
    frame = pd.DataFrame({
        "optimizer": np.asarray(c.optimizers)[o_idx.ravel()],
        "point": c.points[g_idx.ravel()],
        "median": q[0].ravel(), "q25": q[1].ravel(), "q75": q[2].ravel(),
        "mean": mean.ravel(), "ci_low": lo.ravel(), "ci_high": hi.ravel(),
        "n_problems": n.ravel()})
    return frame[frame["n_problems"] > 0].reset_index(drop=True)


def plot_normalized(results: Results, summary: pd.DataFrame, *,
                    highlight: Sequence[str] = ()) -> tuple[object, pd.DataFrame]:
    """Two panels: median over problems (IQR band) and mean over problems (95% bootstrap CI)
    of the normalized regret against the budget (per family when there are many
    optimizers). Returns the figure and the frame drawn."""
    x_scale, x_label = budget_axis(results)
    kinds = {"median": ("q25", "q75", "median over problems (IQR band)"),
             "mean": ("ci_low", "ci_high", "bayesmark normed mean (95% bootstrap CI)")}
    frames = {centre: summary.rename(columns={centre: "centre", lo: "low", hi: "high"})
              .assign(x=summary["point"] * x_scale)[["optimizer", "x", "centre", "low", "high"]]
              for centre, (lo, hi, _) in kinds.items()}
    lu = lineup.lineup(results.optimizers, set(summary["optimizer"]), highlight=highlight,
                       scores=final_scores(frames["median"]), score="final median")
    fig, grid = lineup.panel_axes(lu, 2, width=4.6, height=3.6)
    floors = _floors(frames, lu.names())
    drawn = []
    for panel, row in zip(lu.panels, grid):
        for ax, centre in zip(row, kinds):
            d = draw_curves(ax, frames[centre], lu, panel.names, floor=floors[centre])
            drawn.append(d.assign(panel=centre))
            ax.axhline(1.0, color="0.5", linewidth=0.8)
            style.log_scale(ax.yaxis)
            ax.grid(True, which="major", alpha=0.3)
            style.mark_floor(ax, floors[centre])
    label = f"normalized regret\n({style.BASELINE} search = 1, optimum = 0)"
    which = results.metric_note()  # incumbent regret on (some) problems: said on the axis
    label += f"\nof {which}" if which else ""
    lineup.label_panels(lu, grid, [x_label] * 2,
                        [_y_label(label, floors[c], "normalized regret") for c in kinds],
                        [title for _, _, title in kinds.values()])
    note = lu.band_note()
    fig.suptitle("normalized regret" + (f"; {note}" if note else ""))
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    out = pd.concat(drawn, ignore_index=True)
    return fig, out.drop_duplicates(["optimizer", "x", "panel"]).reset_index(drop=True)


def budget_axis(results: Results) -> tuple[float, str]:
    """(scale, label) turning a budget share into the x axis of aggregate figures: the
    common budget in its unit when all problems share one, else the share itself."""
    common = results.common_budget()
    if common is None:
        return 1.0, "share of the budget"
    amount, unit = common
    label = {"evaluations": "evaluations", "cost": "cost", "seconds": "seconds"}.get(unit, unit)
    if unit == "evaluations" and np.isfinite(results.problems["fidelity_high"]).any():
        label = "full-fidelity-equivalent evaluations"
    return float(amount), label


def write_problem_figures(results: Results, out: Path, kind: str = "iqr",
                          data: dict[str, dict[str, pd.DataFrame]] | None = None, *,
                          highlight: Sequence[str] = (), problems: Sequence[str] | None = None,
                          axes: dict[str, tuple[str, ...]] | None = None) -> list[Path]:
    """Draw and save the figures of ``problems`` (default every problem); ``axes``: each
    problem's panels when known (``problem_axes`` reads the trials, which a drawing worker
    of ``hpbench.analysis.parallel`` does not have)."""
    paths = []
    for problem in results.problem_names if problems is None else problems:
        fig, _ = plot_problem(results, problem, kind=kind, data=(data or {}).get(problem),
                              highlight=highlight, axes=(axes or {}).get(problem))
        paths += style.save(fig, out / "regret" / _safe(problem),
                            fingerprint=results.fingerprint, title=f"regret {problem}")
    return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _regret_job(a: Analysis, problems: list[str]) -> dict:
    """What a worker needs to draw the regret figures of ``problems``: their curves (already
    summarized over repeats), panels and cells, and no trials."""
    return {"results": slim_results(a.results, problems), "kind": a.band,
            "data": {p: a.curves.get(p) for p in problems if p in a.curves},
            "highlight": a.highlight, "problems": problems,
            "axes": {p: problem_axes(a.results, p) for p in problems}}


def _draw_regret_job(job: dict, out: Path) -> list[Path]:
    return write_problem_figures(job["results"], out, job["kind"], job["data"],
                                 highlight=job["highlight"], problems=job["problems"],
                                 axes=job["axes"])


@figure("regret", section="problems", order=10,
        per_problem=PerProblem(lambda a: list(a.results.problem_names), _regret_job,
                               _draw_regret_job))
def regret_figures(a: Analysis, out: Path) -> list[Path]:
    """``regret/<problem>``: one figure per problem (evaluations, cost, wall time)."""
    return write_problem_figures(a.results, out, a.band, a.curves, highlight=a.highlight)


@figure("normalized_regret", section="aggregates", order=10,
        caption="normalized regret (bayesmark): optimum = 0, random search's median = 1")
def normalized_figure(a: Analysis, out: Path) -> list[Path]:
    """``normalized_regret``; none without random search in the results."""
    if a.normalized is None:
        return []
    fig, _ = plot_normalized(a.results, a.normalized, highlight=a.highlight)
    return style.save(fig, out / "normalized_regret", fingerprint=a.results.fingerprint)

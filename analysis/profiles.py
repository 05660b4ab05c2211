"""Runtime profiles: the COCO-style ECDF of runtimes to reach regret targets, and
Dolan-Moré performance profiles.

ECDF (Hansen et al., "COCO: a platform for comparing continuous optimizers in a black-box
setting", Optimization Methods and Software 36(1), 2021; and "Anytime performance assessment
in blackbox optimization benchmarking", IEEE TEVC 26(6), 2022): for each problem a set of
regret targets, log-spaced — five per decade, as COCO's 51 targets from 10^2 to 10^-8 — but
relative to the problem's scale r0 (the median regret of a cell's first incumbent, what one
random evaluation achieves), since HPO objectives are not normalized the way COCO's are:
targets r0·10^0, r0·10^-0.2, …, r0·10^-8. The curve of an optimizer at budget b is the
fraction of (problem, repeat, target) triples whose target it had reached by b.

Performance profiles (Dolan & Moré, "Benchmarking optimization software with performance
profiles", Math. Programming 91:201–213, 2002): an instance is a (problem, repeat) pair; the
performance measure is the budget an optimizer needed to pass the convergence test of Moré &
Wild ("Benchmarking derivative-free optimization algorithms", SIAM J. Optim. 20(1), 2009),
regret ≤ τ·r0 with τ = 10^-3 by default (∞ when never passed); ρ_s(α) is the fraction of
instances on which optimizer s needed at most α times the budget of the fastest optimizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import lineup, style
from hpbench.analysis.curves import Cube
from hpbench.analysis.load import Results
from hpbench.analysis.registry import figure
from hpbench.analysis.regret import budget_axis

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis


def target_scale(results: Results) -> pd.Series:
    """r0 per problem: the median regret of a cell's first incumbent (1 where that is not
    positive and finite, so targets stay defined)."""
    r0 = results.problems["r0"].astype(float)
    return r0.where(np.isfinite(r0) & (r0 > 0), 1.0)


def targets(results: Results, *, per_decade: int = 5, decades: int = 8) -> pd.DataFrame:
    """Regret targets per problem (rows) — r0·10^(-k/per_decade), k = 0 … per_decade·decades
    — as a frame problems × targets, easiest last."""
    k = np.arange(per_decade * decades + 1)
    r0 = target_scale(results)
    return pd.DataFrame(r0.to_numpy()[:, None] * 10.0 ** (-k / per_decade)[None, :],
                        index=r0.index)


def ecdf(c: Cube, tgt: pd.DataFrame) -> pd.DataFrame:
    """Fraction of (problem, repeat, target) triples reached, per (optimizer, point).

    A triple counts in the denominator when the cell exists; it is reached at point g when
    the cell's regret there is at most the target (regret never rises, so this is the ECDF of
    runtimes evaluated at the grid)."""
    o_n, g_n = len(c.optimizers), len(c.points)
    reached = np.zeros((o_n, g_n))
    total = np.zeros((o_n, g_n))
    for p, problem in enumerate(c.problems):
        t = np.sort(tgt.loc[problem].to_numpy(dtype=float))
        vals = c.values[p]  # (O, R, G)
        present = ~np.isnan(vals)
        # how many targets are ≥ the regret (inf reaches none)
        count = len(t) - np.searchsorted(t, np.where(present, vals, np.inf), side="left")
        reached += np.where(present, count, 0).sum(axis=1)
        total += present.sum(axis=1) * len(t)
    with np.errstate(invalid="ignore"):
        frac = reached / total
    o_idx, g_idx = np.meshgrid(np.arange(o_n), np.arange(g_n), indexing="ij")
    frame = pd.DataFrame({"optimizer": np.asarray(c.optimizers)[o_idx.ravel()],
                          "point": c.points[g_idx.ravel()], "fraction": frac.ravel(),
                          "reached": reached.ravel(), "total": total.ravel()})
    return frame[frame["total"] > 0].reset_index(drop=True)


def plot_ecdf(results: Results, data: pd.DataFrame, n_targets: int, *,
              highlight: Sequence[str] = ()) -> tuple[object, pd.DataFrame]:
    """The ECDF of every optimizer against the budget (per family when there are many)."""
    scale, label = budget_axis(results)
    series = {str(name): lineup.Series(part["point"].to_numpy() * scale,
                                       part["fraction"].to_numpy())
              for name, part in data.groupby("optimizer", sort=False)}
    fig = _profile_figure(results, series, highlight, xlabel=label, xlog=10,
                          ylabel="fraction of (problem, repeat, target) reached",
                          title=f"runtime ECDF, {n_targets} targets per problem: r0·10^0 … "
                                "r0·10^-8 (r0 = median first regret)")
    return fig, _drawn(series)


def _profile_figure(results: Results, series: dict[str, lineup.Series],
                    highlight: Sequence[str], *, xlabel: str, ylabel: str, title: str,
                    xlog: int, xlim: tuple[float, float] | None = None) -> object:
    """A figure of fractions (0 … 1, higher is better) against a log x axis, one step
    function per optimizer; the lines drawn full width are the highest at the end."""
    lu, fig, grid = lineup.one_metric_figure(results.optimizers, series, highlight=highlight,
                                             score="final fraction", higher_is_better=True,
                                             step=True)
    for row in grid:
        ax = row[0]
        if xlog == 10:
            style.log_scale(ax.xaxis)
        else:
            ax.set_xscale("log", base=xlog)
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
    lineup.label_panels(lu, grid, [xlabel], [ylabel])
    fig.suptitle(title, fontsize=9)
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    return fig


def _drawn(series: dict[str, lineup.Series]) -> pd.DataFrame:
    frames = [pd.DataFrame({"optimizer": n, "x": s.x, "y": s.y}) for n, s in series.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def runtimes(results: Results, tau: float = 1e-3, x: str = "evals") -> pd.DataFrame:
    """Budget each cell needed to reach regret ≤ tau·r0 of its problem: one row per cell
    (problem, optimizer, repeat, runtime), ``inf`` when it never did."""
    t = results.trials
    target = (tau * target_scale(results)).reindex(results.problem_names).to_numpy()
    codes = t["problem"].cat.codes.to_numpy()
    # trials' problem categories are sorted names, as results.problem_names
    hit = t["regret"].to_numpy() <= target[codes]
    first = pd.Series(np.where(hit, t[x].to_numpy(dtype=float), np.inf)).groupby(
        t["cell"].to_numpy()).min()
    cells = results.cells[results.cells["n_rows"] > 0]
    out = cells[["problem", "optimizer", "repeat"]].copy()
    out["runtime"] = first.reindex(cells.index).to_numpy()
    return out.reset_index(drop=True)


def performance_profile(rt: pd.DataFrame) -> pd.DataFrame:
    """ρ_s(α) at every ratio where some profile steps, per optimizer: columns optimizer,
    alpha, fraction, solved (instances with a finite ratio), instances.

    Ratios are runtime / best runtime on the instance; an instance nobody solved gives every
    optimizer an infinite ratio. The α grid holds 1 and every finite ratio, so the step
    function is exact."""
    wide = rt.pivot_table(index=["problem", "repeat"], columns="optimizer", values="runtime",
                          aggfunc="first", observed=True)
    w = wide.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        best = np.nanmin(np.where(np.isnan(w), np.inf, w), axis=1, keepdims=True)
        ratio = w / best
    # an instance nobody solved: every optimizer that ran on it gets an infinite ratio
    ratio = np.where(np.isfinite(best), ratio, np.inf)
    ratio = np.where(np.isnan(w), np.nan, ratio)
    ratio = pd.DataFrame(ratio, index=wide.index, columns=wide.columns)
    finite = ratio.to_numpy()[np.isfinite(ratio.to_numpy())]
    alphas = np.unique(np.concatenate([[1.0], finite]))
    rows = []
    for name in wide.columns:
        r = ratio[name].dropna().to_numpy()
        frac = (r[None, :] <= alphas[:, None]).mean(axis=1) if len(r) else np.nan
        rows.append(pd.DataFrame({"optimizer": name, "alpha": alphas, "fraction": frac,
                                  "solved": int(np.isfinite(r).sum()),
                                  "instances": len(r)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["optimizer", "alpha", "fraction", "solved", "instances"])


def plot_performance_profile(results: Results, data: pd.DataFrame, tau: float, *,
                             highlight: Sequence[str] = ()) -> tuple[object, pd.DataFrame]:
    """ρ_s(α) of every optimizer (per family when there are many), each step function
    carried on to the right edge."""
    top = float(data["alpha"].max()) if len(data) else 2.0
    top = max(top * 1.25, 2.0)
    series = {}
    for name, part in data.groupby("optimizer", sort=False):
        frac = part["fraction"].to_numpy()
        series[str(name)] = lineup.Series(np.r_[part["alpha"].to_numpy(), top],
                                          np.r_[frac, frac[-1]])
    fig = _profile_figure(results, series, highlight, xlog=2, xlim=(1, top),
                          xlabel="α: budget relative to the fastest optimizer on the instance",
                          ylabel="fraction of (problem, repeat) instances",
                          title=f"performance profile (Dolan & Moré); solved: regret ≤ "
                                f"{tau:g}·r0")
    return fig, _drawn(series)


@figure("ecdf", section="aggregates", order=30,
        caption="COCO-style runtime ECDF over (problem, repeat, target)")
def ecdf_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_ecdf(a.results, a.ecdf, a.targets.shape[1], highlight=a.highlight)
    return style.save(fig, out / "ecdf", fingerprint=a.results.fingerprint)


@figure("performance_profile", section="aggregates", order=40,
        caption=lambda a, png: f"Dolan-Moré performance profile (regret ≤ {a.tau:g}·r0)")
def performance_profile_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_performance_profile(a.results, a.profile, a.tau, highlight=a.highlight)
    return style.save(fig, out / "performance_profile", fingerprint=a.results.fingerprint)

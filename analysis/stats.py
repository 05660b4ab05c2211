"""Significance at chosen budgets: Friedman test across problems with a critical-difference
diagram, and per problem a Mann-Whitney test of each optimizer against the best.

Across problems we follow Demšar ("Statistical Comparisons of Classifiers over Multiple Data
Sets", JMLR 7:1–30, 2006): the blocks are the problems, each optimizer's score on a problem is
its median regret over repeats, the Friedman test asks whether the optimizers differ at all,
and a post-hoc test tells which pairs differ — Nemenyi's (critical difference
CD = q_α √(k(k+1)/(6N)), q_α the studentized range quantile over √2) or, as Benavoli et al.
recommend ("Should We Really Use Post-Hoc Tests Based on Mean-Ranks?", JMLR 17(5), 2016),
pairwise Wilcoxon signed-rank tests with Holm's correction. The tests themselves come from
``scipy.stats`` and ``scikit-posthocs``.

Per problem, the repeats are the samples: the optimizer with the lowest median regret is the
best, and each other optimizer is compared with it by a one-sided Mann-Whitney U test (is its
regret stochastically larger?), Holm-corrected over the problem's comparisons. "Not
significantly worse than the best" is what the tables mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import style
from hpbench.analysis.curves import _HUGE, Cube, quantiles
from hpbench.analysis.load import Results
from hpbench.analysis.registry import figure
from hpbench.analysis.tables import budget_slug, share_label

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis

POSTHOCS = ("nemenyi", "wilcoxon")


@dataclass
class FriedmanResult:
    """The outcome at one budget point."""

    point: float
    optimizers: list[str]
    problems: list[str]
    statistic: float
    p_value: float
    avg_ranks: pd.Series
    pairwise: pd.DataFrame  # post-hoc p-values, optimizer × optimizer
    posthoc: str
    cd: float | None = None
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)


def medians(c: Cube) -> np.ndarray:
    """Median regret over repeats, shape (P, O, G); ``inf`` when fewer than half the
    repeats have an incumbent, NaN where the pair did not run."""
    return quantiles(c.values, [0.5], axis=2)[0]


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference for k treatments over n blocks (Demšar 2006, eq. 4)."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def complete_blocks(med: np.ndarray, optimizers: list[str], problems: list[str]
                    ) -> tuple[list[str], list[str], np.ndarray, list[str], list[str]]:
    """Drop optimizers and problems until every remaining optimizer ran on every remaining
    problem (the Friedman test needs complete blocks).

    Greedy: repeatedly drop the optimizer or problem with the largest share of holes
    (a problem on a tie), so that e.g. multi-fidelity methods, not applicable to most
    problems, are dropped rather than every problem they skip. Returns (optimizers kept,
    problems kept, the complete matrix, optimizers dropped, problems dropped).
    """
    keep_o = np.ones(med.shape[1], bool)
    keep_p = np.ones(med.shape[0], bool)
    while True:
        sub = np.isnan(med[np.ix_(keep_p, keep_o)])
        if not sub.any():
            break
        share_o = sub.mean(axis=0)
        share_p = sub.mean(axis=1)
        if share_o.max() > share_p.max():
            keep_o[np.nonzero(keep_o)[0][np.argmax(share_o)]] = False
        else:
            keep_p[np.nonzero(keep_p)[0][np.argmax(share_p)]] = False
    dropped_o = [o for o, k in zip(optimizers, keep_o) if not k]
    dropped_p = [p for p, k in zip(problems, keep_p) if not k]
    return ([o for o, k in zip(optimizers, keep_o) if k],
            [p for p, k in zip(problems, keep_p) if k], med[np.ix_(keep_p, keep_o)],
            dropped_o, dropped_p)


def friedman(c: Cube, g: int, *, alpha: float = 0.05, posthoc: str = "nemenyi"
             ) -> FriedmanResult | None:
    """Friedman test over problems at budget point ``c.points[g]``; None (with the reason
    in the returned notes of the caller) when fewer than 2 problems or optimizers remain.

    Optimizers and problems are dropped (``complete_blocks``) until the blocks are
    complete; the notes name them."""
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare, rankdata, wilcoxon

    if posthoc not in POSTHOCS:
        raise ValueError(f"posthoc must be one of {POSTHOCS}, got {posthoc!r}")
    med = medians(c)[:, :, g]  # (P, O)
    notes: list[str] = []
    names, problems, med, dropped_o, dropped_p = complete_blocks(med, c.optimizers, c.problems)
    if dropped_o:
        notes.append("left out optimizer(s) that did not run on every problem: "
                     + ", ".join(dropped_o))
    if dropped_p:
        notes.append(f"left out {len(dropped_p)} problem(s) where not every optimizer ran: "
                     + ", ".join(dropped_p[:10]) + (" …" if len(dropped_p) > 10 else ""))
    if len(names) < 2 or len(problems) < 2:
        return None
    # "nothing found" ranks last; a finite stand-in keeps the tests' arithmetic finite
    med = np.where(np.isinf(med), _HUGE, med)
    ranks = rankdata(med, axis=1, method="average").mean(axis=0)
    avg_ranks = pd.Series(ranks, index=names, name="mean rank")
    frame = pd.DataFrame(med, index=problems, columns=names)
    cd = None
    if len(names) == 2:
        # Friedman needs three treatments; with two it is the sign/Wilcoxon question
        diff = med[:, 0] - med[:, 1]
        if np.all(diff == 0):
            stat, p = 0.0, 1.0
        else:
            res = wilcoxon(med[:, 0], med[:, 1])
            stat, p = float(res.statistic), float(res.pvalue)
        pairwise = pd.DataFrame([[1.0, p], [p, 1.0]], index=names, columns=names)
        notes.append("two optimizers: Wilcoxon signed-rank test over problems instead of "
                     "Friedman")
        test = "wilcoxon"
    else:
        if np.all(med == med[:, :1]):
            stat, p = 0.0, 1.0
        else:
            res = friedmanchisquare(*med.T)
            stat, p = float(res.statistic), float(res.pvalue)
        if posthoc == "nemenyi":
            pairwise = sp.posthoc_nemenyi_friedman(frame.to_numpy())
            cd = nemenyi_cd(len(names), len(problems), alpha)
        else:
            melted = frame.reset_index(names="problem").melt(
                id_vars="problem", var_name="optimizer", value_name="regret")
            pairwise = sp.posthoc_wilcoxon(melted, val_col="regret", group_col="optimizer",
                                           p_adjust="holm", zero_method="zsplit")
            pairwise = pairwise.loc[names, names]
        pairwise = pd.DataFrame(np.asarray(pairwise, dtype=float), index=names, columns=names)
        test = posthoc
    pairwise = pairwise.fillna(1.0)
    return FriedmanResult(point=float(c.points[g]), optimizers=names, problems=problems,
                          statistic=stat, p_value=p, avg_ranks=avg_ranks, pairwise=pairwise,
                          posthoc=test, cd=cd, alpha=alpha, notes=notes)


def plot_cd(results: Results, res: FriedmanResult, budget_label: str
            ) -> tuple[object, pd.Series]:
    """Critical-difference diagram (scikit-posthocs): mean ranks on the axis, optimizers
    not significantly different joined by a bar. Returns the figure and the ranks drawn."""
    import scikit_posthocs as sp

    styles = style.styles(results.optimizers)
    k = len(res.optimizers)
    height = 1.2 + 0.28 * k
    # the labels sit outside the axes, where constrained layout does not look: fixed margins
    fig, ax = style.new_figure(7.0, height, layout=None)
    fig.subplots_adjust(left=0.2, right=0.8, top=1 - 0.75 / height, bottom=0.02)
    colors = {o: styles[o].color for o in res.optimizers}
    # the CD value goes in the title: scikit-posthocs draws its bar over the tick labels
    sp.critical_difference_diagram(res.avg_ranks, res.pairwise, ax=ax, alpha=res.alpha,
                                   color_palette=colors,
                                   label_fmt_left="{label} ({rank:.2f})",
                                   label_fmt_right="({rank:.2f}) {label}",
                                   label_props={"fontsize": 7})
    for text in ax.texts:  # the labels in the optimizers' colours, dark enough to read
        text.set_color(style.legible(text.get_color()))
    test = {"nemenyi": "Nemenyi", "wilcoxon": "Wilcoxon signed-rank, Holm"}[res.posthoc]
    name = "Friedman" if k > 2 else "Wilcoxon"
    cd = f", CD = {res.cd:.2f}" if res.cd is not None else ""
    ax.set_title(f"{budget_label}: mean rank over {len(res.problems)} problems; {name} "
                 f"p = {res.p_value:.3g}\nbars join optimizers not significantly different "
                 f"at α = {res.alpha} ({test}{cd})", fontsize=8, pad=24)
    style.add_footer(fig, results.suite, results.fingerprint)
    return fig, res.avg_ranks.sort_values()


def _cd_caption(a: Analysis, png: Path) -> str:
    """The budget in words, from the analysis (a file name cannot hold a '%'), with its
    share of the budget when the label is an amount."""
    for frac, label in zip(a.budgets, a.budget_labels):
        if png.stem == f"cd_{budget_slug(label)}":
            share = share_label(frac)
            return (f"critical-difference diagram at {label}"
                    + ("" if label == share else f" ({share})"))
    return f"critical-difference diagram {png.stem}"


@figure("cd", section="statistics", order=10, caption=_cd_caption)
def cd_figures(a: Analysis, out: Path) -> list[Path]:
    """``cd_<budget>``: a critical-difference diagram per budget with a Friedman result
    (``cd_100pct_of_the_budget``, or ``cd_50_evaluations`` where problems share a budget)."""
    paths: list[Path] = []
    for label, res in a.friedman.items():
        if res is not None:
            fig, _ = plot_cd(a.results, res, label)
            paths += style.save(fig, out / f"cd_{budget_slug(label)}",
                                fingerprint=a.results.fingerprint)
    return paths


def mann_whitney(x: np.ndarray, y: np.ndarray, alternative: str = "greater") -> np.ndarray:
    """p-values of Mann-Whitney U tests of each row of ``x`` against the same row of ``y``
    (NaN entries left out), choosing the method per row as scipy's ``"auto"`` does for a
    single test: exact when the smaller sample has at most 8 values and there are no ties,
    else the normal approximation with tie correction. (Passing all rows to one call would
    let a tie in one row switch every row to the approximation.)"""
    from scipy.stats import mannwhitneyu

    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.atleast_2d(np.asarray(y, dtype=float))
    both = np.sort(np.concatenate([x, y], axis=1), axis=1)
    ties = np.any((both[:, 1:] == both[:, :-1]) & ~np.isnan(both[:, 1:]), axis=1)
    small = np.minimum((~np.isnan(x)).sum(axis=1), (~np.isnan(y)).sum(axis=1)) <= 8
    exact = small & ~ties
    out = np.full(len(x), np.nan)
    for mask, method in ((exact, "exact"), (~exact, "asymptotic")):
        if mask.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                res = mannwhitneyu(x[mask], y[mask], axis=1, alternative=alternative,
                                   method=method, nan_policy="omit")
            out[mask] = np.asarray(res.pvalue, dtype=float)
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, "A simple sequentially rejective multiple
    test procedure", Scand. J. Statist. 6:65–70, 1979): the i-th smallest of m p-values is
    multiplied by m − i + 1, made monotone by a running maximum, and capped at 1.

    Written out because ``statsmodels.multipletests`` calls ``gc.collect()`` on every call,
    which costs most of a second per problem once a large result set is in memory.
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adj = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def versus_best(c: Cube, g: int, *, alpha: float = 0.05, alternative: str = "greater",
                correction: str = "holm") -> pd.DataFrame:
    """Per problem at budget point ``c.points[g]``: each optimizer's median and quartiles
    over repeats, which one is best (lowest median; ties broken by the mean, then by the
    optimizer order), and the Mann-Whitney p-value of each other optimizer against it,
    corrected over the problem's comparisons (``correction``: ``"holm"`` or ``"none"``).
    ``not_worse``: the best itself, or p ≥ alpha.
    """
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none', got {correction!r}")
    vals = c.values[:, :, :, g]  # (P, O, R)
    q = quantiles(vals, [0.5, 0.25, 0.75], axis=2)  # (3, P, O)
    finite = np.where(np.isinf(vals), _HUGE, vals)
    n = np.sum(~np.isnan(vals), axis=2)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(finite, axis=2) / n  # NaN where the pair did not run
    shown_mean = np.where(np.any(np.isinf(vals), axis=2), np.inf, mean)
    rows = []
    for p, problem in enumerate(c.problems):
        ran = np.nonzero(n[p] > 0)[0]
        if not len(ran):
            continue
        # lexicographic: median, then mean, then optimizer order
        order = np.lexsort((ran, mean[p, ran], np.where(np.isinf(q[0, p, ran]), _HUGE,
                                                         q[0, p, ran])))
        best = ran[order[0]]
        others = np.array([o for o in ran if o != best])
        pv = np.full(len(c.optimizers), np.nan)
        if len(others):
            x = finite[p, others, :]
            y = np.broadcast_to(finite[p, best, :], x.shape)
            raw = mann_whitney(x, y, alternative)
            # identical samples (all ties) give no evidence either way
            raw = np.where(np.isnan(raw), 1.0, raw)
            pv[others] = raw
        adj = pv.copy()
        if len(others) > 1 and correction == "holm":
            adj[others] = holm(pv[others])
        for o in ran:
            is_best = o == best
            rows.append({
                "problem": problem, "optimizer": c.optimizers[o],
                "median": q[0, p, o], "q25": q[1, p, o], "q75": q[2, p, o],
                "mean": shown_mean[p, o], "n": int(n[p, o]), "best": bool(is_best),
                "p_value": np.nan if is_best else pv[o],
                "p_adjusted": np.nan if is_best else adj[o],
                "not_worse": bool(is_best or adj[o] >= alpha),
            })
    return pd.DataFrame(rows)

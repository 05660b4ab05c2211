"""Average rank over the budget.

At every budget point, the optimizers are ranked on each block — one problem instance, i.e. a
(problem, repeat) pair, which every optimizer meets with the same seed — by their regret
(rank 1 = lowest; ties share the average rank; a cell with no incumbent yet ranks after every
cell that has one). The curve is the mean rank over blocks, as in the average-rank plots of
the AutoML literature (e.g. Feurer et al., "Efficient and Robust Automated Machine
Learning", NeurIPS 2015, fig. 3). An optimizer that did not run on a block (not applicable)
is left out of that block's ranking.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from hpbench.analysis import style
from hpbench.analysis.curves import Cube
from hpbench.analysis.load import Results
from hpbench.analysis.registry import figure
from hpbench.analysis.regret import budget_axis

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis


def rank_cube(c: Cube) -> np.ndarray:
    """Rank of each cell among the optimizers of its block: shape (P, O, R, G), NaN where
    the cell does not exist."""
    return rankdata(c.values, axis=1, method="average", nan_policy="omit")


def average_ranks(c: Cube) -> pd.DataFrame:
    """Mean rank over blocks per (optimizer, point); ``n_blocks`` counts the blocks the
    optimizer was ranked on and ``block_size`` the mean number of optimizers per block."""
    ranks = rank_cube(c)
    present = ~np.isnan(ranks)
    n = present.sum(axis=(0, 2))  # (O, G)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(ranks, axis=(0, 2)) / n
    size = present.sum(axis=1)  # (P, R, G): optimizers per block
    o_idx, g_idx = np.meshgrid(np.arange(len(c.optimizers)), np.arange(len(c.points)),
                               indexing="ij")
    n_nonempty = (size > 0).sum(axis=(0, 1))
    with np.errstate(invalid="ignore"):
        block_size = size.sum(axis=(0, 1)) / n_nonempty  # (G,)
    frame = pd.DataFrame({
        "optimizer": np.asarray(c.optimizers)[o_idx.ravel()],
        "point": c.points[g_idx.ravel()],
        "mean_rank": mean.ravel(), "n_blocks": n.ravel(),
        "block_size": np.repeat(block_size[None, :], len(c.optimizers), axis=0).ravel(),
    })
    return frame[frame["n_blocks"] > 0].reset_index(drop=True)


def plot_ranks(results: Results, data: pd.DataFrame) -> tuple[object, pd.DataFrame]:
    """Mean rank against the budget, one line per optimizer. Returns the figure and the
    frame drawn (x in the budget's unit)."""
    styles = style.styles(results.optimizers)
    fig, ax = style.new_figure(6.4, 4.2)
    scale, label = budget_axis(results)
    drawn = []
    for name in results.optimizers:
        part = data[data["optimizer"] == name]
        if part.empty:
            continue
        x = part["point"].to_numpy() * scale
        y = part["mean_rank"].to_numpy()
        ax.plot(x, y, markevery=max(1, len(x) // 8), **styles[name].line_kw())
        drawn.append(pd.DataFrame({"optimizer": name, "x": x, "y": y}))
    k = len(results.optimizers)
    ax.set_ylim(0.8, k + 0.2)
    ax.set_xlabel(label)
    ax.set_ylabel("mean rank (1 = best)")
    ax.set_title("average rank over (problem, repeat) blocks", fontsize=9)
    ax.grid(True, alpha=0.3)
    style.legend_below(fig, ax, ncols=min(6, k))
    style.add_footer(fig, results.suite, results.fingerprint)
    return fig, pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


@figure("ranks", section="aggregates", order=20,
        caption="mean rank over (problem, repeat) blocks")
def ranks_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_ranks(a.results, a.ranks)
    return style.save(fig, out / "ranks", fingerprint=a.results.fingerprint)

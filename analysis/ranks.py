"""Average rank over the budget.

At every budget point, the optimizers are ranked on each block — one problem instance, i.e. a
(problem, repeat) pair, which every optimizer meets with the same seed — by their regret
(rank 1 = lowest; ties share the average rank; a cell with no incumbent yet ranks after every
cell that has one). The curve is the mean rank over blocks, as in the average-rank plots of
the AutoML literature (e.g. Feurer et al., "Efficient and Robust Automated Machine
Learning", NeurIPS 2015, fig. 3). An optimizer that did not run on a block (not applicable)
is left out of that block's ranking.

Blocks hold different numbers of optimizers (multi-fidelity methods run on the problems with
a fidelity only: blocks of 8 next to blocks of 32), and rank 5 of 8 is not rank 5 of 32. The
figure therefore draws the rank normalized within its block, (rank − 1) / (n − 1) with n
the optimizers in the block — 0 best, 1 worst, ½ the middle whatever the block's size — and
says so on its axis; blocks of one optimizer rank nothing and are left out of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from hpbench.analysis import lineup, style
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


def normalized_rank_cube(c: Cube) -> np.ndarray:
    """(rank − 1) / (n − 1) of each cell among the n optimizers of its block: 0 best, 1
    worst; NaN where the cell does not exist or its block holds one optimizer."""
    ranks = rank_cube(c)
    size = np.sum(~np.isnan(ranks), axis=1, keepdims=True)  # (P, 1, R, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 1, (ranks - 1) / (size - 1), np.nan)


def average_ranks(c: Cube) -> pd.DataFrame:
    """Mean rank over blocks per (optimizer, point), and the mean normalized rank
    (``norm_rank``, ``normalized_rank_cube``); ``n_blocks`` counts the blocks the optimizer
    was ranked on and ``block_size`` the mean number of optimizers per block."""
    ranks = rank_cube(c)
    present = ~np.isnan(ranks)
    n = present.sum(axis=(0, 2))  # (O, G)
    norm = normalized_rank_cube(c)
    n_norm = np.sum(~np.isnan(norm), axis=(0, 2))
    with np.errstate(invalid="ignore"):
        mean = np.nansum(ranks, axis=(0, 2)) / n
        mean_norm = np.nansum(norm, axis=(0, 2)) / n_norm
    size = present.sum(axis=1)  # (P, R, G): optimizers per block
    o_idx, g_idx = np.meshgrid(np.arange(len(c.optimizers)), np.arange(len(c.points)),
                               indexing="ij")
    n_nonempty = (size > 0).sum(axis=(0, 1))
    with np.errstate(invalid="ignore"):
        block_size = size.sum(axis=(0, 1)) / n_nonempty  # (G,)
    frame = pd.DataFrame({
        "optimizer": np.asarray(c.optimizers)[o_idx.ravel()],
        "point": c.points[g_idx.ravel()],
        "mean_rank": mean.ravel(), "norm_rank": mean_norm.ravel(), "n_blocks": n.ravel(),
        "block_size": np.repeat(block_size[None, :], len(c.optimizers), axis=0).ravel(),
    })
    return frame[frame["n_blocks"] > 0].reset_index(drop=True)


RANK_LABEL = "mean normalized rank: (rank − 1) / (n − 1)\nin each block of n optimizers; 0 = best"


def plot_ranks(results: Results, data: pd.DataFrame, *, highlight: Sequence[str] = ()
               ) -> tuple[object, pd.DataFrame]:
    """Mean normalized rank against the budget, one line per optimizer (per family when
    there are many). Returns the figure and the frame drawn (x in the budget's unit)."""
    scale, label = budget_axis(results)
    series = {}
    for name, part in data.groupby("optimizer", sort=False):
        y = part["norm_rank"].to_numpy()
        if np.isfinite(y).any():
            series[str(name)] = lineup.Series(part["point"].to_numpy() * scale, y)
    lu, fig, grid = lineup.one_metric_figure(results.optimizers, series, highlight=highlight,
                                             score="final rank")
    for row in grid:
        row[0].set_ylim(-0.03, 1.03)
        row[0].grid(True, alpha=0.3)
    lineup.label_panels(lu, grid, [label], [RANK_LABEL])
    fig.suptitle("average normalized rank over (problem, repeat) blocks", fontsize=9)
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    drawn = [pd.DataFrame({"optimizer": n, "x": series[n].x, "y": series[n].y})
             for n in lu.names() if n in series]
    return fig, pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


@figure("ranks", section="aggregates", order=20,
        caption="mean normalized rank over (problem, repeat) blocks: (rank − 1) / (n − 1) "
                "in a block of n optimizers, 0 = best")
def ranks_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_ranks(a.results, a.ranks, highlight=a.highlight)
    return style.save(fig, out / "ranks", fingerprint=a.results.fingerprint)

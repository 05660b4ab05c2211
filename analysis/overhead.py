"""Optimizer overhead: seconds spent in ``ask`` + ``tell`` per trial against the number of
observations the optimizer already holds.

The runner times each ``ask`` and ``tell`` call and shares it equally among the trials of
that round, so ``ask_s + tell_s`` is the optimizer's own cost per trial, apart from the
objective's. The x axis is the trial index (observations told before that trial was
asked for); trials are pooled over problems and repeats in log-spaced bins, and the figure
shows the median per bin with the interquartile range — the growth of model-based methods
(cubic for exact Gaussian processes) shows as a slope on the log-log axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import lineup, style
from hpbench.analysis.load import Results
from hpbench.analysis.registry import figure

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis


def overhead(results: Results, bins: int = 24) -> pd.DataFrame:
    """Per (optimizer, bin of observations): median, q25, q75 of ask+tell seconds per trial
    and how many trials fell in the bin; ``x`` is the median of observations + 1 in the bin."""
    t = results.trials
    n_obs = t["trial"].to_numpy(dtype=float)
    secs = t["ask_s"].to_numpy(dtype=float) + t["tell_s"].to_numpy(dtype=float)
    top = float(np.nanmax(n_obs)) + 1.0 if len(n_obs) else 1.0
    # bins over (observations + 1), so trial 0 (nothing observed yet) has a bin too
    edges = np.unique(np.floor(np.geomspace(1.0, top + 1.0, bins + 1)))
    which = np.clip(np.searchsorted(edges, n_obs + 1.0, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"optimizer": t["optimizer"], "bin": which, "s": secs,
                          "v": n_obs + 1.0})
    frame = frame[np.isfinite(frame["s"])]
    g = frame.groupby(["optimizer", "bin"], observed=True)
    s = g["s"]
    out = pd.concat({"x": g["v"].median(), "median": s.median(), "q25": s.quantile(0.25),
                     "q75": s.quantile(0.75), "n": s.size()}, axis=1).reset_index()
    out["optimizer"] = out["optimizer"].astype(str)
    return out


def plot_overhead(results: Results, data: pd.DataFrame, *, highlight: Sequence[str] = ()
                  ) -> tuple[object, pd.DataFrame]:
    """Median ask + tell seconds per trial against the observations held (per family when
    there are many optimizers); the interquartile band for the fastest few at the end."""
    series = {}
    for name in results.optimizers:
        part = data[data["optimizer"] == name].sort_values("x")
        if not part.empty:
            series[name] = lineup.Series(*(part[c].to_numpy(dtype=float)
                                           for c in ("x", "median", "q25", "q75")))
    floor = style.zero_floor(np.concatenate([np.r_[s.y, s.low, s.high] for s in
                                             series.values()]) if series else [])
    series = {n: lineup.Series(s.x, *(style.on_log_axis(v, floor) for v in (s.y, s.low, s.high)))
              for n, s in series.items()}
    lu, fig, grid = lineup.one_metric_figure(results.optimizers, series, highlight=highlight,
                                             score="final median (the fastest)")
    for row in grid:
        ax = row[0]
        style.log_scale(ax.xaxis)
        style.log_scale(ax.yaxis)
        ax.grid(True, alpha=0.3)
        style.mark_floor(ax, floor)
    note = style.floor_note(floor, "seconds")
    lineup.label_panels(lu, grid, ["observations held + 1"],
                        ["ask + tell seconds per trial" + (f"\n({note})" if note else "")])
    band = lu.band_note()
    fig.suptitle("optimizer overhead: median over problems and repeats"
                 + (f"; IQR {band}" if band else " and IQR"), fontsize=9)
    lineup.add_legends(fig, lu, grid)
    style.add_footer(fig, results.suite, results.fingerprint)
    drawn = [pd.DataFrame({"optimizer": n, "x": series[n].x, "y": series[n].y})
             for n in lu.names()]
    return fig, pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


@figure("overhead", section="overhead", order=10, caption="ask + tell seconds per trial")
def overhead_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_overhead(a.results, a.overhead, highlight=a.highlight)
    return style.save(fig, out / "overhead", fingerprint=a.results.fingerprint)

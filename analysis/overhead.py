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

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.analysis import style
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


def plot_overhead(results: Results, data: pd.DataFrame) -> tuple[object, pd.DataFrame]:
    styles = style.styles(results.optimizers)
    fig, ax = style.new_figure(6.4, 4.2)
    drawn = []
    for name in results.optimizers:
        part = data[data["optimizer"] == name].sort_values("x")
        if part.empty:
            continue
        x = part["x"].to_numpy()
        y = np.maximum(part["median"].to_numpy(), 1e-9)
        ax.plot(x, y, **styles[name].line_kw())
        ax.fill_between(x, np.maximum(part["q25"].to_numpy(), 1e-9),
                        np.maximum(part["q75"].to_numpy(), 1e-9), color=styles[name].color,
                        alpha=0.12, linewidth=0)
        drawn.append(pd.DataFrame({"optimizer": name, "x": x, "y": y}))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("observations held + 1")
    ax.set_ylabel("ask + tell seconds per trial")
    ax.set_title("optimizer overhead: median and IQR over problems and repeats", fontsize=9)
    ax.grid(True, alpha=0.3)
    style.legend_below(fig, ax, ncols=min(6, len(results.optimizers)))
    style.add_footer(fig, results.suite, results.fingerprint)
    return fig, pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame()


@figure("overhead", section="overhead", order=10, caption="ask + tell seconds per trial")
def overhead_figure(a: Analysis, out: Path) -> list[Path]:
    fig, _ = plot_overhead(a.results, a.overhead)
    return style.save(fig, out / "overhead", fingerprint=a.results.fingerprint)

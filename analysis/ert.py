"""Expected running time (ERT), COCO's measure of how fast a target is reached.

ERT(target) = (evaluations of every run until it first reached regret ≤ target, or all its
evaluations when it never did) / (number of runs that reached it); ``inf`` when none did.
It is what ``cocopp`` reports for a function, dimension and target precision (f − f_opt),
computed here from hpbench's own tidy frame (``analysis.load.load(…).trials``): ``regret``
is the best-so-far true value minus the optimum and ``evals`` the evaluations spent, so the
two agree on an export of the same cells (``hpbench export coco``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def ert(trials: pd.DataFrame, targets: float | Sequence[float],
        by: Sequence[str] = ("problem", "optimizer")) -> pd.DataFrame:
    """ERT of reaching ``regret <= target`` for each of ``targets``, one row per group of
    ``by`` and target (the index: ``(*by, "target")``).

    ``trials`` needs the columns ``cell`` (one run), ``regret``, ``evals`` and the ``by``
    columns (what ``analysis.load.load`` gives). Returns the columns ``ert``, ``successes``
    (runs that reached the target), ``runs`` and ``evals`` (the numerator: evaluations
    summed over runs). A NaN regret (no incumbent yet) reaches no target."""
    levels = np.atleast_1d(np.asarray(targets, dtype=float))
    if not (np.isfinite(levels).all() and (levels >= 0).all()):
        raise ValueError(f"targets must be finite precisions >= 0, got {targets!r}")
    by = list(by)
    rows = []
    for keys, run in trials.groupby([*by, "cell"], sort=True, observed=True):
        evals = run["evals"].to_numpy(dtype=float)
        # the best-so-far regret never rises, so the first trial at or below a target is
        # found by bisection, for every target at once
        best = np.minimum.accumulate(np.nan_to_num(run["regret"].to_numpy(dtype=float),
                                                   nan=np.inf))
        first = np.searchsorted(-best, -levels, side="left")
        hit = first < len(best)
        spent = np.where(hit, evals[np.minimum(first, len(best) - 1)], evals.max())
        rows.append(pd.DataFrame({**dict(zip(by, keys[:-1])), "target": levels,
                                  "success": hit, "spent": spent}))
    per_run = pd.concat(rows, ignore_index=True)
    out = per_run.groupby([*by, "target"], sort=True).agg(
        successes=("success", "sum"), runs=("success", "size"), evals=("spent", "sum"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ert"] = np.where(out["successes"] > 0, out["evals"] / out["successes"], np.inf)
    return out[["ert", "successes", "runs", "evals"]]

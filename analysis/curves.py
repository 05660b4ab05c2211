"""Best-so-far curves on a budget grid, and the bands drawn around them.

Every cell's regret is a step function of the budget it has spent: after each trial the
incumbent may improve. ``lookup_rows`` finds, for any set of (cell, budget) queries, the last
trial within that budget in one vectorized pass; ``cube`` arranges the samples as a dense
(problem, optimizer, repeat, point) array that ranks, statistics, profiles and tables share;
``problem_curves`` samples each problem on its own grid of evaluations, cost or wall time;
``band`` turns the repeats into the line and band a figure draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpbench.analysis.load import EPS, Results

#: stand-in for "no incumbent yet" inside quantiles (inf − inf would give NaN)
_HUGE = 1e300

BANDS = {
    "iqr": "median and interquartile range over repeats",
    "ci": "mean and 95% bootstrap CI over repeats",
}

AXIS_COLUMNS = {"evaluations": "evals", "cost": "cum_cost", "wall": "wall"}


def lookup_rows(codes: np.ndarray, x: np.ndarray, q_codes: np.ndarray, q_x: np.ndarray, *,
                tol: float = EPS) -> np.ndarray:
    """For each query i, the index of the last row of cell ``q_codes[i]`` whose ``x`` is at
    most ``q_x[i]`` (plus the relative slack ``tol``); -1 when the cell has no such row.

    Rows must be sorted by cell code, with ``x`` nondecreasing inside a cell (budget spent,
    cumulative cost and wall time all are). Each row gets the key code·W + x with W a power
    of two larger than the range of x, so the keys are sorted and one ``searchsorted`` answers
    every query. Rounding is monotone, so the only effect of floating point is that an x
    within one ulp of the key (≈ 1e-11 for budget shares of 15,000 cells) counts as reached
    — far inside ``tol``.
    """
    codes = np.asarray(codes)
    x = np.asarray(x, dtype=float)
    q_codes = np.asarray(q_codes)
    qx = np.asarray(q_x, dtype=float)
    out = np.full(len(qx), -1, dtype=np.int64)
    if not len(x) or not len(qx):
        return out
    q_ok = np.isfinite(qx)
    qx = np.where(q_ok, qx + tol * np.maximum(1.0, np.abs(qx)), 0.0)
    finite = np.isfinite(x)
    if not finite.all():  # a row without a position on the axis is never reached
        keep = np.flatnonzero(finite)
        sub = lookup_rows(codes[keep], x[keep], q_codes, q_x, tol=tol)
        out[sub >= 0] = keep[sub[sub >= 0]]
        return out
    if codes.dtype.kind in "iu" and codes[0] >= 0 and codes[-1] <= 4 * len(codes) + 1024:
        # already small sorted integers (the table's cell index): use them as they are
        local, q_local = codes, q_codes
        known = q_ok
    else:
        uniq = np.unique(codes)
        local = np.searchsorted(uniq, codes)
        q_local = np.searchsorted(uniq, q_codes)
        known = q_ok & (q_local < len(uniq)) & \
            (uniq[np.minimum(q_local, len(uniq) - 1)] == q_codes)
    lo = float(min(x.min(), qx.min()))
    span = float(max(x.max(), qx.max())) - lo
    width = 2.0 ** (np.ceil(np.log2(span + 1.0)) + 1)
    keys = local * width + (x - lo)
    q_clip = np.clip(qx - lo, -0.5 * width, 0.75 * width)  # stays inside its cell's band
    q_keys = q_local * width + q_clip
    row = np.searchsorted(keys, q_keys, side="right") - 1
    ok = known & (row >= 0)
    ok[ok] = local[row[ok]] == q_local[ok]
    out[ok] = row[ok]
    return out


def step_lookup(codes: np.ndarray, x: np.ndarray, y: np.ndarray, q_codes: np.ndarray,
                q_x: np.ndarray, *, tol: float = EPS) -> np.ndarray:
    """``y`` of ``lookup_rows``' answer for each query; NaN where there is none."""
    row = lookup_rows(codes, x, q_codes, q_x, tol=tol)
    y = np.asarray(y, dtype=float)
    return np.where(row >= 0, y[np.maximum(row, 0)] if len(y) else np.nan, np.nan)


@dataclass
class Cube:
    """A best-so-far column of every cell at common budget points.

    ``values[p, o, r, g]``: e.g. regret of problem ``problems[p]``, optimizer
    ``optimizers[o]``, repeat ``repeats[r]`` after spending the budget share ``points[g]``;
    ``inf`` where the cell had no incumbent yet, NaN where the cell does not exist (not run,
    or not applicable).
    """

    values: np.ndarray
    problems: list[str]
    optimizers: list[str]
    repeats: list[int]
    points: np.ndarray

    def present(self) -> np.ndarray:
        """(problem, optimizer) pairs with at least one cell that has trials."""
        return np.any(~np.isnan(self.values), axis=(2, 3))


def budget_points(results: Results, n: int = 200) -> np.ndarray:
    """Budget shares (fraction of each cell's budget) at which aggregates are computed.

    When every problem counts the same integer number of evaluations B ≤ n, the points are
    exactly 1/B, 2/B, …, 1 (every evaluation); otherwise ``n`` evenly spaced shares.
    """
    common = results.common_budget()
    if common is not None:
        amount, unit = common
        if unit == "evaluations" and float(amount).is_integer() and amount <= n:
            return np.arange(1, int(amount) + 1) / amount
    return np.arange(1, n + 1) / n


def cubes(results: Results, points: Sequence[float] | np.ndarray,
          columns: Sequence[str] = ("regret",)) -> dict[str, Cube]:
    """Sample best-so-far ``columns`` of every cell at the budget shares ``points`` (the
    ``frac`` column): one lookup, one ``Cube`` per column."""
    points = np.asarray(points, dtype=float)
    cells = results.cells
    trials = results.trials
    problems = results.problem_names
    optimizers = results.optimizers
    repeats = sorted(cells["repeat"].unique().tolist())
    with_rows = cells.index[cells["n_rows"] > 0].to_numpy()
    g = len(points)
    row = lookup_rows(trials["cell"].to_numpy(), trials["frac"].to_numpy(dtype=float),
                      np.repeat(with_rows, g), np.tile(points, len(with_rows)))
    sub = cells.loc[with_rows]
    p_idx = pd.Index(problems).get_indexer(sub["problem"])
    o_idx = pd.Index(optimizers).get_indexer(sub["optimizer"])
    r_idx = pd.Index(repeats).get_indexer(sub["repeat"])
    out = {}
    for column in columns:
        y = trials[column].to_numpy(dtype=float)
        sampled = np.where(row >= 0, y[np.maximum(row, 0)] if len(y) else np.nan, np.inf)
        # no incumbent yet is +inf (worse than anything), not missing
        sampled = np.where(np.isnan(sampled), np.inf, sampled).reshape(len(with_rows), g)
        values = np.full((len(problems), len(optimizers), len(repeats), g), np.nan)
        values[p_idx, o_idx, r_idx] = sampled
        out[column] = Cube(values, list(problems), list(optimizers), repeats, points)
    return out


def cube(results: Results, points: Sequence[float] | np.ndarray,
         column: str = "regret") -> Cube:
    """``cubes`` for one column."""
    return cubes(results, points, (column,))[column]


def quantiles(a: np.ndarray, qs: Sequence[float], axis: int = -1) -> np.ndarray:
    """Quantiles (linear interpolation, numpy's default) along ``axis`` ignoring NaN, with
    ``inf`` kept as a value larger than any other; shape ``(len(qs),) + reduced shape``.

    numpy's ``nanquantile`` is slow on many short rows; this sorts once and interpolates.
    A quantile that falls (even partly) on an ``inf`` is ``inf``.
    """
    a = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    a = np.where(np.isposinf(a), _HUGE, a)
    s = np.sort(a, axis=-1)  # NaN sort last
    n = np.sum(~np.isnan(s), axis=-1)
    out = []
    for q in qs:
        pos = (n - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        lo_c = np.clip(lo, 0, None)[..., None]
        hi_c = np.clip(hi, 0, None)[..., None]
        vlo = np.take_along_axis(s, lo_c, -1)[..., 0]
        vhi = np.take_along_axis(s, hi_c, -1)[..., 0]
        frac = pos - lo
        with np.errstate(invalid="ignore"):
            v = vlo + (vhi - vlo) * frac
        v = np.where(n > 0, v, np.nan)
        v = np.where(((vhi >= _HUGE) & (frac > 0)) | (vlo >= _HUGE), np.inf, v)
        out.append(v)
    return np.stack(out)


def bootstrap_mean_ci(a: np.ndarray, rng: np.random.Generator, *, n_boot: int = 1000,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the last axis and its percentile bootstrap CI (Efron & Tibshirani, *An
    Introduction to the Bootstrap*, 1993, ch. 13), ignoring NaN.

    Resampling counts are drawn once per sample size and applied to every row with that many
    values as a matrix product, so the whole array is bootstrapped without a loop over rows.
    ``inf`` propagates: a resample that contains an ``inf`` has an infinite mean.
    """
    a = np.asarray(a, dtype=float)
    shape = a.shape[:-1]
    flat = a.reshape(-1, a.shape[-1])
    mean = np.full(len(flat), np.nan)
    lo = np.full(len(flat), np.nan)
    hi = np.full(len(flat), np.nan)
    valid = ~np.isnan(flat)
    n = valid.sum(axis=1)
    alpha = (1 - level) / 2
    for k in np.unique(n[n > 0]):
        rows = np.nonzero(n == k)[0]
        # move the valid entries of each row to its front
        order = np.argsort(~valid[rows], axis=1, kind="stable")[:, :k]
        vals = np.take_along_axis(flat[rows], order, axis=1)
        is_inf = np.isinf(vals)
        finite = np.where(is_inf, 0.0, vals)
        mean[rows] = np.where(is_inf.any(axis=1), np.inf, finite.mean(axis=1))
        counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(float)
        boot = finite @ counts.T / k  # (rows, n_boot)
        boot = np.where(is_inf.astype(float) @ counts.T > 0, np.inf, boot)
        q = quantiles(boot, [alpha, 1 - alpha], axis=-1)
        lo[rows], hi[rows] = q[0], q[1]
    return mean.reshape(shape), lo.reshape(shape), hi.reshape(shape)


def band(values: np.ndarray, kind: str = "iqr", *, rng: np.random.Generator | None = None,
         axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre, low, high) over ``axis``: median with the interquartile range (``"iqr"``) or
    mean with a 95% percentile-bootstrap CI (``"ci"``)."""
    if kind not in BANDS:
        raise ValueError(f"band must be one of {sorted(BANDS)}, got {kind!r}")
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    if kind == "iqr":
        q = quantiles(values, [0.5, 0.25, 0.75])
        return q[0], q[1], q[2]
    rng = rng if rng is not None else np.random.default_rng(0)
    return bootstrap_mean_ci(values, rng)


def axis_grid(results: Results, problem: str, axis: str, lo: float, top: float,
              integral: bool, n: int) -> np.ndarray:
    """Grid of an axis for one problem, whose cells' x start at ``lo`` (the smallest first
    x) and end at ``top``: every evaluation 1…B when the budget is B ≤ n whole evaluations
    (``integral``: every x is a whole number); otherwise n points, evenly spaced for
    evaluations and cost and log-spaced for wall time (overheads differ by orders of
    magnitude)."""
    if axis == "evaluations":
        amount = results.problems.at[problem, "budget_amount"]
        unit = results.problems.at[problem, "budget_unit"]
        if unit == "evaluations" and float(amount).is_integer() and amount <= n and integral:
            return np.arange(1, int(amount) + 1, dtype=float)
    if axis == "wall":
        lo = max(lo, 1e-6)
        top = max(top, lo * (1 + 1e-9))
        return np.geomspace(lo, top, n)
    if not top > lo:
        return np.array([lo])
    return np.linspace(lo, top, n)


def all_problem_curves(results: Results, axis: str = "evaluations", n: int = 200,
                       problems: Sequence[str] | None = None) -> pd.DataFrame:
    """Best-so-far regret of every cell on its problem's grid of ``axis``, all problems in
    one lookup.

    ``axis``: ``"evaluations"`` (full-fidelity-equivalent evaluations spent, or the number
    of evaluations when the budget is not counted in evaluations), ``"cost"`` (cumulative
    cost) or ``"wall"`` (seconds since the cell's first trial started; the virtual clock in
    a cell run on simulated workers, docs/simulated-clock.md). Returns a tidy frame
    (problem, optimizer — categoricals —, repeat, g, x, regret) with ``inf`` before a cell's
    first incumbent.
    """
    column = AXIS_COLUMNS.get(axis)
    if column is None:
        raise ValueError(f"axis must be evaluations, cost or wall, got {axis!r}")
    t = results.trials
    all_cells = results.cells
    cells = all_cells[all_cells["n_rows"] > 0]
    if problems is not None:
        cells = cells[cells["problem"].isin(list(problems))]
    empty = pd.DataFrame(columns=["problem", "optimizer", "repeat", "g", "x", "regret"])
    if cells.empty:
        return empty
    code = t["cell"].to_numpy()
    x_all = t[column].to_numpy(dtype=float)
    # a cell's x must not decrease (wall clocks can step back); keep its running maximum
    x_all = pd.Series(x_all).groupby(code, sort=False).cummax().to_numpy()
    starts = np.concatenate([[0], np.cumsum(all_cells["n_rows"].to_numpy())])[:-1]
    per_cell = pd.DataFrame({"x": x_all, "int": x_all == np.round(x_all)}).groupby(code)
    cell_top = per_cell["x"].max().reindex(cells.index).to_numpy()
    cell_int = per_cell["int"].all().reindex(cells.index).to_numpy()
    cell_first = x_all[starts[cells.index.to_numpy()]]
    p_code = cells["problem_code"].to_numpy()
    names = list(results.problems.index)
    q_cells, q_x, q_g = [], [], []
    for p in np.unique(p_code):
        mine = p_code == p
        grid = axis_grid(results, names[p], axis, float(np.nanmin(cell_first[mine])),
                         float(np.nanmax(cell_top[mine])), bool(cell_int[mine].all()), n)
        ids = cells.index.to_numpy()[mine]
        q_cells.append(np.repeat(ids, len(grid)))
        q_x.append(np.tile(grid, len(ids)))
        q_g.append(np.tile(np.arange(len(grid)), len(ids)))
    qc = np.concatenate(q_cells)
    qx = np.concatenate(q_x)
    y = t["regret"].to_numpy(dtype=float)
    vals = step_lookup(code, x_all, np.where(np.isnan(y), np.inf, y), qc, qx)
    opt_names = sorted(all_cells["optimizer"].unique())
    return pd.DataFrame({
        "problem": pd.Categorical.from_codes(all_cells["problem_code"].to_numpy()[qc], names),
        "optimizer": pd.Categorical.from_codes(all_cells["optimizer_code"].to_numpy()[qc],
                                               opt_names),
        "repeat": all_cells["repeat"].to_numpy()[qc], "g": np.concatenate(q_g), "x": qx,
        "regret": np.where(np.isnan(vals), np.inf, vals)})


def problem_curves(results: Results, problem: str, axis: str = "evaluations",
                   n: int = 200) -> pd.DataFrame:
    """``all_problem_curves`` for one problem (columns optimizer, repeat, g, x, regret)."""
    out = all_problem_curves(results, axis, n, problems=[problem])
    return out.drop(columns="problem").reset_index(drop=True)


def summarize(curves: pd.DataFrame, kind: str = "iqr", *, seed: int = 0,
              by: Sequence[str] = ("optimizer",)) -> pd.DataFrame:
    """Centre and band over repeats at each grid point of a curves frame: one row per
    (``by``…, x) with ``centre``, ``low``, ``high`` and ``n`` (repeats with a value).

    Works on the grid index ``g`` when the frame has one (grids differ between problems),
    else on ``x`` itself."""
    by = list(by)
    cols = [*by, "x", "centre", "low", "high", "n"]
    if curves.empty:
        return pd.DataFrame(columns=cols)
    k_code = curves.groupby(by, sort=False, observed=True).ngroup().to_numpy()
    n_keys = int(k_code.max()) + 1
    r_code, _ = pd.factorize(curves["repeat"], sort=True)
    if "g" in curves:
        x_code = curves["g"].to_numpy()
        n_x = int(x_code.max()) + 1
    else:
        x_code, x_vals = pd.factorize(curves["x"], sort=True)
        n_x = len(x_vals)
    arr = np.full((n_keys, r_code.max() + 1, n_x), np.nan)
    arr[k_code, r_code, x_code] = curves["regret"].to_numpy(dtype=float)
    xs = np.full((n_keys, n_x), np.nan)
    xs[k_code, x_code] = curves["x"].to_numpy(dtype=float)
    c, lo, hi = band(arr, kind, rng=np.random.default_rng(seed), axis=1)
    n = np.sum(~np.isnan(arr), axis=1)
    first = pd.Series(np.arange(len(curves))).groupby(k_code).first().to_numpy()
    # take the key columns by position (no conversion of categoricals to strings)
    out = curves[by].iloc[np.repeat(first, n_x)].reset_index(drop=True)
    out["x"] = xs.ravel()
    out["centre"], out["low"], out["high"], out["n"] = c.ravel(), lo.ravel(), hi.ravel(), \
        n.ravel()
    return out[out["n"] > 0].reset_index(drop=True)

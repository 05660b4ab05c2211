"""Quality bars and timings of the bandit, multi-fidelity, population, gradient and RL
optimizers (issue 7).

* Multi-fidelity vs random at equal cost budget (full-fidelity-equivalent evaluations),
  ``REPEATS`` repeats on the seeded instances of ``hpbench.seeds.problem_seed``: regret is the
  best *full-fidelity* true value minus the optimum, read at ``GRID`` equally spaced points
  of the budget; an optimizer "beats random over a share of the budget" at the points where
  its median regret is strictly lower than random's. Bar: ``hyperband`` and ``bohb`` for at
  least half the budget on each synthetic multi-fidelity problem whose low fidelities carry
  information (``augmented-branin``, ``augmented-hartmann6``). ``forrester-mf`` is reported,
  not asserted: its published low fidelity is deceptive (minimizer near x = 0.09, the high
  fidelity's at 0.76), the case where multi-fidelity methods are expected to lose to random
  search (Li et al. 2017 bound the loss by the s = 0 bracket): every rung below s ≈ 0.42
  ranks the wrong basin first, and the minimizer at s = 1/2 is 0.0216 above the optimum at
  full fidelity, over three times random search's median regret at half the budget (0.0063)
  (``tests/problems/test_multifidelity.py`` pins the problem's side). A second table sweeps η in
  (2, 3) and the minimum fidelity in (1/27, 1/9, 1/3, 1/2) there: measured, the best share is
  25 % for hyperband and 10 % for bohb, so no setting would have met the bar. Its column of
  rungs shows that η = 3 from 1/2 leaves Hyperband the single rung 1, i.e. random search
  with other draws: its 20 % is the noise floor of the share at 10 repeats.
* ``hypergradient`` on ``ridge-hypergrad``: the best config's log-alpha within 1 % of the
  optimum's (known from the exact solution), every repeat.
* On ``torch-mlp-digits`` (issue 6), at a budget of ``TORCH_BUDGET`` full-fidelity
  evaluations: ``pbt`` vs ``random`` at equal epochs (median best full-fidelity validation
  loss, asserted lower), and ``hyperband`` and ``bohb`` lower than ``random`` for at least
  half the budget (asserted). The budget is 48 because BOHB's model needs 2d + 2 = 20
  results on one fidelity before it replaces random sampling: at 16 BOHB is Hyperband with
  other random draws and the comparison is one of noise (measured: 0.107 vs random's 0.105).
* Seconds per cell (budget 100) of each optimizer on the cheap problems, as a ratio to random
  search measured in the same run: what adding them to the ``default`` suite costs.

Sizes (environment): ``HPBENCH_PERF_REPEATS`` (default 10, the issue's number),
``HPBENCH_PERF_MF_BUDGET`` (100, the default suite's budget), ``HPBENCH_PERF_TORCH_REPEATS``
(10) and ``HPBENCH_PERF_TORCH_BUDGET`` (48: six PBT populations of 8; about 30 minutes of
CPU here). A torch-less environment fails the torch test (it is part of the bar), it does
not skip it.
"""

from __future__ import annotations

import json
import math
import os
import time
from functools import cache

import numpy as np
import pytest

from benchmarks.conftest import write_table
from hpbench import Budget, make_problem
from hpbench.cell import Cell
from hpbench.optimizers.multifidelity._common import fidelity_ladder
from hpbench.registry import entries

REPEATS = int(os.environ.get("HPBENCH_PERF_REPEATS", "10"))
BUDGET = float(os.environ.get("HPBENCH_PERF_MF_BUDGET", "100"))
TORCH_REPEATS = int(os.environ.get("HPBENCH_PERF_TORCH_REPEATS", "10"))
TORCH_BUDGET = float(os.environ.get("HPBENCH_PERF_TORCH_BUDGET", "48"))
GRID = 20
MASTER = 0

MF_PROBLEMS = ("forrester-mf", "augmented-branin", "augmented-hartmann6")
BAR_PROBLEMS = ("augmented-branin", "augmented-hartmann6")
BAR = ("hyperband", "bohb")
OTHERS = ("successive-halving", "asha", "optuna-tpe-sha", "optuna-tpe-hyperband", "pbt",
          "reinforce")


def regret_curve(result, optimum: float, f_max: float | None, grid: np.ndarray) -> np.ndarray:
    """Best full-fidelity true value minus ``optimum`` at each budget point (inf before the
    first full-fidelity result); ``f_max`` None for a problem without fidelity."""
    cols = result.columns
    used = np.asarray(cols["budget_used"], dtype=float)
    tv = np.asarray(cols["true_value"], dtype=float)
    fid = np.array([np.nan if f is None else f for f in cols["fidelity"]], dtype=float)
    full = (np.asarray(cols["status"]) == "ok") & np.isfinite(tv)
    if f_max is not None:
        full &= fid >= f_max - 1e-12
    best = np.minimum.accumulate(np.where(full, tv, np.inf)) if len(tv) else tv
    idx = np.searchsorted(used, grid + 1e-9, side="right") - 1
    return np.where(idx >= 0, best[np.maximum(idx, 0)] - optimum, np.inf)


@cache
def cell(problem: str, optimizer: str, repeat: int, budget: float,
         settings: tuple = ()) -> tuple[np.ndarray, float, float]:
    """(regret curve on the grid, best full-fidelity value, seconds) of one cell; the
    seconds are those of ``Cell.run`` (building the optimizer and the loop)."""
    one = Cell(problem, optimizer, Budget(budget), repeat=repeat, master_seed=MASTER,
               settings=dict(settings))
    prob = one.build_problem()
    t0 = time.perf_counter()
    result = one.run(problem=prob)
    seconds = time.perf_counter() - t0
    assert result.status == "done", result.error
    f_max = prob.fidelity.high if prob.fidelity is not None else None
    optimum = prob.optimum.value if prob.optimum is not None else 0.0
    grid = np.linspace(budget / GRID, budget, GRID)
    curve = regret_curve(result, optimum, f_max, grid)
    return curve, float(curve[-1] + optimum), seconds


def medians(problem: str, optimizer: str, repeats: int, budget: float,
            settings: tuple = ()) -> np.ndarray:
    return np.median([cell(problem, optimizer, r, budget, settings)[0]
                      for r in range(repeats)], axis=0)


def incumbent(result) -> dict:
    """The config of a cell's first best trial (what the optimizer's ``incumbent`` holds:
    the first ok trial of the lowest value)."""
    cols, best = result.columns, None
    for config, value, status in zip(cols["config"], cols["value"], cols["status"]):
        if status == "ok" and math.isfinite(value) and (best is None or value < best[0]):
            best = (value, config)
    assert best is not None, result.reason
    return json.loads(best[1])


def share_better(ours: np.ndarray, base: np.ndarray) -> float:
    return float(np.mean(ours < base))


def fmt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.3g}"


def test_multifidelity_vs_random_at_equal_budget():
    rows = ["| problem | optimizer | median regret at 25 / 50 / 100 % of the budget | share of "
            "the budget better than random | bar |", "|---|---|---|---|---|"]
    failures = []
    for problem in MF_PROBLEMS:
        base = medians(problem, "random", REPEATS, BUDGET)
        for name in ("random", *BAR, *OTHERS):
            curve = medians(problem, name, REPEATS, BUDGET)
            at = [curve[GRID // 4 - 1], curve[GRID // 2 - 1], curve[-1]]
            share = share_better(curve, base) if name != "random" else float("nan")
            bar = ""
            if name in BAR:
                ok = share >= 0.5
                if problem in BAR_PROBLEMS:
                    bar = "pass" if ok else "FAIL"
                    if not ok:
                        failures.append((problem, name, share))
                else:
                    bar = f"(reported: {'≥' if ok else '<'} half)"
            rows.append(f"| {problem} | {name} | {' / '.join(fmt(v) for v in at)} | "
                        f"{'' if name == 'random' else f'{share:.0%}'} | {bar} |")
    write_table("multifidelity", f"Multi-fidelity optimizers vs random search, budget "
                f"{BUDGET:g} full-fidelity evaluations, {REPEATS} repeats (median regret of the "
                f"best full-fidelity true value)\n\n" + "\n".join(rows) + "\n")
    assert not failures, failures


def test_hypergradient_reaches_the_ridge_optimum():
    if "ridge-hypergrad" not in entries("problem"):
        pytest.fail("problems/hypergradient/ridge.py (ridge-hypergrad) is missing")
    rows = ["| seed | log α found | log α* | relative error | evaluations |",
            "|---|---|---|---|---|"]
    errors = []
    for r in range(REPEATS):
        one = Cell("ridge-hypergrad", "hypergradient", Budget(30), repeat=r, master_seed=MASTER)
        prob = one.build_problem()
        result = one.run(problem=prob)
        found = math.log(incumbent(result)["alpha"])
        best = math.log(prob.optimum.location["alpha"])
        err = abs(found - best) / abs(best)
        errors.append(err)
        rows.append(f"| {r} | {found:.5f} | {best:.5f} | {err:.2e} | {result.n_trials} |")
    write_table("multifidelity-hypergradient",
                "hypergradient (Adam on the unit cube) on ridge-hypergrad, 30 evaluations: "
                "log-alpha of the best config vs the exact optimum's\n\n" + "\n".join(rows)
                + f"\n\nlargest relative error {max(errors):.2e} (bar: 1e-2)\n")
    assert max(errors) < 0.01


def test_torch_mlp_digits():
    if "torch-mlp-digits" not in entries("problem"):
        pytest.fail("torch-mlp-digits is missing (issue 6)")
    problem = "torch-mlp-digits"
    grid_budget = TORCH_BUDGET
    rows = ["| optimizer | median best validation loss (full fidelity) at 50 / 100 % of the "
            "budget | share of the budget better than random | seconds per cell |",
            "|---|---|---|---|"]
    finals, shares = {}, {}
    for name in ("random", "hyperband", "bohb", "pbt"):
        curves = [cell(problem, name, r, grid_budget) for r in range(TORCH_REPEATS)]
        curve = np.median([c[0] for c in curves], axis=0)
        finals[name] = curve[-1]
        secs = float(np.mean([c[2] for c in curves]))
        base = np.median([cell(problem, "random", r, grid_budget)[0]
                          for r in range(TORCH_REPEATS)], axis=0)
        shares[name] = share_better(curve, base)
        share = "" if name == "random" else f"{shares[name]:.0%}"
        rows.append(f"| {name} | {fmt(curve[GRID // 2 - 1])} / {fmt(curve[-1])} | {share} | "
                    f"{secs:.0f} |")
    write_table("multifidelity-torch",
                f"torch-mlp-digits, budget {grid_budget:g} full-fidelity evaluations (25 "
                f"epochs each; pbt: population 8), {TORCH_REPEATS} repeats\n\n"
                + "\n".join(rows) + "\n")
    assert finals["pbt"] < finals["random"]
    for name in BAR:
        assert shares[name] >= 0.5, f"{name} beats random on {shares[name]:.0%} of the budget"


def test_seconds_per_cell():
    """What each optimizer adds to ``make bench``: seconds per cell (budget 100), ratio to
    random search in the same run, on a multi-fidelity problem and a synthetic one."""
    rows = ["| optimizer | problem | seconds per cell | ratio to random |", "|---|---|---|---|"]
    cases = [("augmented-hartmann6", n) for n in (*BAR, *OTHERS)] + \
        [("hartmann6", "hypergradient"), ("hartmann6", "reinforce")]
    base: dict[str, float] = {}
    for problem in ("augmented-hartmann6", "hartmann6"):
        base[problem] = float(np.median([cell(problem, "random", r, 100.0)[2]
                                         for r in range(3)]))
    for problem, name in cases:
        secs = float(np.median([cell(problem, name, r, 100.0)[2] for r in range(3)]))
        rows.append(f"| {name} | {problem} | {secs:.3f} | {secs / base[problem]:.0f}× |")
    rows += [f"| random | {p} | {s:.4f} | 1× |" for p, s in base.items()]
    write_table("multifidelity-timing", "Seconds per cell, budget 100 (median of 3 repeats)\n\n"
                + "\n".join(rows) + "\n")


def test_forrester_settings_sweep():
    """forrester-mf is reported, not asserted (its low fidelity is deceptive). So that no one
    has to wonder whether another η or minimum fidelity would have passed the bar there: the
    share of the budget on which ``hyperband`` and ``bohb`` beat random, for every η in
    (2, 3) and minimum fidelity in (1/27, 1/9, 1/3, 1/2). Checked: the table has every
    setting, and the default setting's row is the one the main table reports."""
    problem = "forrester-mf"
    fidelity = make_problem(problem).fidelity
    base = medians(problem, "random", REPEATS, BUDGET)
    rows = ["| optimizer | η | minimum fidelity | rungs | median regret at 25 / 50 / 100 % | "
            "share of the budget better than random |", "|---|---|---|---|---|---|"]
    shares = {}
    for name in BAR:
        for eta in (2, 3):
            for low in (1 / 27, 1 / 9, 1 / 3, 1 / 2):
                settings = (("eta", eta), ("min_fidelity", low))
                curve = medians(problem, name, REPEATS, BUDGET, settings)
                shares[name, eta, low] = share = share_better(curve, base)
                at = [curve[GRID // 4 - 1], curve[GRID // 2 - 1], curve[-1]]
                # a ladder of [1] (η = 3 above 1/3) is random search under another seed:
                # its share measures how far 10 repeats let two equal methods' medians differ
                rungs = ", ".join(f"{f:.3g}" for f in fidelity_ladder(fidelity, eta, low))
                rows.append(f"| {name} | {eta} | 1/{round(1 / low)} | {rungs} | "
                            f"{' / '.join(fmt(v) for v in at)} | {share:.0%} |")
    best = {name: max(v for k, v in shares.items() if k[0] == name) for name in BAR}
    write_table("multifidelity-forrester-sweep",
                f"forrester-mf, budget {BUDGET:g}, {REPEATS} repeats: hyperband and bohb over "
                "their settings vs random (random's median regret at 100 %: "
                f"{fmt(base[-1])})\n\n" + "\n".join(rows) + "\n\nbest share: "
                + ", ".join(f"{n} {s:.0%}" for n, s in best.items()) + "\n")
    assert len(shares) == 2 * 2 * 4
    for name in BAR:  # the problem's own minimum fidelity is 1/27 and η defaults to 3
        default = share_better(medians(problem, name, REPEATS, BUDGET), base)
        assert shares[name, 3, 1 / 27] == default

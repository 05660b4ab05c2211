"""Hand-made result sets, written through the real store (``ResultsDir.write_cell``) with
the columns and metadata the runner and ``hpbench.execute`` write.

``two_optimizers`` is the set most tests check by hand:

p1 — exact optimum 0, budget 4 evaluations, true values per repeat (trial 1 of alpha's
repeat 2 failed):

    random  r0 [5, 3, 4, 1]      best [5, 3, 3, 1]
            r1 [3, 6, 2, 2]      best [3, 3, 2, 2]
            r2 [8, 4, 4, 0.5]    best [8, 4, 4, 0.5]
    alpha   r0 [4, 1, 0.5, 0.25] best [4, 1, 0.5, 0.25]
            r1 [3, 3, 0.1, 0.1]  best [3, 3, 0.1, 0.1]
            r2 [6, ×, 2, 1]      best [6, 6, 2, 1]

p2 — no optimum (regret vs the best seen on the same instance = repeat), with test values:

    random  r0 [3, 2, 2.5, 1.5]  alpha r0 [2.5, 1, 1.2, 1.1]   instance best 1
            r1 [4, 4, 1, 1]            r1 [2, 2, 2, 0.5]       instance best 0.5
            r2 [1, 1, 1, 1]            r2 [3, 2, 1, 0.8]       instance best 0.8
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hpbench.store import ResultsDir
from hpbench.trials import PARAM_PREFIX, empty_columns

FAIL = None  # marks a failed trial in a value list


def cell_columns(values: list[float | None], *, true_values: list[float] | None = None,
                 test_values: list[float] | None = None,
                 fidelity: list[float] | None = None, f_max: float | None = None,
                 cost: list[float] | None = None, ask_s: list[float] | None = None,
                 t0: float = 1000.0) -> dict[str, list]:
    """The runner's columns for one cell whose trials return ``values`` (None = failed)."""
    n = len(values)
    cols = empty_columns(["x"])  # the trial columns, then param.x
    spent = cum = 0.0
    t = t0
    for i in range(n):
        ok = values[i] is not None
        fid = fidelity[i] if fidelity is not None else f_max
        fe = 1.0 if fid is None or f_max is None else fid / f_max
        c = cost[i] if cost is not None else 1.0
        spent += fe
        cum += c
        a = ask_s[i] if ask_s is not None else 0.001
        cols["trial"].append(i)
        cols["round"].append(i)
        cols["config"].append(json.dumps({"x": float(i)}))
        cols[PARAM_PREFIX + "x"].append(float(i))
        cols["fidelity"].append(fid)
        cols["resume_from"].append(None)
        cols["value"].append(float(values[i]) if ok else math.nan)
        tv = true_values[i] if true_values is not None else values[i]
        cols["true_value"].append(float(tv) if ok else math.nan)
        tst = test_values[i] if test_values is not None else None
        cols["test_value"].append(float(tst) if ok and tst is not None else math.nan)
        cols["status"].append("ok" if ok else "failed")
        cols["error"].append("" if ok else "RuntimeError: on purpose")
        cols["cost"].append(c)
        cols["cost_fe"].append(fe)
        cols["cum_cost"].append(cum)
        cols["budget_used"].append(spent)
        cols["ask_s"].append(a)
        cols["eval_s"].append(0.01)
        cols["tell_s"].append(a / 2)
        cols["t_start"].append(t)
        t += 0.01 + a
        cols["t_end"].append(t)
        cols["info"].append("")
        cols["incumbent"].append(None)  # no recommend hook
    return cols


def write(out: Path, problem: str, optimizer: str, repeat: int, columns: dict[str, list], *,
          budget: float = 4, optimum: float | None = None, kind: str = "exact",
          fidelity: tuple[float, float] | None = None, status: str = "done",
          fingerprint: str | None = None, suite: str = "handmade",
          unit: str = "evaluations") -> Path:
    meta: dict[str, Any] = {
        "suite": suite, "problem": problem, "optimizer": optimizer, "repeat": repeat,
        "master_seed": 0, "problem_seed": 100 + repeat, "optimizer_seed": 200 + repeat,
        "budget": {"amount": float(budget), "unit": unit, "batch": None},
        "fingerprint": fingerprint if fingerprint is not None else f"{problem}-{repeat}",
        "optimum": None if optimum is None else {"value": optimum, "kind": kind,
                                                 "source": "by hand"},
        "fidelity": None if fidelity is None else {"low": fidelity[0], "high": fidelity[1],
                                                   "name": "epochs"},
        "status": status, "reason": "budget" if status == "done" else status,
        "n_trials": len(columns["trial"]), "params": ["x"],
        "versions": {"hpbench": "0.1.0", "numpy": "test"}, "python": "3.11",
        "host": "testhost", "git_revision": "abc123",
    }
    folder = ResultsDir(out)
    return folder.write_cell(folder.cell_path(problem, optimizer, repeat), columns, meta)


P1 = {
    "random": [[5, 3, 4, 1], [3, 6, 2, 2], [8, 4, 4, 0.5]],
    "alpha": [[4, 1, 0.5, 0.25], [3, 3, 0.1, 0.1], [6, FAIL, 2, 1]],
}
P2 = {
    "random": [[3, 2, 2.5, 1.5], [4, 4, 1, 1], [1, 1, 1, 1]],
    "alpha": [[2.5, 1, 1.2, 1.1], [2, 2, 2, 0.5], [3, 2, 1, 0.8]],
}
P2_TEST = {
    "random": [[3.1, 2.2, 2.4, 1.9]],
    "alpha": [[2.6, 1.5, 1.0, 1.2]],
}


def two_optimizers(out: Path, *, with_random: bool = True) -> Path:
    """The hand-computed set of the module docstring (``alpha`` and ``random``; with
    ``with_random=False`` the baseline is renamed ``beta``)."""
    for opt in ("random", "alpha"):
        name = opt if with_random or opt != "random" else "beta"
        for r in range(3):
            write(out, "p1", name, r, cell_columns(P1[opt][r]), optimum=0.0)
            vals = P2[opt][r]
            test = P2_TEST[opt][r] if r < len(P2_TEST[opt]) else \
                [None if v is None else v + 0.1 for v in vals]
            write(out, "p2", name, r, cell_columns(vals, test_values=test))
    return out


def ranked(out: Path, n_problems: int = 4, repeats: int = 5, *,
           test: bool = False) -> Path:
    """Three optimizers on ``n_problems`` problems (exact optimum 0, budget 2), with final
    regrets per repeat: ``good`` 0.1…0.5, ``close`` 0.2…0.6 (overlapping good), ``bad``
    10…14 — so good < close < bad in median on every problem. ``test``: every trial has a
    test value too (its value plus 0.05)."""
    finals = {"good": [0.1, 0.2, 0.3, 0.4, 0.5], "close": [0.2, 0.3, 0.4, 0.5, 0.6],
              "bad": [10, 11, 12, 13, 14]}
    for p in range(n_problems):
        for opt, vals in finals.items():
            for r in range(repeats):
                values = [20.0, vals[r]]
                tests = [v + 0.05 for v in values] if test else None
                write(out, f"q{p}", opt, r, cell_columns(values, test_values=tests),
                      optimum=0.0, budget=2)
    return out


def _fidelity_schedule(budget: float) -> list[float]:
    """Fidelities of a multi-fidelity cell that spends exactly ``budget`` full-fidelity
    equivalents: nine trials at 1/9, three at 1/3, then full fidelity."""
    fids = [1 / 9] * 9 + [1 / 3] * 3
    return fids + [1.0] * round(budget - 2)


def many_optimizers(out: Path, *, repeats: int = 2, budget: int = 6) -> Path:
    """Every registered optimizer (44, of every family folder) on two problems, as
    ``make bench`` yields them, written through the real store in about a second (a real
    run of these 176 cells takes 20 s):

    * ``fid`` — exact optimum 0, a fidelity in [1/9, 1]; optimizers that require fidelity
      (or checkpoints) climb a fidelity ladder, the others evaluate at full fidelity; a trial
      costs its fidelity (the cost axis is the evaluations axis); ``tpe`` reaches the
      optimum (regret 0) at its last trial of repeat 0;
    * ``tuned`` — no optimum known (regret vs the best seen), test values, each trial costs
      0.5 … 1.5 (cost and evaluations differ); not applicable to fidelity-requiring
      optimizers.

    Values are seeded per (problem, optimizer, repeat): geometric progress at a rate that
    differs by optimizer, with noise."""
    import numpy as np

    from hpbench import registry

    entries = registry.entries("optimizer")
    for k, (name, entry) in enumerate(sorted(entries.items())):
        multi = bool(entry.requires & {"fidelity", "checkpoint"})
        rate = 0.15 + 0.5 * ((k * 7) % 11) / 10
        for r in range(repeats):
            rng = np.random.default_rng([k, r])
            fids = _fidelity_schedule(budget) if multi else [1.0] * budget
            n = len(fids)
            vals = [float(20 * np.exp(-rate * t) * rng.uniform(0.5, 1.5)) for t in range(n)]
            if name == "tpe" and r == 0:
                vals[-1] = 0.0
            ask = [0.001 * (1 + k % 5) * (1 + t) ** (k % 3) for t in range(n)]
            write(out, "fid", name, r, cell_columns(vals, fidelity=fids, f_max=1.0, cost=fids,
                                                   ask_s=ask),
                  budget=budget, optimum=0.0, fidelity=(1 / 9, 1.0))
            if multi:
                write(out, "tuned", name, r, cell_columns([]), budget=budget,
                      status="not-applicable")
                continue
            vals = [float(0.1 + 0.3 * np.exp(-rate * t) * rng.uniform(0.8, 1.2))
                    for t in range(budget)]
            test = [v + float(rng.normal(0.02, 0.01)) for v in vals]
            cost = [float(c) for c in rng.uniform(0.5, 1.5, budget)]
            write(out, "tuned", name, r, cell_columns(vals, test_values=test, cost=cost,
                                                     ask_s=ask[:budget]), budget=budget)
    return out

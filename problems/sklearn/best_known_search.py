"""The long, seeded, offline search that makes the best-known table of the scikit-learn tasks.

The table and its readers are ``hpbench.problems.sklearn.best_known``; this module searches
and records rows in it. Regenerate or extend it (each (task, seed) search is independent and
deterministic, so a row is reproduced by re-running its task and seed with the row's
``n_evals``; rows of other tasks are kept, and a row is only replaced by a better one unless
``--replace`` is given, so the table holds the best of every search run, each row with the
command that reproduces it)::

    python -m hpbench.problems.sklearn.best_known_search --tasks default --repeats 10 --evals 512
    python -m hpbench.problems.sklearn.best_known_search --tasks 'sklearn-*-iris-*' --evals 512
    python -m hpbench.problems.sklearn.best_known_search --check  # re-evaluate every stored config
    python -m hpbench.problems.sklearn.best_known_search --tasks table --refresh  # stale values

A task whose rows take longer than one process can give them is split by running the same
command with ``--skip-existing`` in several processes (one per core): each takes the rows no
other process holds (``row_claim``), and a stopped run is resumed by running it again.

The search, per task and seed, at full fidelity:

1. a scrambled Sobol design (``optimizers/baselines/quasi_random.py``) for a quarter of the budget
   (Bergstra & Bengio 2012: quasi-random beats grid on low effective dimension);
2. uniform random search (``optimizers/baselines/random_search.py``) for another quarter;
3. a (1+1) local search in the unit cube around the best point for the rest: Gaussian steps
   on numeric coordinates with the 1/5th success rule for the step size (Rechenberg 1973),
   categorical coordinates redrawn with probability 1/d, equal values accepted as neutral
   moves (plateaus of the error rate), and a restart from the next best distinct point of
   phases 1–2 after 40 evaluations without improvement.

Phases 1 and 2 are cells (``hpbench.cell.Cell``) run on the search's one problem instance,
with the optimizer seeded from the search's own stream. Every random stream is derived from
the problem seed with ``hpbench.seeds.child_seed``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.budget import Budget
from hpbench.cell import Cell, Seeds
from hpbench.locks import claim
from hpbench.problems.sklearn.best_known import (
    SEARCH_MODULE,
    TABLE,
    Row,
    read_table,
    record,
    seed_key,
    table_lock,
    write_table,
)
from hpbench.problems.sklearn.tasks import DEFAULT_TASKS
from hpbench.registry import list_problems, make_problem
from hpbench.seeds import child_seed, problem_seed

#: share of the budget for the Sobol and the random phase (each); the local search gets the rest
DESIGN_SHARE = 0.25
#: local-search evaluations without improvement before a restart
PATIENCE = 40


def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _design_phase(problem, name: str, n: int, seed: int) -> list[tuple[float, float, dict]]:
    """Run optimizer ``name`` (seed ``seed``) for ``n`` evaluations on ``problem`` itself:
    (value, test value, config) of its finite evaluations, in trial order."""
    cell = Cell(problem.name, name, Budget(n), seeds=Seeds(problem=problem.seed, optimizer=seed))
    result = cell.run(problem=problem)
    if result.n_trials == 0 and result.status != "done":
        raise RuntimeError(f"{problem.name} seed {problem.seed}: the {name} phase failed: "
                           f"{result.reason}")
    cols = result.columns
    out = []
    for cfg, v, tv, st in zip(cols["config"], cols["value"], cols["test_value"],
                              cols["status"]):
        if st == "ok" and math.isfinite(v):
            out.append((float(v), float(tv), json.loads(cfg)))
    return out


def _local_search(problem, pool: list[tuple[float, float, dict]], n: int,
                  rng: np.random.Generator, seen: set[str]) -> list[tuple[float, float, dict]]:
    space = problem.space
    dims = space.dims
    numeric = np.array([d.kind != "cat" for d in dims])
    starts = []
    for v, tv, cfg in sorted(pool, key=lambda r: r[0]):
        if _key(cfg) not in {_key(c) for _, _, c in starts}:
            starts.append((v, tv, cfg))
    out: list[tuple[float, float, dict]] = []
    if not starts:
        return out
    start_i = 0
    inc_v, _, inc_cfg = starts[0]
    inc_u = space.to_unit(inc_cfg)
    sigma, stale, window, wins = 0.1, 0, 0, 0
    attempts = 0
    p_cat = 1.0 / max(1, len(dims))
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        u = inc_u.copy()
        step = rng.normal(0.0, sigma, len(dims))
        u[numeric] = np.clip(u[numeric] + step[numeric], 0.0, 1.0)
        redraw = (~numeric) & (rng.random(len(dims)) < p_cat)
        u[redraw] = rng.random(int(redraw.sum()))
        cfg = space.from_unit(u)
        key = _key(cfg)
        if key in seen:
            # a step too small to leave the incumbent's cell: grow it a little
            sigma = min(0.5, sigma * 1.1)
            continue
        seen.add(key)
        try:
            ev = problem.evaluate(cfg)
            v = float(ev.value)
            tv = math.nan if ev.test_value is None else float(ev.test_value)
        except Exception:
            v, tv = math.inf, math.nan
        if math.isfinite(v):
            out.append((v, tv, cfg))
        else:
            out.append((math.inf, math.nan, cfg))
        window += 1
        if v < inc_v:
            inc_v, inc_u, stale = v, u, 0
            wins += 1
        else:
            stale += 1
            if v == inc_v:
                # error rates are step functions of the config: walk along the plateau
                # instead of stalling on it (a neutral move, not a success)
                inc_u = u
        if window == 10:  # the 1/5th success rule, checked every 10 steps
            sigma = float(np.clip(sigma * (1.5 if wins > 2 else 1 / 1.5), 0.01, 0.5))
            window = wins = 0
        if stale >= PATIENCE and start_i + 1 < len(starts):
            start_i += 1
            inc_v, _, inc_cfg = starts[start_i]
            inc_u = space.to_unit(inc_cfg)
            sigma, stale = 0.1, 0
    return [r for r in out if math.isfinite(r[0])]


def search(task: str, seed: int | None, evals: int) -> tuple[float, float, dict, int]:
    """The long search for ``task`` at problem seed ``seed``: (value, test value, config, n)."""
    problem = make_problem(task, seed=seed)
    problem.score_test = False  # the CV loss drives the search; the test part is scored once
    base = 0 if seed is None else int(seed)
    n_design = max(1, int(evals * DESIGN_SHARE))
    pool = _design_phase(problem, "sobol", n_design, child_seed(base, "best-known", "sobol"))
    pool += _design_phase(problem, "random", n_design,
                          child_seed(base, "best-known", "random"))
    seen = {_key(c) for _, _, c in pool}
    rng = np.random.default_rng(child_seed(base, "best-known", "local"))
    pool += _local_search(problem, pool, evals - 2 * n_design, rng, seen)
    if not pool:
        raise RuntimeError(f"{task} seed {seed}: every evaluation of the search failed")
    # ties (common for the error rate) go to the earliest config found
    value, _, config = min(pool, key=lambda r: r[0])
    problem.score_test = True
    test_value = float(problem.evaluate(config).test_value)
    return value, test_value, config, evals


def expand_tasks(patterns: Sequence[str], path: Path | str = TABLE) -> list[str]:
    """Task names from names, shell patterns, ``default``, ``paper`` (all) or ``table``."""
    every = [n for n in list_problems() if n.startswith("sklearn-")]
    out: list[str] = []
    for p in patterns:
        if p == "default":
            names = list(DEFAULT_TASKS)
        elif p == "paper":
            names = every
        elif p == "table":
            names = sorted({t for t, _ in read_table(path)})
        else:
            names = fnmatch.filter(every, p)
            if not names:
                raise SystemExit(f"best_known_search: {p!r} matches no sklearn task")
        out += [n for n in names if n not in out]
    return out


def _reevaluated(path: Path | str, tasks: Sequence[str] | None, rtol: float):
    """(row, evaluation of its config now) for every row whose config no longer evaluates to
    its value (relative tolerance ``rtol``)."""
    problems: dict[tuple[str, str], Any] = {}
    for (task, key), row in sorted(read_table(path).items()):
        if tasks is not None and task not in tasks:
            continue
        seed = None if key == "none" else int(key)
        problem = problems.setdefault((task, key), make_problem(task, seed=seed))
        got = problem.evaluate(row.config)
        if not math.isclose(got.value, row.value, rel_tol=rtol, abs_tol=1e-12):
            yield row, got


def check(path: Path | str = TABLE, tasks: Sequence[str] | None = None,
          rtol: float = 1e-6) -> list[str]:
    """Re-evaluate every stored config; return a message per row it no longer reproduces."""
    return [f"{row.task} seed {row.problem_seed}: table {row.value!r}, evaluates to "
            f"{got.value!r}" for row, got in _reevaluated(path, tasks, rtol)]


def refresh(path: Path | str = TABLE, tasks: Sequence[str] | None = None,
            rtol: float = 1e-6) -> list[str]:
    """Rewrite the value and test value of every row whose config no longer evaluates to
    them, keeping its config and ``n_evals``: for a change of the arithmetic the tasks are
    evaluated with (numpy's kernels, ``hpbench/_numerics.py``), not of the tasks, which
    needs a new search instead. Returns a message per row rewritten."""
    with table_lock(path):
        changed = {(row.task, row.problem_seed): dataclasses.replace(
            row, value=float(got.value), test_value=float(got.test_value))
            for row, got in _reevaluated(path, tasks, rtol)}
        if changed:
            write_table({**read_table(path), **changed}.values(), path)
    return [f"{r.task} repeat {r.repeat}: {r.value!r} (test {r.test_value!r})"
            for r in changed.values()]


def row_claim(path: Path | str, task: str, key: str):
    """Claim one row of the table for this process, without waiting: yields whether it got
    it. Processes filling in the same task (``--skip-existing``) each take the rows nobody
    holds, so N processes share one task's rows instead of each searching all of them; this
    is what lets a task whose rows take longer than one session be split over the cores.
    A claim is an ``flock`` on ``<table>.<task>.<seed>.lock`` (``hpbench.locks.claim``): the
    kernel drops it when its process dies, so a killed search never leaves a row claimed. It
    is released after the row is recorded, and whoever gets it next checks the table first.
    """
    return claim(f"{path}.{task}.{key}.lock")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {SEARCH_MODULE}",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["default"],
                        help="task names or patterns, 'default', 'paper' (all) or 'table'")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--master-seed", type=int, default=0)
    parser.add_argument("--evals", type=int, default=512)
    parser.add_argument("--no-canonical", action="store_true",
                        help="skip the canonical instance (seed None)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="keep rows already in the table (whatever their --evals) and "
                        "rows another process is searching: run the same command in N "
                        "processes to split a task's rows among them")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite a row even when the new search found a worse value "
                             "(by default the better of the old and the new row is kept)")
    parser.add_argument("--table", default=str(TABLE))
    parser.add_argument("--check", action="store_true",
                        help="re-evaluate the stored configs instead of searching")
    parser.add_argument("--refresh", action="store_true",
                        help="re-evaluate the stored configs and rewrite the values of the "
                             "rows that no longer reproduce (configs kept)")
    args = parser.parse_args(argv)
    tasks = expand_tasks(args.tasks, args.table)
    if args.check or args.refresh:
        lines = (refresh if args.refresh else check)(args.table, tasks)
        print("\n".join(lines) or f"all rows of {len(tasks)} task(s) reproduce")
        return 1 if lines and args.check else 0
    for task in tasks:
        seeds: list[tuple[str, int | None]] = [] if args.no_canonical else [("canonical", None)]
        seeds += [(str(r), problem_seed(args.master_seed, task, r))
                  for r in range(args.repeats)]
        for repeat, seed in seeds:
            key = seed_key(seed)
            claimed = (row_claim(args.table, task, key) if args.skip_existing
                       else contextlib.nullcontext(True))
            with claimed as mine:
                if not mine:
                    print(f"{task} repeat {repeat}: another process is searching it; skipped",
                          flush=True)
                    continue
                if args.skip_existing and (task, key) in read_table(args.table):
                    continue
                t0 = time.perf_counter()
                value, test_value, config, n = search(task, seed, args.evals)
                old, kept = record(Row(task, args.master_seed, repeat, key, value, test_value,
                                       n, config), args.table, replace=args.replace)
            print(f"{task} repeat {repeat}: {value:.6g} (test {test_value:.6g}) "
                  f"in {time.perf_counter() - t0:.0f}s"
                  + (f"; kept the table's {old.value:.6g}" if kept else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

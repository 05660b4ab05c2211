"""Best-known losses of the scikit-learn tasks: the table, and the long search that makes it.

The tasks of ``hpbench.problems.sklearn.tasks`` have no known optimum, so regret is measured against
the best loss a long, seeded, offline search found for that task and problem seed ("regret vs
best known"). The table ``problems/sklearn/best_known.csv`` holds one row per task and
seed: the problem seed is ``hpbench.seeds.problem_seed(master_seed, task, repeat)`` (what the
runner builds for that repeat), ``none`` for the canonical instance (seed None).

Regenerate or extend it (each (task, seed) search is independent and deterministic, so a row
is reproduced by re-running its task and seed with the row's ``n_evals``; rows of other tasks
are kept, and a row is only replaced by a better one unless ``--replace`` is given, so the
table holds the best of every search run, each row with the command that reproduces it)::

    python -m hpbench.problems.sklearn.best_known --tasks default --repeats 10 --evals 512
    python -m hpbench.problems.sklearn.best_known --tasks 'sklearn-*-iris-*' --evals 512
    python -m hpbench.problems.sklearn.best_known --check     # re-evaluate every stored best config

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

Every random stream is derived from the problem seed with ``hpbench.seeds.child_seed``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import fnmatch
import functools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.budget import Budget
from hpbench.seeds import child_seed, problem_seed

TABLE = Path(__file__).resolve().parent / "best_known.csv"
COLUMNS = ("task", "master_seed", "repeat", "problem_seed", "value", "test_value", "n_evals",
           "config")
#: share of the budget for the Sobol and the random phase (each); the local search gets the rest
DESIGN_SHARE = 0.25
#: local-search evaluations without improvement before a restart
PATIENCE = 40
HEADER = """\
# Best known k-fold CV loss of the scikit-learn tasks (problems/sklearn/tasks.py), per task and
# problem seed; the optimum the analysis measures "regret vs best known" against.
# value: best full-fidelity CV loss found; test_value: that config's held-out test loss;
# config: the config (JSON). problem_seed = hpbench.seeds.problem_seed(master_seed, task,
# repeat), "none" for the canonical instance (seed None, repeat "canonical").
# Search per row: Sobol (1/4 of n_evals) + random (1/4) + (1+1) local search (rest), seeded
# from the problem seed; see problems/sklearn/best_known.py. Reproduce a row with
#   python -m hpbench.problems.sklearn.best_known --tasks <task> --repeats <R> \
#       --master-seed <M> --evals <n>
"""


def command(task: str, repeats: int, master_seed: int, evals: int) -> str:
    """The command that reproduces the rows of ``task``."""
    return (f"python -m hpbench.problems.sklearn.best_known --tasks {task} --repeats {repeats} "
            f"--master-seed {master_seed} --evals {evals}")


@dataclass(frozen=True)
class Row:
    task: str
    master_seed: int
    repeat: str  # "canonical" or the repeat index
    problem_seed: str  # "none" or the integer
    value: float
    test_value: float
    n_evals: int
    config: dict[str, Any]
    command: str = ""

    def to_csv(self) -> list[str]:
        return [self.task, str(self.master_seed), self.repeat, self.problem_seed,
                repr(self.value), repr(self.test_value), str(self.n_evals),
                json.dumps(self.config, sort_keys=True)]


def seed_key(seed: int | None) -> str:
    return "none" if seed is None else str(int(seed))


def read_table(path: Path | str = TABLE) -> dict[tuple[str, str], Row]:
    """The table's rows keyed by (task, problem seed key); ``{}`` if there is no table."""
    path = Path(path)
    if not path.exists():
        return {}
    st = path.stat()
    # every write is a new file (rename), so inode, size and time identify a version even
    # where the file system's clock is too coarse to tell two quick writes apart
    return dict(_read_cached(str(path), (st.st_ino, st.st_size, st.st_mtime_ns)))


@functools.cache
def _read_cached(path: str, _version: tuple) -> tuple[tuple[tuple[str, str], Row], ...]:
    with open(path, newline="") as fh:
        lines = [line for line in fh if not line.startswith("#") and line.strip()]
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return ()
    if tuple(header) != COLUMNS:
        raise ValueError(f"{path}: columns must be {list(COLUMNS)}, got {header}")
    rows: dict[tuple[str, str], Row] = {}
    n_repeats: dict[tuple[str, int], int] = {}
    parsed = []
    for rec in reader:
        task, master, repeat, pseed, value, test_value, n_evals, config = rec
        parsed.append((task, int(master), repeat, pseed, float(value), float(test_value),
                       int(n_evals), json.loads(config)))
        if repeat != "canonical":
            key = (task, int(master))
            n_repeats[key] = max(n_repeats.get(key, 0), int(repeat) + 1)
    for task, master, repeat, pseed, value, test_value, n_evals, config in parsed:
        cmd = command(task, n_repeats.get((task, master), 1), master, n_evals)
        rows[(task, pseed)] = Row(task, master, repeat, pseed, value, test_value, n_evals,
                                  config, cmd)
    return tuple(rows.items())


def lookup(task: str, seed: int | None, path: Path | str = TABLE) -> Row | None:
    """The best-known row of ``task`` at problem seed ``seed`` (None if not in the table)."""
    return read_table(path).get((task, seed_key(seed)))


def write_table(rows: Iterable[Row], path: Path | str = TABLE) -> None:
    """Write ``rows`` atomically (temporary file, then rename), sorted by task and repeat."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def order(r: Row) -> tuple:
        return (r.task, r.master_seed, -1 if r.repeat == "canonical" else int(r.repeat))

    import sklearn

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".best_known.", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(HEADER)
            fh.write(f"# last written with scikit-learn {sklearn.__version__}, numpy "
                     f"{np.__version__}, {time.strftime('%Y-%m-%d')}\n")
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for r in sorted(rows, key=order):
                writer.writerow(r.to_csv())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the search ------------------------------------------------------------------------------
def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _design_phase(problem, name: str, n: int, seed: int) -> list[tuple[float, float, dict]]:
    from hpbench.registry import make_optimizer
    from hpbench.runner import run_loop

    budget = Budget(n)
    opt = make_optimizer(name, problem.space, seed=seed, budget=budget)
    cols = run_loop(problem, opt, budget).columns
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
    from hpbench.registry import make_problem

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
    from hpbench.problems.sklearn.tasks import DEFAULT_TASKS
    from hpbench.registry import list_problems

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
                raise SystemExit(f"best_known: {p!r} matches no sklearn task")
        out += [n for n in names if n not in out]
    return out


def check(path: Path | str = TABLE, tasks: Sequence[str] | None = None,
          rtol: float = 1e-6) -> list[str]:
    """Re-evaluate every stored config; return a message per row it no longer reproduces."""
    from hpbench.registry import make_problem

    problems: dict[tuple[str, str], Any] = {}
    bad = []
    for (task, key), row in sorted(read_table(path).items()):
        if tasks is not None and task not in tasks:
            continue
        seed = None if key == "none" else int(key)
        problem = problems.setdefault((task, key), make_problem(task, seed=seed))
        got = problem.evaluate(row.config).value
        if not math.isclose(got, row.value, rel_tol=rtol, abs_tol=1e-12):
            bad.append(f"{task} seed {key}: table {row.value!r}, evaluates to {got!r}")
    return bad


@contextlib.contextmanager
def table_lock(path: Path | str):
    """An exclusive lock on ``<table>.lock`` for a read-modify-write of the table, so that
    several searches (``--tasks`` split over processes) never lose each other's rows."""
    lock = Path(f"{path}.lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def row_claim(path: Path | str, task: str, key: str):
    """Claim one row of the table for this process, without waiting: yields whether it got
    it. Processes filling in the same task (``--skip-existing``) each take the rows nobody
    holds, so N processes share one task's rows instead of each searching all of them; this
    is what lets a task whose rows take longer than one session be split over the cores.
    A claim is an ``flock`` on ``<table>.<task>.<seed>.lock``: the kernel drops it when its
    process dies, so a killed search never leaves a row claimed."""
    claim = Path(f"{path}.{task}.{key}.lock")
    with open(claim, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # unlink while still holding it: a process that opened the same file before the
            # unlink gets the lock only after this one has recorded its row, and skips it
            claim.unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(row: Row, path: Path | str = TABLE, *, replace: bool = False
           ) -> tuple[Row | None, bool]:
    """Put ``row`` in the table unless it holds a better one for the same task and seed
    (``replace`` puts it in anyway): (the old row, whether the old row was kept)."""
    with table_lock(path):  # searches may run in parallel on one table
        rows = read_table(path)
        key = (row.task, row.problem_seed)
        old = rows.get(key)
        kept = not replace and old is not None and old.value <= row.value
        if not kept:
            rows[key] = row
            write_table(rows.values(), path)
    return old, kept


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hpbench.problems.sklearn.best_known",
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
    args = parser.parse_args(argv)
    tasks = expand_tasks(args.tasks, args.table)
    if args.check:
        bad = check(args.table, tasks)
        print("\n".join(bad) or f"all rows of {len(tasks)} task(s) reproduce")
        return 1 if bad else 0
    for task in tasks:
        seeds: list[tuple[str, int | None]] = [] if args.no_canonical else [("canonical", None)]
        seeds += [(str(r), problem_seed(args.master_seed, task, r))
                  for r in range(args.repeats)]
        for repeat, seed in seeds:
            key = seed_key(seed)
            claim = (row_claim(args.table, task, key) if args.skip_existing
                     else contextlib.nullcontext(True))
            with claim as mine:
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

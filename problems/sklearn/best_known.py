"""Best-known losses of the scikit-learn tasks: the table the tasks read their optimum from.

The tasks of ``hpbench.problems.sklearn.tasks`` have no known optimum, so regret is measured against
the best loss a long, seeded, offline search found for that task and problem seed ("regret vs
best known"). The table ``problems/sklearn/best_known.csv`` holds one row per task and
seed: the problem seed is ``hpbench.seeds.problem_seed(master_seed, task, repeat)`` (what the
runner builds for that repeat), ``none`` for the canonical instance (seed None).

This module is what the tasks import (``lookup``), and what the search records its rows
with (``record``); it imports nothing of the tasks. The search that makes the rows, and its
command line, are ``hpbench.problems.sklearn.best_known_search``: each row reproduces with
``command(...)``, e.g.::

    python -m hpbench.problems.sklearn.best_known_search --tasks default --repeats 10 --evals 512

A row is only replaced by a better one unless the search is told to ``--replace`` it, so the
table holds the best of every search run, each row with the command that reproduces it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench.locks import exclusive_lock
from hpbench.problems.tables import read_versioned
from hpbench.store import atomic_write

TABLE = Path(__file__).resolve().parent / "best_known.csv"
COLUMNS = ("task", "master_seed", "repeat", "problem_seed", "value", "test_value", "n_evals",
           "config")
#: the module whose command line searches and records the rows
SEARCH_MODULE = "hpbench.problems.sklearn.best_known_search"
HEADER = f"""\
# Best known k-fold CV loss of the scikit-learn tasks (problems/sklearn/tasks.py), per task and
# problem seed; the optimum the analysis measures "regret vs best known" against.
# value: best full-fidelity CV loss found; test_value: that config's held-out test loss;
# config: the config (JSON). problem_seed = hpbench.seeds.problem_seed(master_seed, task,
# repeat), "none" for the canonical instance (seed None, repeat "canonical").
# Search per row: Sobol (1/4 of n_evals) + random (1/4) + (1+1) local search (rest), seeded
# from the problem seed; see problems/sklearn/best_known_search.py. Reproduce a row with
#   python -m {SEARCH_MODULE} --tasks <task> --repeats <R> --master-seed <M> --evals <n>
"""


def command(task: str, repeats: int, master_seed: int, evals: int) -> str:
    """The command that reproduces the rows of ``task``."""
    return (f"python -m {SEARCH_MODULE} --tasks {task} --repeats {repeats} "
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
    return dict(read_versioned(path, COLUMNS, _rows) or ())


def _rows(records: list[list[str]]) -> tuple[tuple[tuple[str, str], Row], ...]:
    rows: dict[tuple[str, str], Row] = {}
    n_repeats: dict[tuple[str, int], int] = {}
    parsed = []
    for rec in records:
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
    """Write ``rows`` atomically (``hpbench.store.atomic_write``), sorted by task and repeat."""
    import numpy as np
    import sklearn

    def order(r: Row) -> tuple:
        return (r.task, r.master_seed, -1 if r.repeat == "canonical" else int(r.repeat))

    fh = io.StringIO(newline="")
    fh.write(HEADER)
    fh.write(f"# last written with scikit-learn {sklearn.__version__}, numpy "
             f"{np.__version__}, {time.strftime('%Y-%m-%d')}\n")
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(rows, key=order):
        writer.writerow(r.to_csv())
    atomic_write(path, fh.getvalue())


def table_lock(path: Path | str = TABLE):
    """An exclusive lock on ``<table>.lock`` for a read-modify-write of the table, so that
    several searches (``--tasks`` split over processes) never lose each other's rows
    (``hpbench.locks.exclusive_lock``: blocks until it is free)."""
    return exclusive_lock(f"{path}.lock")


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

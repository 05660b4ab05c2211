"""Spread versus noise of the problems without a known optimum: which tasks can tell optimizers
apart.

A task is *informative* when the configurations an optimizer can choose differ by more than
what the instance alone changes. This module measures both, per problem, and ships them in
one table per family (``problems/sklearn/spread.csv``, ``problems/torch/spread.csv``); the
families read the table when they register their problems and tag a flagged one
``uninformative`` (with the numbers in the registry entry's ``note``, shown by ``hpbench
list problems``), and the ``paper`` suite leaves that tag out (``exclude_tags``).

Definitions, per problem (``master_seed`` 0, every value at full fidelity, the problem's
default settings unless the table's ``settings`` column says otherwise):

* **spread** — the interquartile range (IQR) of the value over ``n_configs`` configurations
  drawn uniformly in the unit cube (``Space.sample`` with a Generator seeded from
  ``child_seed(master_seed, "spread", problem)``) on the canonical instance (seed None).
  The table also holds their standard deviation, their 5–95 % range and their median. The
  IQR, not the standard deviation: a few diverged or degenerate configs (a log-loss of 34
  nats) would make a flat task look wide.
* **noise** — the standard deviation of the config × instance interaction: ``n_noise``
  of those configs (at evenly spaced ranks between the 10th and the 90th percentile of their
  canonical values, so the measured noise is that of ordinary configs, not of diverged ones)
  are evaluated on ``n_instances`` instances — the canonical one and the repeats
  ``problem_seed(master_seed, problem, r)``, r = 0, 1, … that a suite builds — giving a
  matrix V (config × instance); the noise is the root mean square of the residual of the
  additive fit ``V ≈ config effect + instance effect`` (two-way ANOVA without replication,
  ``(M - 1)(S - 1)`` degrees of freedom).

  Why this is the noise a benchmark user meets: every optimizer of a suite meets the same
  instance at repeat r (its data split, folds, estimator and weight seeds), and regret is
  measured per instance against that instance's best-known value, so a shift that moves
  every config of an instance alike cancels out of every comparison. What does not cancel is
  how much a config's value moves *relative to the other configs* from one repeat to the
  next: the interaction. When random configs differ by less than that (spread <= noise),
  which of two configs is better is decided by the repeat's data split rather than by the
  configs, and the optimizers' ranking on the task is mostly noise. The table also holds
  ``instance_sd``, the pooled standard deviation of one config's value over the instances
  (interaction plus instance shift), for reference.

* **flag** — ``uninformative`` when ``spread_iqr <= noise_sd`` (a zero spread is flagged:
  there is nothing to tell apart).

Measure (resumable: a problem already in its table is skipped unless ``--redo``; several
processes running the same command share the work through per-problem claims)::

    python -m hpbench.problems.spread --problems 'sklearn-mlp-*' --n-configs 16 --n-noise 3 \\
        --n-instances 3
    python -m hpbench.problems.spread --problems 'sklearn-*'    # the rest: MLPs have rows
    python -m hpbench.problems.spread --problems 'torch-*' --n-configs 12 --n-noise 4 \\
        --n-instances 3 --setting epochs=5

The shipped tables were made with these commands, on a shared 2-core machine with a CPU
budget: the first two ran at the same time and shared the scikit-learn MLPs (the slowest
tasks) through their claims, so about half of the MLP rows have 16 configs and noise on 3
of them over 3 instances, the rest the defaults (24 configs; noise on 4 over 4 instances; the
columns n_configs, n_noise and n_instances say which); the PyTorch nets have
12 configs, noise on 4 over 3 instances, at 5 epochs instead of their default 10–25 (their
``settings`` column): a proxy for the full-length nets, whose values at 5 epochs are further
from converged. Each row records what it was measured with.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.locks import claim, exclusive_lock
from hpbench.problems.cli_args import setting
from hpbench.problems.tables import read_versioned
from hpbench.store import atomic_write

HERE = Path(__file__).resolve().parent
#: the table of each family, by the prefix of its problem names
TABLES = {"sklearn-": HERE / "sklearn" / "spread.csv", "torch-": HERE / "torch" / "spread.csv"}
COLUMNS = ("problem", "settings", "n_configs", "n_failed", "median", "spread_iqr", "spread_sd",
           "range_5_95", "n_noise", "n_instances", "noise_sd", "instance_sd", "uninformative",
           "cpu_s")
#: the tag a flagged problem gets in the registry, and that the ``paper`` suite leaves out
TAG = "uninformative"
MODULE = "hpbench.problems.spread"
HEADER = f"""\
# Spread versus noise of each problem (module {MODULE}, which defines every column):
# spread_iqr / spread_sd / range_5_95 / median: of the value over n_configs seeded random
# configs on the canonical instance at full fidelity; noise_sd: sd of the config x instance
# interaction of n_noise of them over n_instances instances (canonical + repeats 0, 1, ...);
# instance_sd: pooled sd of one config's value over those instances; uninformative:
# spread_iqr <= noise_sd. settings: the problem settings measured with (JSON).
"""


@dataclass(frozen=True)
class SpreadRow:
    problem: str
    settings: dict[str, Any]
    n_configs: int
    n_failed: int
    median: float
    spread_iqr: float
    spread_sd: float
    range_5_95: float
    n_noise: int
    n_instances: int
    noise_sd: float
    instance_sd: float
    cpu_s: float

    @property
    def uninformative(self) -> bool:
        # NaN noise (too few finite values to estimate it) flags nothing
        return bool(self.spread_iqr <= self.noise_sd)

    def note(self) -> str:
        """One line for ``hpbench list problems``: the numbers behind the flag."""
        where = f" at {_settings_text(self.settings)}" if self.settings else ""
        verdict = "<=" if self.uninformative else ">"
        return (f"{TAG if self.uninformative else 'informative'}: spread (IQR over "
                f"{self.n_configs} random configs) {self.spread_iqr:.3g} {verdict} noise "
                f"(config x instance sd, {self.n_instances} instances) {self.noise_sd:.3g}"
                f"{where}")

    def to_csv(self) -> list[str]:
        return [self.problem, json.dumps(self.settings, sort_keys=True), str(self.n_configs),
                str(self.n_failed), *(repr(float(x)) for x in (
                    self.median, self.spread_iqr, self.spread_sd, self.range_5_95)),
                str(self.n_noise), str(self.n_instances), repr(float(self.noise_sd)),
                repr(float(self.instance_sd)), str(self.uninformative).lower(),
                f"{self.cpu_s:.1f}"]


def _settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))


def table_for(problem: str) -> Path:
    """The table that holds ``problem``'s row (by its family's name prefix)."""
    for prefix, path in TABLES.items():
        if problem.startswith(prefix):
            return path
    raise ValueError(f"no spread table for {problem!r}: the tables hold the problems named "
                     f"{', '.join(p + '*' for p in TABLES)}")


# --- reading ------------------------------------------------------------------------------
def read_table(path: Path | str) -> dict[str, SpreadRow]:
    """The table's rows by problem name; ``{}`` if there is no table."""
    return dict(read_versioned(path, COLUMNS, _rows) or ())


def _rows(records: list[list[str]]) -> tuple[tuple[str, SpreadRow], ...]:
    rows = []
    for rec in records:
        d = dict(zip(COLUMNS, rec, strict=True))
        rows.append((d["problem"], SpreadRow(
            d["problem"], json.loads(d["settings"]), int(d["n_configs"]), int(d["n_failed"]),
            float(d["median"]), float(d["spread_iqr"]), float(d["spread_sd"]),
            float(d["range_5_95"]), int(d["n_noise"]), int(d["n_instances"]),
            float(d["noise_sd"]), float(d["instance_sd"]), float(d["cpu_s"]))))
    return tuple(rows)


def lookup(problem: str, path: Path | str | None = None) -> SpreadRow | None:
    """``problem``'s row (None when its table has none)."""
    return read_table(table_for(problem) if path is None else path).get(problem)


def registration(problem: str, tags: Sequence[str], path: Path | str | None = None
                 ) -> tuple[tuple[str, ...], str]:
    """The registry tags and note of ``problem``: its ``tags`` plus ``uninformative``, and
    the row's numbers as the note, when its row is flagged; else the tags as given and no
    note. The flag is registry metadata only, never a tag of the built problem: a remeasured
    table must not change problem fingerprints and so invalidate stored cells."""
    row = lookup(problem, path)
    if row is None or not row.uninformative:
        return tuple(tags), ""
    return (*tags, TAG), row.note()


def write_table(rows: Sequence[SpreadRow], path: Path | str) -> None:
    fh = io.StringIO(newline="")
    fh.write(HEADER)
    fh.write(f"# last written {time.strftime('%Y-%m-%d')}\n")
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.problem):
        writer.writerow(row.to_csv())
    atomic_write(path, fh.getvalue())


def record(row: SpreadRow, path: Path | str) -> None:
    """Put ``row`` in the table (replacing the problem's old row), under the table's lock so
    that processes measuring other problems never lose each other's rows."""
    with exclusive_lock(f"{path}.lock"):
        rows = read_table(path)
        rows[row.problem] = row
        write_table(list(rows.values()), path)


# --- measuring ----------------------------------------------------------------------------
def _value(problem, config) -> float:
    try:
        v = float(problem.evaluate(config).value)
    except Exception:  # a failing config is a failed trial in a run: not a value
        return math.nan
    return v if math.isfinite(v) else math.nan


def _build(name: str, seed: int | None, settings: Mapping[str, Any]):
    from hpbench.registry import make_problem

    problem = make_problem(name, seed=seed, **settings)
    if hasattr(problem, "score_test"):
        problem.score_test = False  # only the CV value is measured: one fit in k + 1 saved
    return problem


def interaction_sd(values: np.ndarray) -> float:
    """Root mean square residual of the additive fit of a (config × instance) matrix."""
    v = np.asarray(values, dtype=float)
    m, s = v.shape
    if m < 2 or s < 2:
        return math.nan
    resid = v - v.mean(axis=1, keepdims=True) - v.mean(axis=0, keepdims=True) + v.mean()
    return float(np.sqrt(np.sum(resid ** 2) / ((m - 1) * (s - 1))))


def noise_ranks(values: np.ndarray, n: int) -> list[int]:
    """Indices of ``n`` finite values at evenly spaced ranks between their 10th and 90th
    percentile (the configs the noise is measured on)."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    if len(order) == 0 or n <= 0:
        return []
    lo, hi = 0.1 * (len(order) - 1), 0.9 * (len(order) - 1)
    picks = np.unique(np.round(np.linspace(lo, hi, min(n, len(order)))).astype(int))
    return [int(order[i]) for i in picks]


def measure(name: str, *, n_configs: int = 24, n_noise: int = 4, n_instances: int = 4,
            master_seed: int = 0, settings: Mapping[str, Any] | None = None) -> SpreadRow:
    """Measure ``name``'s spread and noise (see the module docstring)."""
    from hpbench.seeds import child_seed, problem_seed

    settings = dict(settings or {})
    t0 = time.process_time()
    canonical = _build(name, None, settings)
    rng = np.random.default_rng(child_seed(master_seed, "spread", name))
    configs = canonical.space.sample(rng, n_configs)
    values = np.array([_value(canonical, c) for c in configs])
    ok = values[np.isfinite(values)]
    if len(ok) < 4:
        raise RuntimeError(f"{name}: only {len(ok)} of {n_configs} random configs evaluated; "
                           "too few to measure a spread")
    q5, q25, q50, q75, q95 = np.percentile(ok, [5, 25, 50, 75, 95])
    picked = noise_ranks(values, n_noise)
    matrix = [[values[i]] for i in picked]
    for r in range(n_instances - 1):
        instance = _build(name, problem_seed(master_seed, name, r), settings)
        for row, i in zip(matrix, picked):
            row.append(_value(instance, configs[i]))
    v = np.array([row for row in matrix if all(map(math.isfinite, row))], dtype=float)
    noise = interaction_sd(v) if len(v) else math.nan
    inst = float(np.sqrt(np.mean(np.var(v, axis=1, ddof=1)))) if len(v) and \
        v.shape[1] > 1 else math.nan
    return SpreadRow(name, settings, n_configs, int(n_configs - len(ok)), float(q50),
                     float(q75 - q25), float(np.std(ok, ddof=1)), float(q95 - q5), len(v),
                     n_instances, noise, inst, time.process_time() - t0)


# --- command line -------------------------------------------------------------------------
def _names(patterns: Sequence[str]) -> list[str]:
    from hpbench.registry import list_problems

    every = [n for n in list_problems() if any(n.startswith(p) for p in TABLES)]
    out: list[str] = []
    for p in patterns:
        names = fnmatch.filter(every, p)
        if not names:
            raise SystemExit(f"{MODULE}: {p!r} matches no problem with a spread table "
                             f"({', '.join(p + '*' for p in TABLES)})")
        out += [n for n in names if n not in out]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=["sklearn-*"],
                        help="problem names or shell patterns (sklearn-* and torch-* only)")
    parser.add_argument("--n-configs", type=int, default=24)
    parser.add_argument("--n-noise", type=int, default=4)
    parser.add_argument("--n-instances", type=int, default=4)
    parser.add_argument("--master-seed", type=int, default=0)
    parser.add_argument("--setting", type=setting, action="append", default=[],
                        metavar="KEY=VALUE", help="a problem setting (JSON value), repeatable")
    parser.add_argument("--redo", action="store_true",
                        help="measure problems that already have a row again")
    parser.add_argument("--table", help="write here instead of the family's table")
    args = parser.parse_args(argv)
    settings = dict(args.setting)
    for name in _names(args.problems):
        path = Path(args.table) if args.table else table_for(name)
        with claim(f"{path}.{name}.lock") as mine:
            if not mine:
                print(f"{name}: another process is measuring it; skipped", flush=True)
                continue
            if not args.redo and name in read_table(path):
                continue
            row = measure(name, n_configs=args.n_configs, n_noise=args.n_noise,
                          n_instances=args.n_instances, master_seed=args.master_seed,
                          settings=settings)
            record(row, path)
        print(f"{name}: {row.note()} ({row.cpu_s:.0f} s CPU)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the library adapters (issue 4, "Quality and speed bar").

* Adapter overhead: the harness (``run_loop`` + ``optuna-tpe``) against ``study.optimize``
  with the same sampler and seed, 400 trials of a microsecond objective, alternated in one
  process; the bar is at most 5 % more wall time.
* Time per suggestion at 200 observations for ``skopt-gp`` and ``bayes-opt`` on Branin (2-d)
  and Hartmann6 (6-d), with the adapters' default single BLAS/OpenMP thread and with the
  libraries' default threading: the numbers ``gp-bo`` is compared against.
* Wall time per 100 evaluations of every adapter on Branin.

Each test prints a Markdown table and writes it as a section of ``results/perf/adapters.md``.
Sizes: ``HPBENCH_PERF_ROUNDS`` (overhead rounds, default 7), ``HPBENCH_PERF_ADAPTER_EVALS``
(evaluations per adapter for the per-100 table, default 100),
``HPBENCH_PERF_SUGGESTIONS`` (timed suggestions after 200 observations, default 5).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Float, Optimum, Problem, Space
from hpbench.cell import Cell, Seeds
from hpbench.runner import run_loop

OUT = Path(__file__).resolve().parents[1] / "results" / "perf" / "adapters.md"
ROUNDS = int(os.environ.get("HPBENCH_PERF_ROUNDS", "7"))
EVALS = int(os.environ.get("HPBENCH_PERF_ADAPTER_EVALS", "100"))
SUGGESTIONS = int(os.environ.get("HPBENCH_PERF_SUGGESTIONS", "5"))
OVERHEAD_TRIALS = 400
OVERHEAD_BAR = 1.05
SEED = 0

ADAPTERS = ["optuna-tpe", "optuna-tpe-multivariate", "optuna-gp", "optuna-cmaes", "optuna-qmc",
            "optuna-random", "hyperopt-tpe", "hyperopt-anneal", "hyperopt-rand", "skopt-gp",
            "skopt-forest", "skopt-gbrt", "bayes-opt", "ng-ngopt", "ng-oneplusone",
            "ng-twopointsde", "ng-pso", "ng-cma", "sklearn-grid", "sklearn-random"]


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of ``results/perf/adapters.md``."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    title_line = "# Adapter benchmarks (benchmarks/test_adapters.py)\n"
    text = OUT.read_text() if OUT.exists() else title_line
    head, *sections = text.split("\n## ")
    kept = [s for s in sections if s.split("\n", 1)[0].strip() != title]
    kept.append(f"{title}\n\n{body.strip()}\n")
    OUT.write_text("\n## ".join([head.rstrip() + "\n", *kept]))
    print(f"\n## {title}\n\n{body}")


class Square(Problem):
    """x^2 + y^2: a microsecond objective, so timings measure the optimizer and the harness."""

    def __init__(self) -> None:
        super().__init__(Space(x=Float(-5.0, 10.0), y=Float(0.0, 15.0)), name="square",
                         optimum=Optimum(0.0, {"x": 0.0, "y": 0.0}, source="x=y=0"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return config["x"] ** 2 + config["y"] ** 2


class Branin(Problem):
    """Branin–Hoo (Dixon & Szegő 1978; constants as in Surjanovic & Bingham's library)."""

    def __init__(self) -> None:
        super().__init__(Space(x1=Float(-5.0, 10.0), x2=Float(0.0, 15.0)), name="branin",
                         optimum=Optimum(0.397887, None, source="Dixon & Szegő 1978"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        x1, x2 = config["x1"], config["x2"]
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


class Hartmann6(Problem):
    """Hartmann 6-d (Dixon & Szegő 1978; constants as in Surjanovic & Bingham's library)."""

    A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
    P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
    ALPHA = np.array([1.0, 1.2, 3.0, 3.2])

    def __init__(self) -> None:
        super().__init__(Space({f"x{i}": Float(0.0, 1.0) for i in range(6)}), name="hartmann6",
                         optimum=Optimum(-3.32237, None, source="Dixon & Szegő 1978"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        x = np.array([config[f"x{i}"] for i in range(6)])
        return float(-self.ALPHA @ np.exp(-(self.A * (x - self.P) ** 2).sum(axis=1)))


# ------------------------------------------------------------------------------ overhead

SAMPLER_HOOKS = ("infer_relative_search_space", "sample_relative", "sample_independent",
                 "before_trial", "after_trial")


def _time_sampler(sampler) -> list[float]:
    """Accumulate the wall time spent inside ``sampler``'s hooks (instance-level wrappers,
    the same in both runs); returns the one-element accumulator."""
    spent = [0.0]
    for hook in SAMPLER_HOOKS:
        inner = getattr(sampler, hook)

        def timed(*args, _inner=inner, **kwargs):
            t0 = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t0

        setattr(sampler, hook, timed)
    return spent


def _library_run(seed: int) -> tuple[float, float]:
    """``study.optimize`` with ``TPESampler(seed, multivariate=False)``:
    (total, inside-sampler) wall seconds."""
    import optuna

    def f(trial):
        x, y = trial.suggest_float("x", -5.0, 10.0), trial.suggest_float("y", 0.0, 15.0)
        return x * x + y * y

    t0 = time.perf_counter()
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=False)
    spent = _time_sampler(sampler)
    optuna.create_study(sampler=sampler).optimize(f, n_trials=OVERHEAD_TRIALS)
    return time.perf_counter() - t0, spent[0]


def _harness_run(seed: int, record: list | None = None) -> None:
    # run_loop on an optimizer built here, not a Cell: the sampler of this very optimizer is
    # instrumented before the loop starts
    t0 = time.perf_counter()
    problem = Square()
    opt = hpbench.make_optimizer("optuna-tpe", problem.space, seed=seed,
                                 budget=Budget(OVERHEAD_TRIALS))
    spent = _time_sampler(opt.study.sampler)
    result = run_loop(problem, opt, Budget(OVERHEAD_TRIALS))
    if record is not None:
        record.append((time.perf_counter() - t0, spent[0]))
    assert result.n_trials == OVERHEAD_TRIALS


def test_optuna_tpe_adapter_overhead(benchmark):
    """The harness adds at most 5 % wall time over ``study.optimize`` (same sampler, seed).

    Both runs propose the same 400 configs (``test_adapter_fidelity``), so the sampler does
    the same work in both and any difference is the harness: the runner's validation,
    timing and trial columns, and the ask/tell API (whose ``tell`` returns a deep copy of
    the trial, which ``optimize`` skips). The machine is shared (load 5–12 on 2 cores while
    this was written: the same run's wall time varied by ±25 %), which swamps a 5 % effect
    in raw totals. So the time spent inside the sampler's hooks is measured in both runs and
    the bar is checked on what remains: added = median(harness − sampler) − median(library −
    sampler), overhead = 1 + added / median(library total). The raw ratios are reported too.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # warm both paths (imports, first-call caches) before timing
    _harness_run(SEED)
    _library_run(SEED)
    library: list[tuple[float, float]] = []
    harness: list[tuple[float, float]] = []
    # the library run happens in setup, right before each timed harness round: alternated,
    # same process, same seed
    benchmark.pedantic(_harness_run, args=(SEED, harness), rounds=ROUNDS, iterations=1,
                       setup=lambda: library.append(_library_run(SEED)))
    med = statistics.median
    lib_total, har_total = [t for t, _ in library], [t for t, _ in harness]
    lib_rest = [t - s for t, s in library]
    har_rest = [t - s for t, s in harness]
    added = med(har_rest) - med(lib_rest)
    overhead = 1 + added / med(lib_total)
    raw_min = min(har_total) / min(lib_total)
    raw_median = med(har_total) / med(lib_total)
    benchmark.extra_info.update(overhead=overhead, added_s=added, raw_min_ratio=raw_min,
                                raw_median_ratio=raw_median)
    write_section("Adapter overhead: optuna-tpe, 400 trials, microsecond objective", "\n".join([
        f"Alternated rounds in one process, medians of {len(library)} rounds (wall seconds).",
        "",
        "| run | total | inside the sampler | outside the sampler |",
        "|---|---|---|---|",
        f"| `study.optimize` (TPESampler seed={SEED}) | {med(lib_total):.3f} | "
        f"{med(s for _, s in library):.3f} | {med(lib_rest):.3f} |",
        f"| hpbench `run_loop` + `optuna-tpe` | {med(har_total):.3f} | "
        f"{med(s for _, s in harness):.3f} | {med(har_rest):.3f} |",
        "",
        f"Harness adds {added * 1000 / OVERHEAD_TRIALS:.2f} ms per trial: overhead "
        f"**{overhead:.3f}** (bar {OVERHEAD_BAR:.2f}). Raw total ratios, noise included: "
        f"{raw_min:.3f} (min), {raw_median:.3f} (median).",
    ]))
    assert overhead <= OVERHEAD_BAR, f"harness overhead {overhead:.3f} > {OVERHEAD_BAR}"


# ------------------------------------------------------------------ suggestion at 200 obs

def _per_suggestion(name: str, problem: Problem, threads: int | None) -> float:
    """Median wall seconds of one ask + evaluate + tell cycle once 200 observations are in.

    The first 200 points are the adapter's own random initial design (``n_initial_points``
    / ``init_points`` = 200), so filling the history costs no model fits.
    """
    init = {"skopt-gp": "n_initial_points", "bayes-opt": "init_points"}[name]
    total = 200 + SUGGESTIONS
    opt = hpbench.make_optimizer(name, problem.space, seed=SEED, budget=Budget(total),
                                 **{init: 200, "threads": threads})
    times = []
    for i in range(total):
        t0 = time.perf_counter()
        suggestion = opt.ask(1)[0]
        value = problem.evaluate(suggestion.config).value
        opt.tell([hpbench.Observation(suggestion, i, value, "ok")])
        if i >= 200:  # the 200th tell fits the first model (skopt); time the cycles after it
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@pytest.mark.parametrize("threads", [1, None], ids=["threads1", "threads-default"])
def test_time_per_suggestion_at_200_observations(threads):
    rows = []
    for problem in (Branin(), Hartmann6()):
        for name in ("skopt-gp", "bayes-opt"):
            s = _per_suggestion(name, problem, threads)
            rows.append(f"| {name} | {problem.name} | {s:.3f} |")
            assert math.isfinite(s) and s > 0
    label = "1 (adapter default)" if threads == 1 else "library default"
    write_section(f"Time per suggestion at 200 observations, threads: {label}", "\n".join([
        f"Median of {SUGGESTIONS} ask+evaluate+tell cycles after 200 observations "
        f"(seed {SEED}).",
        "",
        "| optimizer | problem | s / suggestion |",
        "|---|---|---|",
        *rows,
    ]))


# ---------------------------------------------------------------- time per 100 evaluations

def test_time_per_100_evaluations_on_branin():
    rows = []
    problem = Branin()
    for name in ADAPTERS:
        cell = Cell(problem.name, name, Budget(EVALS), seeds=Seeds(problem=None, optimizer=SEED))
        t0 = time.perf_counter()
        result = cell.run(problem=problem)
        wall = time.perf_counter() - t0
        assert result.status == "done" and result.n_trials == EVALS, (name, result.reason)
        best = float(np.nanmin(result.columns["value"]))
        rows.append(f"| {name} | {wall * 100 / EVALS:.2f} | {best - 0.397887:.4f} |")
    write_section(f"Wall time per 100 evaluations on Branin ({EVALS} evaluations, seed {SEED})",
                  "\n".join([
                      "Optimizer time only (Branin costs microseconds): one cell, building "
                      "the adapter included. Regret is of one seed: a smoke check, not a "
                      "comparison.",
                      "",
                      "| adapter | s / 100 evaluations | final regret |",
                      "|---|---|---|",
                      *rows,
                  ]))

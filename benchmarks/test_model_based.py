"""Quality and speed of our model-based optimizers (issue 4, "Quality and speed bar").

* ``gp-bo`` against ``skopt-gp`` and ``bayes-opt`` on seeded Branin and Hartmann6 instances:
  median final regret after 100 evaluations over 10 repeats (bar: no worse than either);
* time per suggestion at 200 observations, ``gp-bo`` against ``skopt-gp`` (bar: at most half):
  each optimizer fills its first 200 observations with its own initial design (``n_init`` /
  ``n_initial_points`` = 200, so no model is fitted on the way) and the next ask + evaluate +
  tell cycles are timed, alternating between the optimizers in one process;
* the same in CPU time at 200 and 400 observations against ``optuna-gp`` (bar: no slower);
* gp-bo's robustness on seeded instances (issue 33): median and worst final regret after 100
  evaluations on Hartmann6 (bars 1e-3 and 0.05) and Branin (median 1e-4), and, reported
  without a bar, on problems it was not tuned on next to ``skopt-gp`` and ``optuna-gp``;
* ``tpe`` against ``optuna-tpe`` on the synthetic problems of the default suite, 200
  evaluations: per-problem median final regret, and the geometric mean over problems of the
  ratio tpe / optuna-tpe (bar: at most 1.2), and the time per suggestion over the last 20
  trials (bar: no slower).

Each test prints a Markdown table and writes it as a section of
``results/perf/model_based.md``. Sizes: ``HPBENCH_PERF_REPEATS`` (repeats, default 10),
``HPBENCH_PERF_SUGGESTIONS`` (timed cycles after 200 observations, default 5).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

import hpbench
from hpbench import Budget
from hpbench.cell import Cell
from hpbench.seeds import problem_seed

OUT = Path(__file__).resolve().parents[1] / "results" / "perf" / "model_based.md"
REPEATS = int(os.environ.get("HPBENCH_PERF_REPEATS", "10"))
SUGGESTIONS = int(os.environ.get("HPBENCH_PERF_SUGGESTIONS", "5"))
MASTER = 0

GP_PROBLEMS = ("branin", "hartmann6")
GP_RIVALS = ("skopt-gp", "bayes-opt")
GP_BUDGET = 100
#: the synthetic problems of hpbench/suites/default.toml
TPE_PROBLEMS = ("branin", "hartmann3", "hartmann6", "six-hump-camel", "goldstein-price",
                "ackley-5d", "rastrigin-5d", "levy-5d", "rosenbrock-5d", "styblinski-tang-5d",
                "michalewicz-5d", "branin-noisy", "mixed-ackley-5d")
TPE_BUDGET = 200
TPE_RATIO_BAR = 1.2
#: regrets below this count as this (ratios of two solved runs carry no information)
REGRET_FLOOR = 1e-9


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of ``results/perf/model_based.md``."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = OUT.read_text() if OUT.exists() else \
        "# Model-based optimizers (benchmarks/test_model_based.py)\n"
    head, *sections = text.split("\n## ")
    kept = [s for s in sections if s.split("\n", 1)[0].strip() != title]
    kept.append(f"{title}\n\n{body.strip()}\n")
    OUT.write_text("\n## ".join([head.rstrip() + "\n", *kept]))
    print(f"\n## {title}\n\n{body}")


def require(*names: str) -> None:
    registered = set(hpbench.list_optimizers())
    missing = [n for n in names if n not in registered]
    assert not missing, f"optimizer(s) {missing} are not registered (their adapter is missing)"


def final_regrets(problem_name: str, optimizer: str, budget: int) -> tuple[list[float], float]:
    """Final regrets of ``REPEATS`` seeded cells, and the mean ask + tell seconds over the
    last 20 trials."""
    regrets, tail = [], []
    for r in range(REPEATS):
        cell = Cell(problem_name, optimizer, Budget(budget), repeat=r, master_seed=MASTER)
        problem = cell.build_problem()
        result = cell.run(problem=problem)
        assert result.status == "done" and result.n_trials == budget, (optimizer, result.reason)
        true = np.array(result.columns["true_value"], dtype=float)
        regrets.append(float(np.nanmin(true)) - problem.optimum.value)
        cols = result.columns
        tail.extend(a + t for a, t in zip(cols["ask_s"][-20:], cols["tell_s"][-20:]))
    return regrets, float(np.mean(tail))


def fmt(x: float) -> str:
    return f"{x:.3g}"


# ------------------------------------------------------------------------------- gp-bo quality

def test_gp_bo_regret_against_skopt_and_bayes_opt():
    require("gp-bo", *GP_RIVALS)
    rows, failures = [], []
    for p in GP_PROBLEMS:
        medians = {}
        for name in ("gp-bo", *GP_RIVALS):
            regrets, _ = final_regrets(p, name, GP_BUDGET)
            medians[name] = statistics.median(regrets)
            q1, q3 = np.percentile(regrets, [25, 75])
            rows.append(f"| {p} | {name} | {fmt(medians[name])} | {fmt(q1)} – {fmt(q3)} |")
        for rival in GP_RIVALS:
            if medians["gp-bo"] > medians[rival]:
                failures.append(f"{p}: gp-bo {medians['gp-bo']:.3g} > {rival} "
                                f"{medians[rival]:.3g}")
    write_section(f"gp-bo final regret, {GP_BUDGET} evaluations", "\n".join([
        f"{REPEATS} repeats on seeded instances (master seed {MASTER}); regret = best true "
        "value − optimum.",
        "",
        "| problem | optimizer | median regret | IQR |",
        "|---|---|---|---|",
        *rows,
        "",
        "Bar: gp-bo's median no worse than skopt-gp's and bayes-opt's on each problem: "
        + ("**met**." if not failures else "**not met**: " + "; ".join(failures)),
    ]))
    assert not failures, failures


# --------------------------------------------------------------------------- gp-bo speed

#: how each optimizer is told to fill its first n observations with its initial design
_INIT = {"gp-bo": lambda n: {"n_init": n}, "skopt-gp": lambda n: {"n_initial_points": n},
         "optuna-gp": lambda n: {"options": {"n_startup_trials": n}}}


def _cycle_times(name: str, problem_name: str, n_obs: int = 200,
                 clock=time.perf_counter) -> list[float]:
    """Seconds (of ``clock``) of the ask + evaluate + tell cycles after ``n_obs``
    observations."""
    total = n_obs + SUGGESTIONS
    problem = hpbench.make_problem(problem_name, seed=problem_seed(MASTER, problem_name, 0))
    opt = hpbench.make_optimizer(name, problem.space, seed=0, budget=Budget(total),
                                 **_INIT[name](n_obs))
    times = []
    for i in range(total):
        t0 = clock()
        s = opt.ask(1)[0]
        s = s if isinstance(s, hpbench.Suggestion) else hpbench.Suggestion(s)
        value = problem.evaluate(s.config).value
        opt.tell([hpbench.Observation(s, i, value, "ok")])
        if i >= n_obs:  # the n_obs-th tell fits skopt's first model; time the cycles after it
            times.append(clock() - t0)
    return times


def test_gp_bo_time_per_suggestion_at_200_observations():
    require("gp-bo", "skopt-gp")
    rows, failures = [], []
    for p in GP_PROBLEMS:
        ours, theirs = _cycle_times("gp-bo", p), _cycle_times("skopt-gp", p)
        ratio = statistics.median(ours) / statistics.median(theirs)
        rows.append(f"| {p} | {statistics.median(ours):.3f} | {statistics.median(theirs):.3f} "
                    f"| {ratio:.3f} |")
        if ratio > 0.5:
            failures.append(f"{p}: ratio {ratio:.3f} > 0.5")
    write_section("gp-bo time per suggestion at 200 observations", "\n".join([
        f"Median of {SUGGESTIONS} ask + evaluate + tell cycles after 200 observations (each "
        "optimizer's own initial design of 200 points; both with one BLAS thread).",
        "",
        "| problem | gp-bo (s) | skopt-gp (s) | gp-bo / skopt-gp |",
        "|---|---|---|---|",
        *rows,
        "",
        "Bar: ratio at most 0.5: " + ("**met**." if not failures else
                                      "**not met**: " + "; ".join(failures)),
    ]))
    assert not failures, failures


GP_OBSERVATIONS = (200, 400)


def test_gp_bo_time_per_suggestion_against_optuna_gp():
    """CPU time (``time.process_time``) per ask + evaluate + tell at 200 and 400 observations,
    gp-bo against Optuna's GPSampler, alternating in one process (issue 33)."""
    require("gp-bo", "optuna-gp")
    rows, failures = [], []
    for p in GP_PROBLEMS:
        for n in GP_OBSERVATIONS:
            ours = statistics.median(_cycle_times("gp-bo", p, n, time.process_time))
            theirs = statistics.median(_cycle_times("optuna-gp", p, n, time.process_time))
            ratio = ours / theirs
            rows.append(f"| {p} | {n} | {ours * 1e3:.0f} | {theirs * 1e3:.0f} | {ratio:.2f} |")
            if ratio > 1.0:
                failures.append(f"{p} at {n}: ratio {ratio:.2f} > 1")
    write_section("gp-bo time per suggestion against optuna-gp", "\n".join([
        f"Median CPU ms of {SUGGESTIONS} ask + evaluate + tell cycles after n observations "
        "(each optimizer's own initial design of n points; both with one BLAS thread).",
        "",
        "| problem | n | gp-bo (ms) | optuna-gp (ms) | gp-bo / optuna-gp |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Bar: ratio at most 1: " + ("**met**." if not failures else
                                    "**not met**: " + "; ".join(failures)),
    ]))
    assert not failures, failures


#: issue 33: gp-bo's robustness bar on seeded instances, 100 evaluations
GP_ROBUST_BARS = {"hartmann6": (1e-3, 0.05), "branin": (1e-4, None)}
#: problems gp-bo was not tuned on: reported against the rivals, no bar
GP_GENERALISATION = ("ackley-5d", "rosenbrock-5d", "levy-5d")
GP_GENERAL_RIVALS = ("skopt-gp", "optuna-gp")


def _spread(regrets: list[float]) -> str:
    q1, q3 = np.percentile(regrets, [25, 75])
    return (f"{fmt(statistics.median(regrets))} | {fmt(q1)} – {fmt(q3)} | "
            f"{fmt(max(regrets))}")


def test_gp_bo_robust_on_seeded_instances():
    """Median and worst final regret of gp-bo over the repeats against the bars of issue 33,
    and (reported, not asserted) on problems it was not tuned on, next to skopt-gp and
    optuna-gp; rotated and BBOB problems join when they are registered."""
    require("gp-bo", *GP_GENERAL_RIVALS)
    registered = set(hpbench.list_problems())
    extra = sorted(p for p in registered
                   if p.startswith("bbob-f") or (p.endswith("-rot") and p[:-4]
                                                 in GP_GENERALISATION))
    rows, failures = [], []
    for p, (median_bar, worst_bar) in GP_ROBUST_BARS.items():
        regrets, _ = final_regrets(p, "gp-bo", GP_BUDGET)
        rows.append(f"| {p} | gp-bo | {_spread(regrets)} |")
        if statistics.median(regrets) > median_bar:
            failures.append(f"{p}: median {statistics.median(regrets):.3g} > {median_bar:g}")
        if worst_bar is not None and max(regrets) > worst_bar:
            failures.append(f"{p}: worst {max(regrets):.3g} > {worst_bar:g}")
    general = []
    for p in (*GP_GENERALISATION, *extra[:6]):
        for name in ("gp-bo", *GP_GENERAL_RIVALS):
            general.append(f"| {p} | {name} | {_spread(final_regrets(p, name, GP_BUDGET)[0])} |")
    write_section(f"gp-bo robustness, {GP_BUDGET} evaluations", "\n".join([
        f"{REPEATS} repeats on seeded instances (master seed {MASTER}); regret = best true "
        "value − optimum.",
        "",
        "| problem | optimizer | median | IQR | worst |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Bars: " + "; ".join(f"{p} median ≤ {m:g}" + (f", worst ≤ {w:g}" if w else "")
                             for p, (m, w) in GP_ROBUST_BARS.items())
        + ": " + ("**met**." if not failures else "**not met**: " + "; ".join(failures)),
        "",
        "Problems gp-bo was not tuned on (reported, no bar):",
        "",
        "| problem | optimizer | median | IQR | worst |",
        "|---|---|---|---|---|",
        *general,
    ]))
    assert not failures, failures


# ------------------------------------------------------------------------------------- tpe

def test_tpe_against_optuna_tpe_on_the_synthetic_suite():
    require("tpe", "optuna-tpe")
    rows, ratios = [], []
    times: dict[str, list[float]] = {"tpe": [], "optuna-tpe": []}
    for p in TPE_PROBLEMS:
        medians = {}
        for name in ("tpe", "optuna-tpe"):
            regrets, tail = final_regrets(p, name, TPE_BUDGET)
            medians[name] = max(statistics.median(regrets), REGRET_FLOOR)
            times[name].append(tail)
        ratio = medians["tpe"] / medians["optuna-tpe"]
        ratios.append(ratio)
        rows.append(f"| {p} | {fmt(medians['tpe'])} | {fmt(medians['optuna-tpe'])} | "
                    f"{ratio:.2f} |")
    geo = math.exp(float(np.mean(np.log(ratios))))
    t_ours, t_theirs = float(np.mean(times["tpe"])), float(np.mean(times["optuna-tpe"]))
    quality_ok, speed_ok = geo <= TPE_RATIO_BAR, t_ours <= t_theirs
    write_section(f"tpe against optuna-tpe, {TPE_BUDGET} evaluations",
                  "\n".join([
                      f"Median final regret per problem over {REPEATS} repeats (seeded "
                      f"instances, master seed {MASTER}; regrets floored at {REGRET_FLOOR:g}).",
                      "",
                      "| problem | tpe | optuna-tpe | tpe / optuna-tpe |",
                      "|---|---|---|---|",
                      *rows,
                      "",
                      f"Geometric mean of the ratios: **{geo:.3f}** (bar {TPE_RATIO_BAR}): "
                      + ("met." if quality_ok else "**not met**."),
                      f"Problems where tpe is within {TPE_RATIO_BAR}x: "
                      f"{sum(r <= TPE_RATIO_BAR for r in ratios)} of {len(ratios)}.",
                      "",
                      "Time per suggestion (ask + tell, mean over the last 20 of "
                      f"{TPE_BUDGET} trials, all cells): tpe {t_ours * 1e3:.2f} ms, "
                      f"optuna-tpe {t_theirs * 1e3:.2f} ms, ratio {t_ours / t_theirs:.3f} "
                      "(bar: at most 1): " + ("met." if speed_ok else "**not met**."),
                  ]))
    assert quality_ok, f"tpe / optuna-tpe geometric mean {geo:.3f} > {TPE_RATIO_BAR}"
    assert speed_ok, f"tpe {t_ours:.4f} s per suggestion > optuna-tpe {t_theirs:.4f} s"

"""Quality and speed of the model-based optimizers side by side (issue 31, "Quality and speed,
side by side"): hpbench's own ``gp-bo``, ``tpe`` and ``rf-smbo`` against every model-based
adapter that is registered and installed (Optuna's TPE and GP, scikit-optimize's GP,
Hyperopt's TPE, bayes_opt, SMAC3's black-box and HPO facades, Ax, the BoTorch tutorial loop,
HEBO when its peer environment is built).

* **Final regret.** Each optimizer on branin, hartmann6 and two 5-D BBOB functions (f08,
  Rosenbrock, of the low-conditioning group; f15, rotated Rastrigin, multimodal with adequate
  structure), 100 evaluations, 10 repeats on seeded instances (master seed 0): median and
  IQR of the final regret (best true value − optimum), and the mean CPU seconds of a cell.
  Two BBOB functions, not one per COCO group: a repeat of every optimizer on one problem
  costs about 15 CPU minutes (measured on hartmann6: HEBO 347 s a cell, SMAC's GP 204 s,
  Ax 116 s, BoTorch 107 s, skopt 67 s), so the 4 problems × 10 repeats are about 10 CPU
  hours; ``HPBENCH_PERF_PEER_PROBLEMS`` adds more (f02, f10, f21 were the first choice).
* **Suggestion time.** CPU seconds (``time.process_time``, every thread of this process) of
  one ``ask`` and its ``tell`` (scikit-optimize fits its model in ``tell``) once 100 and 200
  observations are told, the mean of a few such cycles, on hartmann6. The observations are
  the optimizer's own random or quasi-random initial design, stretched to n points with its
  initial-design setting, so no model is fitted on the way: a direct measurement, not an
  n-evaluation run. An optimizer without such a setting (Hyperopt, SMAC) is run for n
  evaluations first; the table says so.

Cells are slow (Ax and BoTorch spend about a second of CPU per ask), so each finished cell and
timing is appended to a cache beside the table (``results/perf/model_based_peers.jsonl``)
and a rerun with the same sizes picks up where the last one stopped; the table is rewritten
from the cache after every cell, with the number of repeats done in each row. It reports,
it asserts nothing about who wins: the point is the numbers.

The regret cells run in ``HPBENCH_PERF_PEER_WORKERS`` processes (default: one per core). A
cell's CPU seconds are those of the process that ran it (and of its external worker), so
running cells side by side changes them only through shared caches and memory bandwidth; the
suggestion times are measured one at a time, in this process.

Sizes (environment): ``HPBENCH_PERF_PEER_REPEATS`` (default 10), ``HPBENCH_PERF_PEER_EVALS``
(default 100), ``HPBENCH_PERF_PEER_PROBLEMS`` and ``HPBENCH_PERF_PEER_OPTIMIZERS``
(comma-separated; default all of the above), ``HPBENCH_PERF_PEER_OBSERVATIONS`` (default
"100,200"), ``HPBENCH_PERF_PEER_ASKS`` (timed asks per point, default 3) and
``HPBENCH_PERF_PEER_TIMING_PROBLEMS`` (default hartmann6).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import hpbench
from benchmarks.conftest import PERF_DIR, write_table
from hpbench import Budget
from hpbench.cell import Cell
from hpbench.registry import get_entry
from hpbench.seeds import problem_seed


def _env_list(key: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(key, default).split(",") if x.strip()]


AREA = "model_based_peers"
CACHE = PERF_DIR / f"{AREA}.jsonl"
MASTER = 0
REPEATS = int(os.environ.get("HPBENCH_PERF_PEER_REPEATS", "10"))
EVALS = int(os.environ.get("HPBENCH_PERF_PEER_EVALS", "100"))
ASKS = int(os.environ.get("HPBENCH_PERF_PEER_ASKS", "3"))
PROBLEMS = _env_list("HPBENCH_PERF_PEER_PROBLEMS", "branin,hartmann6,bbob-f08-5d,bbob-f15-5d")
OURS = ("gp-bo", "tpe", "rf-smbo")
PEERS = ("optuna-tpe", "optuna-gp", "skopt-gp", "hyperopt-tpe", "bayes-opt", "smac-bb",
         "smac-hpo", "ax-botorch", "botorch-qlognei", "hebo")
OPTIMIZERS = _env_list("HPBENCH_PERF_PEER_OPTIMIZERS", ",".join((*OURS, *PEERS)))
OBSERVATIONS = [int(n) for n in _env_list("HPBENCH_PERF_PEER_OBSERVATIONS", "100,200")]
TIMING_PROBLEMS = _env_list("HPBENCH_PERF_PEER_TIMING_PROBLEMS", "hartmann6")
#: observations of the untimed warm-up run before an optimizer's suggestion times
WARM_UP = 10
WORKERS = int(os.environ.get("HPBENCH_PERF_PEER_WORKERS", str(os.cpu_count() or 1)))

#: settings that make an optimizer's initial (quasi-)random design n points long
INIT = {
    "gp-bo": lambda n: {"n_init": n},
    "tpe": lambda n: {"n_startup": n},
    "rf-smbo": lambda n: {"n_init": n},
    "optuna-tpe": lambda n: {"options": {"multivariate": False, "n_startup_trials": n}},
    "optuna-gp": lambda n: {"options": {"n_startup_trials": n}},
    "skopt-gp": lambda n: {"n_initial_points": n},
    "bayes-opt": lambda n: {"init_points": n},
    "ax-botorch": lambda n: {"initialization_budget": n},
    "botorch-qlognei": lambda n: {"n_init": n},
    "hebo": lambda n: {"rand_sample": n},
}


def runnable() -> tuple[list[str], list[str]]:
    """(the optimizers of ``OPTIMIZERS`` that are registered and installed, the others with
    why not)."""
    registered = set(hpbench.list_optimizers())
    ok, left_out = [], []
    for name in OPTIMIZERS:
        if name not in registered:
            left_out.append(f"{name} (not registered)")
        elif not get_entry("optimizer", name).available:
            missing = ", ".join(get_entry("optimizer", name).missing())
            left_out.append(f"{name} (needs {missing})")
        else:
            ok.append(name)
    return ok, left_out


# -- the cache -------------------------------------------------------------------------------

def load_cache() -> list[dict]:
    if not CACHE.exists():
        return []
    rows = []
    for line in CACHE.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a killed run
            continue
    return rows


def append_cache(row: dict) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE, "a") as f:  # one short line per write: appends do not interleave
        f.write(json.dumps(row) + "\n")


# -- measuring -------------------------------------------------------------------------------

def cpu_now() -> float:
    """CPU seconds of this process and of its ended children: an external optimizer's
    worker (``hpbench.external``) is a child, reaped when its cell ends."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def worker_cpu(optimizer: object) -> float:
    """CPU seconds so far of an external optimizer's live worker process (0 in-process)."""
    proc = getattr(optimizer, "_proc", None)
    if proc is None:
        return 0.0
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def run_cell(problem: str, optimizer: str, repeat: int) -> dict:
    """One seeded cell of ``EVALS`` evaluations: its final regret and CPU seconds (an
    external optimizer's worker included)."""
    cell = Cell(problem, optimizer, Budget(EVALS), repeat=repeat, master_seed=MASTER)
    prob = cell.build_problem()
    t0 = cpu_now()
    result = cell.run(problem=prob)
    cpu = cpu_now() - t0
    row = {"kind": "regret", "problem": problem, "optimizer": optimizer, "repeat": repeat,
           "evals": EVALS, "cpu_s": cpu, "status": str(result.status), "regret": None}
    if result.status == "done" and result.n_trials == EVALS:
        true = np.array(result.columns["true_value"], dtype=float)
        row["regret"] = float(np.nanmin(true)) - prob.optimum.value
    else:
        row["reason"] = f"{result.reason}: {result.error}"[-300:]
    return row


def run_cells(todo: list[tuple[str, str, int]], workers: int) -> Iterator[dict]:
    """``run_cell`` of each (problem, optimizer, repeat) of ``todo``, in ``workers`` spawned
    processes (in this one when 1), each row as soon as its cell ends. An error escapes as it
    does from ``run_cell``: the cells that ended are in the cache, and a rerun resumes."""
    if workers <= 1:
        yield from (run_cell(*job) for job in todo)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(run_cell, *job) for job in todo]):
            yield fut.result()


def ask_times(optimizer: str, problem: str, n_obs: int) -> dict:
    """Mean CPU seconds of ``ASKS`` ask + tell cycles (the objective left out) once
    ``n_obs`` observations are told."""
    prob = hpbench.make_problem(problem, seed=problem_seed(MASTER, problem, 0))
    how = "own design" if optimizer in INIT else "own run"
    settings = INIT[optimizer](n_obs) if optimizer in INIT else {}
    opt = hpbench.make_optimizer(optimizer, prob.space, seed=0,
                                 budget=Budget(n_obs + ASKS), **settings)
    times = []
    for i in range(n_obs + ASKS):
        t0 = time.process_time() + worker_cpu(opt)
        s = opt.ask(1)[0]
        dt = time.process_time() + worker_cpu(opt) - t0
        s = s if isinstance(s, hpbench.Suggestion) else hpbench.Suggestion(s)
        value = prob.evaluate(s.config).value
        t0 = time.process_time() + worker_cpu(opt)
        opt.tell([hpbench.Observation(s, i, value, "ok")])
        dt += time.process_time() + worker_cpu(opt) - t0
        if i >= n_obs:  # skopt fits its model in tell: a suggestion costs ask + tell
            times.append(dt)
    return {"kind": "time", "problem": problem, "optimizer": optimizer, "n_obs": n_obs,
            "asks": ASKS, "how": how, "ask_cpu_s": statistics.mean(times)}


# -- the table -------------------------------------------------------------------------------

def fmt(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3g}"


def regret_section(rows: list[dict]) -> str:
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    seen = set()
    for r in rows:
        if r["kind"] != "regret" or r["evals"] != EVALS:
            continue
        key = (r["problem"], r["optimizer"], r["repeat"])
        if key not in seen:  # the first row of a cell: two runs sharing the cache may both
            seen.add(key)    # have run it
            cells[r["problem"], r["optimizer"]].append(r)
    order = {n: i for i, n in enumerate((*OURS, *PEERS))}
    lines = [f"## Final regret after {EVALS} evaluations",
             "",
             f"Median and IQR over repeats on seeded instances (master seed {MASTER}; BBOB: "
             "repeat k is COCO instance k % 15 + 1); regret = best true value − optimum; "
             "CPU s = mean CPU seconds of a cell (optimizer and objective). Bold: the lowest "
             "median of the problem.",
             "",
             "| problem | optimizer | repeats | median regret | IQR | CPU s / cell |",
             "|---|---|---|---|---|---|"]
    problems = [p for p in PROBLEMS if any(k[0] == p for k in cells)]
    problems += sorted({k[0] for k in cells} - set(problems))
    for p in problems:
        names = sorted((k[1] for k in cells if k[0] == p), key=lambda n: (order.get(n, 99), n))
        meds = {}
        for n in names:
            done = [r["regret"] for r in cells[p, n] if r["regret"] is not None]
            meds[n] = statistics.median(done) if done else math.nan
        best = min((m for m in meds.values() if math.isfinite(m)), default=math.nan)
        for n in names:
            done = [r["regret"] for r in cells[p, n] if r["regret"] is not None]
            failed = len(cells[p, n]) - len(done)
            q1, q3 = np.percentile(done, [25, 75]) if done else (math.nan, math.nan)
            med = fmt(meds[n])
            if meds[n] == best:
                med = f"**{med}**"
            cpu = statistics.mean(r["cpu_s"] for r in cells[p, n])
            reps = f"{len(done)}" + (f" (+{failed} failed)" if failed else "")
            lines.append(f"| {p} | {n} | {reps} | {med} | {fmt(q1)} – {fmt(q3)} | "
                         f"{cpu:.1f} |")
    return "\n".join(lines)


def time_section(rows: list[dict]) -> str:
    times = {(r["problem"], r["optimizer"], r["n_obs"]): r for r in rows if r["kind"] == "time"}
    order = {n: i for i, n in enumerate((*OURS, *PEERS))}
    lines = ["## Suggestion time",
             "",
             "Mean CPU seconds (``time.process_time``, all threads of the process, plus an "
             "external optimizer's worker process; the "
             "adapters run their libraries with one BLAS/OpenMP thread) of one ask and its "
             "tell (the objective left out) once n observations are told. Filled by: *own "
             "design* = the optimizer's initial design stretched to n points (no model "
             "fitted on the way), *own run* = n evaluations of the optimizer itself (no "
             "initial-design setting).",
             "",
             "| problem | optimizer | " + " | ".join(f"at {n} obs (s)" for n in OBSERVATIONS)
             + " | filled by |",
             "|---|---|" + "---|" * len(OBSERVATIONS) + "---|"]
    keys = sorted({(p, o) for p, o, _ in times},
                  key=lambda k: (k[0], order.get(k[1], 99), k[1]))
    for p, o in keys:
        cols = [fmt(times[p, o, n]["ask_cpu_s"]) if (p, o, n) in times else "–"
                for n in OBSERVATIONS]
        how = next(times[p, o, n]["how"] for n in OBSERVATIONS if (p, o, n) in times) \
            if any((p, o, n) in times for n in OBSERVATIONS) else ""
        lines.append(f"| {p} | {o} | " + " | ".join(cols) + f" | {how} |")
    return "\n".join(lines)


def write(left_out: list[str]) -> Path:
    rows = load_cache()
    load = os.getloadavg()
    head = ["# Model-based optimizers side by side (benchmarks/test_model_based_peers.py)",
            "",
            f"Cells from {CACHE.name}; the machine's load average when this file was written: "
            f"{load[0]:.1f} (1 min), {load[2]:.1f} (15 min) on {os.cpu_count()} cores. CPU "
            "times are per process, so load slows the wall clock, not these numbers (but "
            "shared caches and memory bandwidth still cost a little).",
            ""]
    if left_out:
        head += ["Left out: " + "; ".join(left_out) + ".", ""]
    return write_table(AREA, "\n".join([*head, regret_section(rows), "",
                                        time_section(rows), ""]))


# -- the benchmarks --------------------------------------------------------------------------

def test_suggestion_time_side_by_side():
    names, left_out = runnable()
    done = {(r["problem"], r["optimizer"], r["n_obs"], r["asks"]) for r in load_cache()
            if r["kind"] == "time"}
    for p in TIMING_PROBLEMS:
        for name in names:
            todo = [n for n in OBSERVATIONS if (p, name, n, ASKS) not in done]
            if todo:
                # a few untimed cycles first: the first model an optimizer fits imports its
                # library's modules (0.3 s for scikit-learn's forests), no suggestion's cost
                ask_times(name, p, WARM_UP)
            for n in todo:
                append_cache(ask_times(name, p, n))
            write(left_out)
    path = write(left_out)
    assert path.exists()


def test_final_regret_side_by_side():
    names, left_out = runnable()
    done = {(r["problem"], r["optimizer"], r["repeat"]) for r in load_cache()
            if r["kind"] == "regret" and r["evals"] == EVALS}
    # repeats outermost: a run cut short still has every optimizer on every problem
    todo = [(p, name, repeat) for repeat in range(REPEATS) for p in PROBLEMS for name in names
            if (p, name, repeat) not in done]
    for row in run_cells(todo, WORKERS):
        append_cache(row)
        write(left_out)
    rows = [r for r in load_cache() if r["kind"] == "regret" and r["evals"] == EVALS]
    failed = [f"{r['problem']}/{r['optimizer']}/{r['repeat']}: {r.get('reason')}"
              for r in rows if r["regret"] is None]
    assert not failed, failed

"""Backends: parallel efficiency of a CPU-bound suite (2 workers against 1, processes and
Dask, each ratio measured in the same run) and the per-trial cost of evaluating in a killable
child process (what a per-trial timeout costs), against inline evaluation.

Targets (issue 9): 2 workers at least 1.8x faster than 1. The machine is shared: a wall-clock
speed-up cannot exceed what the machine itself offers at that moment, so the same run also
measures that ceiling (two plain CPU-burning processes against one after the other) and the
check is 90% of it (1.8x on two free cores); the table gives both and the CPU time.
Sizes: HPBENCH_PERF_BACKEND_TRIALS trials per cell (default 40000, 8 cells: about 20 s of
CPU per run, so starting a worker, about 1 s of CPU, stays small);
HPBENCH_PERF_TIMEOUT_TRIALS trials for the timeout overhead (default 3000).

Cheap cells (issue 33): 200 cells of 100 trials (random, sobol, lhs, grid, de on branin and
hartmann6; about 10 ms of CPU each), 1 and 2 workers, processes and Dask, each run in a fresh
process (start-up included), HPBENCH_PERF_CHEAP_REPEATS times (default 2, medians): the
speed-up, Dask against processes, and the CPU time of the whole process tree. Target: Dask
within 10 % of processes at 2 workers (reported, not asserted: on a shared machine wall time
follows the other jobs' load); asserted: Dask's CPU at most 1.7x processes' (2.1x before).
And the fixed cost of a cell: 200 such cells serially, per cell, less 100 trials at the
per-trial cost of one long cell measured in the same run.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import tempfile
import time

from benchmarks.conftest import write_table
from hpbench import Budget
from hpbench.api import run
from hpbench.backends import run_serial
from hpbench.cell import Cell
from hpbench.execute import execute_cell
from hpbench.suite import Suite

TRIALS = int(os.environ.get("HPBENCH_PERF_BACKEND_TRIALS", "40000"))
TIMEOUT_TRIALS = int(os.environ.get("HPBENCH_PERF_TIMEOUT_TRIALS", "3000"))
MIN_EFFICIENCY = 0.9  # of the machine's own 2-process speed-up: 1.8x on two free cores
CHEAP_REPEATS = int(os.environ.get("HPBENCH_PERF_CHEAP_REPEATS", "2"))
DASK_TARGET = 1.1  # issue 33: Dask's wall time at 2 workers over the processes backend's
#: the guard: Dask's CPU time at 2 workers over the processes backend's (2.1 before issue 33,
#: 1.45-1.55 after, measured on a loaded 2-core machine; CPU moves far less with load than wall)
MAX_DASK_CPU_RATIO = 1.7


def _burn(n: int = 12_000_000) -> float:
    s = 0
    for i in range(n):
        s += i * i
    return float(s)


def machine_speedup() -> float:
    """Two CPU-bound processes side by side against the same work one after the other."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_burn, [10, 10])  # start-up out of the measurement
        t = time.perf_counter()
        pool.apply(_burn)
        pool.apply(_burn)
        one = time.perf_counter() - t
        t = time.perf_counter()
        pool.map(_burn, [12_000_000, 12_000_000], chunksize=1)
        two = time.perf_counter() - t
    return one / two


def _suite() -> Suite:
    # 8 cells of pure-Python/numpy work: random search on Hartmann 6 and Branin
    return Suite(name="perf-backends", problems=("hartmann6", "branin"),
                 optimizers=("random", "sobol"), repeats=2, budget=Budget(TRIALS), seed=0)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed_run(backend: str, workers: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = _cpu(), time.perf_counter()
        summary = run(_suite(), out=out, backend=backend, workers=workers)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    assert summary.count("done") == 8, summary.outcomes
    return wall, cpu


def test_two_workers_against_one(benchmark):
    rows, speedups = [], {}
    for backend in ("processes", "dask"):
        before = machine_speedup()
        one, cpu_one = _timed_run(backend, 1)
        two, cpu_two = _timed_run(backend, 2)
        ceiling = (before + machine_speedup()) / 2
        speedups[backend] = (one / two, ceiling)
        rows.append(f"| {backend} | {one:.1f} | {two:.1f} | {one / two:.2f} | {ceiling:.2f} | "
                    f"{one / two / ceiling:.2f} | {cpu_one:.1f} | {cpu_two:.1f} |")
    table = ("| backend | 1 worker s | 2 workers s | speed-up | machine's 2-process speed-up "
             "| efficiency | CPU s (1) | CPU s (2) |\n|---|---|---|---|---|---|---|---|\n"
             + "\n".join(rows)
             + f"\n\n8 cells x {TRIALS} trials (random, sobol on hartmann6, branin); wall "
             "time includes starting the workers (and the LocalCluster for dask). The machine's "
             "speed-up: two CPU-burning processes side by side against one after the other, "
             "measured before and after each pair of runs. CPU s counts this process and the "
             "workers it reaped (dask workers may be missed).\n")
    write_table("backends", table)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    for backend, (s, ceiling) in speedups.items():
        assert s >= MIN_EFFICIENCY * ceiling, \
            f"{backend}: 2 workers are {s:.2f}x faster than 1, the machine offers {ceiling:.2f}x"


def _cell(timeout: float | None, n: int) -> Cell:
    return Cell(suite="perf", problem="branin", optimizer="random", repeat=0, master_seed=0,
                budget=Budget(n), timeout=timeout)


def _execute(timeout: float | None, n: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        outcome = execute_cell(_cell(timeout, n), out)
        dt = time.perf_counter() - t
    assert outcome.status == "done" and outcome.n_trials == n
    return dt


def test_timeout_child_overhead_per_trial(benchmark):
    n = TIMEOUT_TRIALS
    first = _execute(60.0, 10)  # spawns the child (kept for the process afterwards)
    inline = min(_execute(None, n) for _ in range(3))
    child = min(_execute(60.0, n) for _ in range(3))
    per_trial = (child - inline) / n
    table = ("| inline µs/trial | child µs/trial | overhead µs/trial | first cell with a "
             "timeout (spawns the child) s |\n|---|---|---|---|\n"
             f"| {inline / n * 1e6:.1f} | {child / n * 1e6:.1f} | {per_trial * 1e6:.1f} | "
             f"{first:.2f} |\n\nRandom search on Branin, {n} trials per cell, best of 3; the "
             "child is spawned once per worker process and reused across trials and cells.\n")
    write_table("timeout_overhead", table)
    benchmark.pedantic(_execute, args=(60.0, 200), rounds=1, iterations=1)
    assert per_trial < 2e-3, f"a trial in the timeout child costs {per_trial * 1e6:.0f} µs extra"


def _cheap_suite(repeats: int = 20) -> Suite:
    return Suite(name="perf-cheap", problems=("branin", "hartmann6"),
                 optimizers=("random", "sobol", "lhs", "grid", "de"), repeats=repeats,
                 budget=Budget(100), seed=0)


def _cheap_child(backend: str, workers: int, repeats: int, queue) -> None:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run(_cheap_suite(repeats), out=out, backend=backend, workers=workers)
        queue.put((time.perf_counter() - t0, summary.count("done")))


def _cluster_child(workers: int, queue) -> None:
    """What a Dask run costs before any cell: its LocalCluster started, one trivial task,
    closed (``hpbench.dask_backend.dask_client``, as the backend does)."""
    from hpbench.dask_backend import dask_client

    t0 = time.perf_counter()
    with dask_client(workers) as client:
        assert client.submit(abs, -1).result() == 1
    queue.put((time.perf_counter() - t0, None))


def _in_fresh_process(target, *args) -> tuple[float, float, object]:
    """(wall s the child reports, CPU s of its whole process tree, what else it reports)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    wall, extra = queue.get(timeout=1800)
    proc.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, extra


def _cheap_run(backend: str, workers: int, repeats: int = 20) -> tuple[float, float]:
    """(wall s, CPU s) of one run in a fresh process: start-up, workers, the Dask scheduler and
    its nannies included (CPU: every process of the tree, reaped when the run ends)."""
    wall, cpu, done = _in_fresh_process(_cheap_child, backend, workers, repeats)
    assert done == 10 * repeats, done
    return wall, cpu


def _dask_floor_table(wall: dict, cpu: dict) -> str:
    """Why the 10 % target cannot hold on 200 cells: a LocalCluster of 2 nannied workers that
    runs one trivial task (started and closed as the Dask backend does) costs, on its own, a
    large share of the processes backend's whole run; and on 10 times the cells the ratio is
    measured again."""
    floor = [_in_fresh_process(_cluster_child, 2)[:2] for _ in range(CHEAP_REPEATS)]
    f_wall = statistics.median(w for w, _ in floor)
    f_cpu = statistics.median(c for _, c in floor)
    big = {b: _cheap_run(b, 2, repeats=200) for b in ("processes", "dask")}
    best_wall = (wall["processes", 2] + f_wall) / wall["processes", 2]
    best_cpu = (cpu["processes", 2] + f_cpu) / cpu["processes", 2]
    return (
        "| measured | wall s | CPU s |\n|---|---|---|\n"
        f"| a LocalCluster alone (2 workers with nannies, 1 trivial task, closed) | "
        f"{f_wall:.1f} | {f_cpu:.1f} |\n"
        f"| 2,000 cells, processes, 2 workers | {big['processes'][0]:.1f} | "
        f"{big['processes'][1]:.1f} |\n"
        f"| 2,000 cells, Dask, 2 workers | {big['dask'][0]:.1f} | {big['dask'][1]:.1f} |\n"
        f"\nThe lowest Dask / processes ratio 200 cells allow, with the cluster's own cost "
        f"added to the processes run: wall {best_wall:.2f}, CPU {best_cpu:.2f}. On 2,000 "
        f"cells: wall {big['dask'][0] / big['processes'][0]:.2f}, CPU "
        f"{big['dask'][1] / big['processes'][1]:.2f}.\n")


def test_cheap_cells_dask_against_processes(benchmark):
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(CHEAP_REPEATS):  # interleaved, so that a busy spell hits every kind
        for backend in ("processes", "dask"):
            for workers in (1, 2):
                runs.setdefault((backend, workers), []).append(_cheap_run(backend, workers))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    rows = [f"| {b} | {wall[b, 1]:.1f} | {wall[b, 2]:.1f} | {wall[b, 1] / wall[b, 2]:.2f} | "
            f"{cpu[b, 1]:.1f} | {cpu[b, 2]:.1f} |" for b in ("processes", "dask")]
    ratio = wall["dask", 2] / wall["processes", 2]
    cpu_ratio = cpu["dask", 2] / cpu["processes", 2]
    verdict = "met" if ratio <= DASK_TARGET else "NOT met"
    table = ("| backend | 1 worker s | 2 workers s | speed-up | CPU s (1) | CPU s (2) |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows)
             + f"\n\nDask / processes at 2 workers: wall {ratio:.2f} (target {DASK_TARGET}: "
             f"{verdict}), CPU {cpu_ratio:.2f} (guard {MAX_DASK_CPU_RATIO}). "
             f"200 cells x 100 trials (random, sobol, lhs, grid, de on branin, hartmann6), "
             f"medians of {CHEAP_REPEATS} runs, each in a fresh process (start-up included); "
             "CPU counts the whole process tree. On a machine shared with other jobs the wall "
             "times move with their load; the CPU times much less.\n")
    table += "\n" + _dask_floor_table(wall, cpu)
    table += "\n" + _fixed_cost_table()
    write_table("backends_cheap", table)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert cpu_ratio <= MAX_DASK_CPU_RATIO, \
        f"Dask takes {cpu_ratio:.2f}x the CPU time of processes at 2 workers"


def _branin_cells(n: int, budget: int) -> list[Cell]:
    return [Cell(suite="perf", problem="branin", optimizer="random", repeat=r, master_seed=0,
                 budget=Budget(budget)) for r in range(n)]


def _clocked(fn, *args) -> tuple[float, float]:
    c, t = time.process_time(), time.perf_counter()
    fn(*args)
    return time.process_time() - c, time.perf_counter() - t


def _fixed_cost_table(n: int = 200, long: int = 20_000) -> str:
    """The fixed cost of a cell: ``n`` cells of 100 trials, per cell, less 100 trials at the
    per-trial cost of one cell of ``long`` trials; one cell at a time through
    ``execute_cell`` (each cell file fsyncs its folder) and through the serial backend
    (folder fsyncs deferred across cheap cells)."""
    with tempfile.TemporaryDirectory() as out:
        execute_cell(_branin_cells(1, 100)[0], out)  # imports out of the measurement
    with tempfile.TemporaryDirectory() as out:
        per_trial = [x / long for x in _clocked(lambda: execute_cell(
            _branin_cells(1, long)[0], out))]
    rows = []
    for label, runner in (("execute_cell per cell (fsync of the folder per file)",
                           lambda cells, out: [execute_cell(c, out) for c in cells]),
                          ("serial backend (folder fsyncs deferred across cheap cells)",
                           lambda cells, out: run_serial(cells, out))):
        with tempfile.TemporaryDirectory() as out:
            cells = _branin_cells(n, 100)
            per_cell = [x / n for x in _clocked(runner, cells, out)]
        fixed = [c - 100 * t for c, t in zip(per_cell, per_trial)]
        ratio = [c / (100 * t) for c, t in zip(per_cell, per_trial)]
        rows.append(f"| {label} | {fixed[0] * 1e3:.2f} | {fixed[1] * 1e3:.2f} | "
                    f"{ratio[0]:.2f} | {ratio[1]:.2f} |")
    return ("| how | fixed CPU ms/cell | fixed wall ms/cell | per-trial cost, 100-trial cell / "
            f"{long}-trial cell (CPU) | same (wall) |\n|---|---|---|---|---|\n"
            + "\n".join(rows)
            + f"\n\nRandom search on Branin: {n} cells of 100 trials against one of {long} "
            f"(per trial: {per_trial[0] * 1e6:.1f} µs CPU, {per_trial[1] * 1e6:.1f} µs wall). "
            "The fixed wall time is mostly fsync, which waits on the disk, not the CPU.\n")

"""Drawing the figures of a report in several processes.

Drawing is most of ``hpbench figures`` on a paper-size folder: a figure or two per problem
(PDF and PNG), each laid out, measured and rendered twice by matplotlib, one core each. So
the figures a registered figure draws one problem at a time (``registry.PerProblem``: the
regret and the validation-versus-test figures) are drawn by spawned worker processes while
this process draws the aggregate figures meanwhile.

A worker gets what its figures show and nothing else (the figure's ``PerProblem.job``):
summaries over repeats computed by ``analyse`` and a results object without trials. The
3-million-row trial table never crosses a process boundary. Problems go out in small
contiguous chunks, so the workers stay busy to the end, and come back in order: the files
and their order are those of the serial ``registry.draw_all``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpbench.analysis import registry

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis

#: below this many per-problem figures the workers' start (≈ 1.5 CPU s each: importing
#: matplotlib, pandas and the analysis) costs more than it saves
MIN_PROBLEMS = 6
#: problems per job: small enough to balance the workers, large enough to amortize a job
CHUNK = 3


def default_workers() -> int:
    """Processes drawing figures: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _jobs(a: Analysis, fig: registry.Figure) -> list[Any]:
    names = fig.per_problem.problems(a)
    return [fig.per_problem.job(a, names[k * CHUNK:(k + 1) * CHUNK])
            for k in range(math.ceil(len(names) / CHUNK))]


def check_workers(workers: int | None) -> int:
    """``workers`` as a number of drawing processes (``None``: ``default_workers()``);
    ``ValueError`` below 1."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return workers


def _warm_up() -> None:
    """A worker's first task: the imports every drawing job needs (matplotlib, pandas, the
    analysis's figure modules), done while the main process still analyses."""
    registry.figures()


def worker_pool(workers: int | None = None):
    """``workers`` spawned drawing processes (default ``default_workers()``), started now
    and warming up (``_warm_up``), as a context manager; ``None`` for one worker (draw in
    this process). Start it before ``analyse``: the analysis keeps one core busy, and the
    workers' imports (≈ 1.5 CPU s each) take the other meanwhile."""
    import contextlib

    workers = check_workers(workers)
    if workers == 1:
        return contextlib.nullcontext(None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked copy of a process with threads (pyarrow's pools) may hang,
    # and spawn behaves alike on every platform
    pool = ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):  # one per worker: spawns them all now
        pool.submit(_warm_up)
    return pool


def draw_all(a: Analysis, out: Path, workers: int | None = None, *, pool: Any = None,
             meanwhile: Callable[[], None] | None = None) -> dict[str, list[Path]]:
    """``registry.draw_all`` with the per-problem figures drawn by worker processes while
    this one draws the others and then calls ``meanwhile`` (writing the tables, say).
    ``pool``: a ``worker_pool`` to draw in; else ``workers`` new ones (default
    ``default_workers()``). Serial with one worker, or with fewer than ``MIN_PROBLEMS``
    per-problem figures. The same files, in the same order, as the serial drawing."""
    workers = check_workers(workers)
    figures = registry.figures()
    sharded = {f.name: f for f in figures if f.per_problem is not None}
    few = sum(len(f.per_problem.problems(a)) for f in sharded.values()) < MIN_PROBLEMS
    if pool is None and not few and workers > 1:
        with worker_pool(workers) as own:
            return draw_all(a, out, pool=own, meanwhile=meanwhile)
    if pool is None or few:
        made = registry.draw_all(a, out)
        if meanwhile is not None:
            meanwhile()
        return made
    futures = {name: [pool.submit(f.per_problem.draw, job, out) for job in _jobs(a, f)]
               for name, f in sharded.items()}
    made: dict[str, list[Path]] = {}
    for f in figures:
        if f.name not in sharded:
            made[f.name] = list(f.draw(a, out))
    if meanwhile is not None:
        meanwhile()
    for name, fs in futures.items():
        made[name] = [p for fut in fs for p in fut.result()]
    return {f.name: made[f.name] for f in figures}

"""Drawing the figures of a report in several processes.

Drawing is most of ``hpbench figures`` on a paper-size folder: one figure per problem (PDF
and PNG), each laid out, measured and rendered twice by matplotlib, one core each. So the
per-problem regret figures are drawn by spawned worker processes while this process draws
the aggregate figures (the registry's others) meanwhile.

A worker gets what its figures show and nothing else: the curves of its problems (already
summarized over repeats by ``analyse``), each problem's panels, and a results object
without trials (the problems and cells frames name the references, budgets and repeats).
The 3-million-row trial table never crosses a process boundary. Problems go out in small
contiguous chunks, so the workers stay busy to the end, and come back in order: the files
and their order are those of the serial ``registry.draw_all``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hpbench.analysis import registry, regret

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.load import Results
    from hpbench.analysis.report import Analysis

#: the registered figure drawn one problem at a time by the workers
SHARDED = "regret"
#: below this many problems the workers' start (≈ 1.5 CPU s each: importing matplotlib,
#: pandas and the analysis) costs more than it saves
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


def slim_results(results: Results, problems: Sequence[str]) -> Results:
    """``results`` without trials, and with the cells of ``problems`` only: what drawing
    their figures reads."""
    cells = results.cells
    mine = cells[cells["problem"].isin(list(problems))][["problem", "optimizer", "repeat"]]
    return dataclasses.replace(results, trials=pd.DataFrame(), cells=mine, metas=[],
                               run_info={}, suite_toml="", notes=[])


def _draw_chunk(job: dict[str, Any]) -> list[Path]:
    """A worker's job: the regret figures of a few problems."""
    return regret.write_problem_figures(job["results"], job["out"], job["kind"], job["data"],
                                        highlight=job["highlight"], problems=job["problems"],
                                        axes=job["axes"])


def _jobs(a: Analysis, out: Path) -> list[dict[str, Any]]:
    names = a.results.problem_names
    n = math.ceil(len(names) / CHUNK)
    jobs = []
    for k in range(n):
        chunk = names[k * CHUNK:(k + 1) * CHUNK]
        jobs.append({"results": slim_results(a.results, chunk), "out": out, "kind": a.band,
                     "data": {p: a.curves.get(p) for p in chunk if p in a.curves},
                     "highlight": a.highlight, "problems": chunk,
                     "axes": {p: regret.problem_axes(a.results, p) for p in chunk}})
    return jobs


def draw_all(a: Analysis, out: Path, workers: int | None = None) -> dict[str, list[Path]]:
    """``registry.draw_all`` with the per-problem figures drawn by ``workers`` spawned
    processes (default ``default_workers()``) while this one draws the others. Serial with
    one worker, or with fewer than ``MIN_PROBLEMS`` problems. The same files, in the same
    order, as the serial drawing."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    figures = registry.figures()
    if (workers == 1 or len(a.results.problem_names) < MIN_PROBLEMS
            or SHARDED not in {f.name for f in figures}):
        return registry.draw_all(a, out)

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    made: dict[str, list[Path]] = {}
    # spawn, not fork: a forked copy of a process with threads (pyarrow's pools) may hang,
    # and spawn behaves alike on every platform
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_draw_chunk, job) for job in _jobs(a, out)]
        for f in figures:
            if f.name != SHARDED:
                made[f.name] = list(f.draw(a, out))
        made[SHARDED] = [p for fut in futures for p in fut.result()]
    return {f.name: made[f.name] for f in figures}

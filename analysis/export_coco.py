"""``hpbench export coco``: the BBOB cells of a results folder as COCO data, for ``cocopp``.

Each cell is replayed through cocoex: a cocoex problem of the cell's suite, function,
dimension and instance (the problem instance's ``coco`` attribute) observed by one cocoex
``Observer`` per optimizer, which evaluates the stored configs in trial order. The ``.info``,
``.dat``, ``.tdat``, ``.mdat`` and ``.rdat`` files are COCO's logger's own. Layout::

    OUT/<suite>/<optimizer>/bbobexp_f<N>.info, data_f<N>/…   one COCO algorithm folder

so ``python -m cocopp OUT/bbob/*`` compares the optimizers (COCO's post-processing reads a
suite at a time: noisy and noiseless functions are not mixed).

Failed trials are replayed too. COCO counts an evaluation when the solver asks for f(x)
("an evaluation attempted is an evaluation"), and a BBOB function cannot fail: a failed or
timed-out trial on a BBOB problem is the harness's failure (a timeout, a worker that died),
so COCO sees the point's value, which hpbench never recorded (its regret skips the trial).
The summary counts those trials.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hpbench.analysis.export import (
    CellRun,
    ExportError,
    check_out,
    check_value,
    read_runs,
    skipped_note,
    staged,
    tagged,
)

#: the observer cocoex's bbob, bbob-mixint and bbob-noisy suites are logged with
OBSERVER = "bbob"


def is_coco(problem: Any) -> bool:
    """A problem with a COCO twin: its instance says which (``coco``: suite, function,
    dimension, instance). Only problems registered with the tag ``bbob`` are built to ask."""
    return getattr(problem, "coco", None) is not None


def export_coco(results_dir: Path | str, out: Path | str) -> str:
    """Write the BBOB cells of ``results_dir`` as COCO data into ``out`` (a new or empty
    folder); returns a summary. ``ExportError`` when there is nothing to export or a replay
    does not reproduce the stored values, and then ``out`` is not written."""
    import cocoex

    check_out(out)
    runs, skipped = read_runs(Path(results_dir), tagged("bbob"), is_coco)
    if not runs:
        raise ExportError(f"{results_dir}: no BBOB cells to export (COCO's format holds the "
                          f"bbob, bbob-mixint and bbob-noisy problems only; "
                          f"{sum(skipped.values())} other cells)")
    failed = 0
    out = Path(out)
    level = cocoex.log_level("warning")  # not its "results will be output to" line
    try:
        with staged(out) as tmp:
            for (suite, optimizer), group in _groups(runs):
                with _cocoex_path(tmp / suite) as outer:
                    observer = cocoex.Observer(OBSERVER, {
                        "outer_folder": str(outer), "result_folder": optimizer,
                        "algorithm_name": optimizer, "algorithm_info": "hpbench-export"})
                    for run in group:
                        failed += _replay(cocoex, run, observer)
                    # each problem.free() closed its files; cocoex 2.8's Observer.free()
                    # raises AttributeError, so the observer is only dropped
                    del observer
    finally:
        cocoex.log_level(level)
    suites = sorted({r.problem.coco.suite for r in runs})
    lines = [f"COCO data of {len(runs)} cells ({len({r.optimizer for r in runs})} optimizers,"
             f" {len({r.problem_name for r in runs})} problems) in {out}",
             skipped_note(skipped, "BBOB"),
             f"{failed} failed trials replayed as evaluations (COCO counts every attempt)"
             if failed else "",
             "post-process: " + "; ".join(f"python -m cocopp {shlex.quote(str(out / s))}/*"
                                          for s in suites)]
    return "\n".join(line for line in lines if line)


def _groups(runs: list[CellRun]) -> Iterable[tuple[tuple[str, str], list[CellRun]]]:
    """Runs by (suite, optimizer), each group ordered by function, dimension, instance and
    repeat (COCO's ``.info`` files then hold one block per function and dimension)."""
    groups: dict[tuple[str, str], list[CellRun]] = {}
    for run in runs:
        groups.setdefault((run.problem.coco.suite, run.optimizer), []).append(run)
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: (r.problem.coco.function,
                                                   r.problem.coco.dimension,
                                                   r.problem.coco.instance, r.repeat))
        yield key, group


class _cocoex_path:
    """``folder`` itself, or, when its path holds whitespace (cocoex's option parser splits
    values there), a symbolic link to it from a fresh temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.link_dir: str | None = None

    def __enter__(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not re.search(r"\s", str(self.folder)):
            return self.folder
        self.link_dir = tempfile.mkdtemp(prefix="hpbench-coco-")
        link = Path(self.link_dir) / "out"
        if re.search(r"\s", str(link)):
            raise ExportError(f"cocoex cannot write to {self.folder} (whitespace in the "
                              "path) nor to a link in the temporary folder; use another --out")
        link.symlink_to(self.folder.resolve(), target_is_directory=True)
        return link

    def __exit__(self, *exc: object) -> None:
        if self.link_dir:
            shutil.rmtree(self.link_dir, ignore_errors=True)


def _replay(cocoex: Any, run: CellRun, observer: Any) -> int:
    """Evaluate ``run``'s configs in order on its cocoex twin under ``observer``; check each
    ok trial's value against the stored one. Returns the number of failed trials.

    A bbob-noisy value carries noise: hpbench draws it from the problem's seed, cocoex from
    its process-wide counters, so the two noisy values differ by design. There the stored
    noise-free value is checked against the problem's own (the instance is the one that
    was run); COCO logs its noise-free best from the same function and instance, and that
    is the column cocopp's ERT reads."""
    c = run.problem.coco
    suite = cocoex.Suite(c.suite, "", _options(c))
    problem = suite.get_problem(0) if len(suite) == 1 else None
    if problem is None or (problem.id_function, problem.dimension, problem.id_instance) != (
            c.function, c.dimension, c.instance):
        raise ExportError(f"{run.label}: cocoex's suite {c.suite!r} has no function "
                          f"{c.function}, dimension {c.dimension}, instance {c.instance}")
    noisy = c.suite == "bbob-noisy"
    problem.observe_with(observer)
    try:
        for k in range(len(run.configs)):
            f = float(problem(run.vector(k)))
            if not run.ok[k]:
                continue
            if noisy:
                again = run.problem.evaluate(run.configs[k]).true_value
                check_value(run, k, float(again), run.true_value[k],
                            f"hpbench's {run.problem_name} (noise-free)")
            else:
                check_value(run, k, f, run.value[k], f"cocoex ({problem.id})")
    finally:
        problem.free()  # ends the run in COCO's files; the observer takes the next problem
        suite.free()
    return int((~run.ok).sum())


def _options(c: Any) -> str:
    """cocoex's suite options selecting exactly problem ``c`` (bbob-noisy numbers its
    functions 1..30 in the options, 101..130 in its problem ids)."""
    index = c.function - 100 if c.suite == "bbob-noisy" else c.function
    return f"function_indices: {index} dimensions: {c.dimension} instance_indices: {c.instance}"


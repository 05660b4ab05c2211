"""``hpbench export ioh``: a results folder in IOHprofiler's format, for IOHanalyzer.

Every cell whose problem has an exact optimum (``problem.optimum.kind == "exact"``: the
synthetic surfaces and the BBOB problems) is replayed through ioh, one ``Analyzer`` logger
per optimizer, so the files are ioh's own. Layout::

    OUT/<optimizer>/IOHprofiler_f<id>_<name>.json         one per problem: meta data, runs
    OUT/<optimizer>/data_f<id>_<name>/IOHprofiler_f<id>_DIM<d>.dat   evaluations raw_y

(IOHanalyzer loads each ``OUT/<optimizer>`` folder, or a zip of it, as one algorithm.)

* A BBOB cell (suite ``bbob``) is evaluated on ioh's own BBOB problem of the same function,
  instance and dimension, so IOHanalyzer files it under BBOB and compares it with other
  IOH data; its ``raw_y`` is ioh's precision f − f_opt.
* Every other problem is wrapped (``ioh.wrap_problem``, named ``hpbench-<problem>``; the
  instance id is the repeat + 1). Its objective re-evaluates the stored config at full
  fidelity and logs the noise-free precision ``true_value − optimum``, like ioh's BBOB
  problems, so the ``raw_y`` of every problem is a precision that reaches 0 at the optimum.
  The variables ioh sees are the config's coordinates in the unit cube (``Space.to_unit``),
  so mixed spaces fit ioh's real vectors.
* Every trial is one ioh evaluation. A failed trial, and one below full fidelity, logs
  ``inf`` in a wrapped problem (counted, never an improvement: hpbench's regret skips it
  too); on a BBOB problem it is evaluated, as in the COCO export (a BBOB function cannot
  fail; the harness did).

The logger writes on improvement (``trigger.ON_IMPROVEMENT``) plus each run's last
evaluation, IOHanalyzer's usual input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.analysis.export import (
    CellRun,
    ExportError,
    check_out,
    check_value,
    has_exact_optimum,
    read_runs,
    skipped_note,
    staged,
)


def export_ioh(results_dir: Path | str, out: Path | str) -> str:
    """Write every cell of ``results_dir`` with an exact optimum in IOHprofiler's format into
    ``out`` (a new or empty folder); returns a summary. ``ExportError`` when there is nothing
    to export or a replay does not reproduce the stored values, and then ``out`` is not
    written."""
    import ioh

    check_out(out)
    runs, skipped = read_runs(Path(results_dir), has_exact_optimum, lambda _p: True)
    if not runs:
        raise ExportError(f"{results_dir}: no cells of a problem with an exact optimum to "
                          f"export ({sum(skipped.values())} other cells)")
    out = Path(out)
    failed = 0
    with staged(out) as tmp:
        for optimizer in sorted({r.optimizer for r in runs}):
            logger = ioh.logger.Analyzer(
                [ioh.logger.trigger.ON_IMPROVEMENT], root=str(tmp), folder_name=optimizer,
                algorithm_name=optimizer, algorithm_info="hpbench export")
            group = sorted((r for r in runs if r.optimizer == optimizer),
                           key=lambda r: (r.problem_name, r.repeat))
            for run in group:
                failed += _replay(ioh, run, logger)
            logger.close()
    lines = [f"IOHprofiler data of {len(runs)} cells ({len({r.optimizer for r in runs})} "
             f"optimizers, {len({r.problem_name for r in runs})} problems) in {out}",
             skipped_note(skipped, "of a problem with an exact optimum"),
             f"{failed} failed or partial-fidelity trials logged as evaluations"
             if failed else "",
             f"load {out}/<optimizer> (or a zip of it) in IOHanalyzer"]
    return "\n".join(line for line in lines if line)


def _replay(ioh: Any, run: CellRun, logger: Any) -> int:
    """Evaluate ``run``'s trials in order on its ioh problem under ``logger``; returns the
    number of trials that were not ok full-fidelity evaluations."""
    coco = getattr(run.problem, "coco", None)
    if coco is not None and coco.suite == "bbob":
        problem = ioh.get_problem(coco.function, instance=coco.instance,
                                  dimension=coco.dimension,
                                  problem_class=ioh.ProblemClass.BBOB)
        problem.attach_logger(logger)
        for k in range(len(run.configs)):
            y = float(problem(run.vector(k)))
            if run.ok[k]:
                check_value(run, k, y, run.value[k], f"ioh's BBOB f{coco.function}")
    else:
        problem, trial = _wrapped(ioh, run)
        problem.attach_logger(logger)
        space = run.problem.space
        for k, config in enumerate(run.configs):
            trial[0] = k
            problem(space.to_unit(config))
    problem.reset()  # ends the run: the logger writes its last evaluation and meta data
    problem.detach_logger()
    return int((~(run.ok & run.full)).sum())


def _wrapped(ioh: Any, run: CellRun) -> tuple[Any, list[int]]:
    """``run``'s problem as an ioh problem whose objective replays the trial ``trial[0]``:
    the noise-free precision of its config at full fidelity (checked against the stored
    true value), ``inf`` for a trial that failed or ran below full fidelity."""
    hp = run.problem
    f_opt = float(hp.optimum.value)
    trial = [0]

    def objective(_x: np.ndarray) -> float:
        k = trial[0]
        if not (run.ok[k] and run.full[k]):
            return math.inf
        ev = hp.evaluate(run.configs[k])
        value = ev.value if ev.true_value is None else ev.true_value
        stored = run.true_value[k] if not math.isnan(run.true_value[k]) else run.value[k]
        check_value(run, k, float(value), stored, f"hpbench's {run.problem_name}")
        return float(value) - f_opt

    d = len(hp.space)
    location = hp.optimum.location
    x_opt = hp.space.to_unit(location) if location else np.full(d, 0.5)
    problem = ioh.wrap_problem(objective, name=f"hpbench-{run.problem_name}",
                               problem_class=ioh.ProblemClass.REAL, dimension=d,
                               instance=run.repeat + 1, lb=0.0, ub=1.0,
                               calculate_objective=lambda _i, _d: (x_opt, 0.0))
    return problem, trial

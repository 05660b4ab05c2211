"""Executing one cell: build, skip if already done, run, store.

This is the function every backend calls, in whatever process it runs, so results do not
depend on the backend.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench import registry, seeds, store
from hpbench.runner import CellResult, empty_columns, evaluate_inline, not_applicable, run_loop
from hpbench.suite import Cell

_VERSIONED = ("hpbench", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "torch",
              "optuna", "hyperopt", "scikit-optimize", "bayesian-optimization", "nevergrad",
              "cma", "dask", "distributed")


@dataclass
class CellOutcome:
    key: str
    status: str  # "done", "failed", "not-applicable", "skipped" (already done), "error"
    n_trials: int = 0
    reason: str = ""
    path: str = ""
    seconds: float = 0.0


@functools.cache
def environment() -> dict[str, Any]:
    """Package versions, git revision and host, computed once per process."""
    versions = {}
    for dist in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {"versions": versions, "python": sys.version.split()[0],
            "platform": platform.platform(), "host": socket.gethostname(),
            "git_revision": git_revision()}


@functools.cache
def git_revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        rev = out.stdout.strip()
        if out.returncode == 0 and rev:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=here, capture_output=True, text=True, timeout=5)
            return rev + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def budget_meta(cell: Cell) -> dict[str, Any]:
    return {"amount": float(cell.budget.amount), "unit": cell.budget.unit,
            "batch": cell.batch}


def execute_cell(cell: Cell, out: Path | str, *, on_trial=None, force: bool = False,
                 evaluator=None) -> CellOutcome:
    """Run ``cell`` unless ``out`` already holds a valid finished file for it."""
    t0 = time.perf_counter()
    out = Path(out)
    path = store.cell_path(out, cell.problem, cell.optimizer, cell.repeat)
    pseed = seeds.problem_seed(cell.master_seed, cell.problem, cell.repeat)
    oseed = seeds.optimizer_seed(cell.master_seed, cell.problem, cell.optimizer, cell.repeat)
    problem = registry.make_problem(cell.problem, seed=pseed, **cell.problem_settings)
    fingerprint = problem.fingerprint()
    if path.exists() and not force:
        reason = store.check_cell(path, fingerprint, budget_meta(cell))
        if not reason:
            meta = store.read_meta(path)
            return CellOutcome(cell.key, "skipped", meta.get("n_trials", 0),
                               meta.get("reason", ""), str(path))
        store.set_aside(path, reason)
    entry = registry.get_entry("optimizer", cell.optimizer)
    started = time.time()
    scratch = out / ".scratch" / cell.problem / cell.optimizer / f"seed-{cell.repeat}"
    settings: dict[str, Any] = {}
    try:
        if not entry.requires <= problem.capabilities:
            result = not_applicable(problem, entry.factory, list(problem.space.names))
        else:
            optimizer = registry.make_optimizer(cell.optimizer, problem.space, seed=oseed,
                                                budget=cell.budget, fidelity=problem.fidelity,
                                                **cell.settings)
            settings = optimizer.describe()
            use_scratch = bool(problem.capabilities & {"checkpoint"})
            if use_scratch:
                scratch.mkdir(parents=True, exist_ok=True)
            result = run_loop(problem, optimizer, cell.budget, batch=cell.batch,
                              scratch=scratch if use_scratch else None,
                              evaluator=evaluator or evaluate_inline, on_trial=on_trial)
    except Exception as exc:  # building the optimizer failed: record it, do not crash
        result = CellResult(columns={}, params=list(problem.space.names), status="failed",
                            reason=f"{type(exc).__name__}: {exc}",
                            error="".join(traceback.format_exception(exc)))
        result.columns = empty_columns(result.params)
    finally:
        try:
            problem.cleanup(scratch)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    meta = {
        "suite": cell.suite, "problem": cell.problem, "optimizer": cell.optimizer,
        "repeat": cell.repeat, "master_seed": cell.master_seed, "problem_seed": pseed,
        "optimizer_seed": oseed, "budget": budget_meta(cell), "timeout": cell.timeout,
        "optimizer_settings": settings or {"settings": cell.settings},
        "problem_settings": cell.problem_settings,
        "problem_definition": problem.describe(),
        "fingerprint": fingerprint,
        "optimum": None if problem.optimum is None else {
            "value": problem.optimum.value, "kind": problem.optimum.kind,
            "source": problem.optimum.source},
        "fidelity": None if problem.fidelity is None else {
            "low": problem.fidelity.low, "high": problem.fidelity.high,
            "name": problem.fidelity.name},
        "status": result.status, "reason": result.reason, "error": result.error,
        "spent": result.spent, "n_trials": result.n_trials, "params": result.params,
        "started": started, "finished": time.time(), **environment(), **result.extra,
    }
    store.write_cell(path, result.columns, meta)
    return CellOutcome(cell.key, result.status, result.n_trials, result.reason, str(path),
                       time.perf_counter() - t0)

"""Executing one cell: build, skip if already done, run, store.

This is the function every backend calls, in whatever process it runs, so results do not
depend on the backend. While a cell runs, ``<out>/.running/<problem>__<optimizer>__seed-<k>.lock``
names the process running it (``hpbench status`` shows it as running; a lock whose process
is gone is reported as interrupted); long cells keep a trial journal in ``<out>/.journal``
(``hpbench.journal``). A results folder that cannot be written raises ``ResultsWriteError``,
which stops the run: every backend treats it as fatal, not as one failed cell.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench import registry, seeds, store
from hpbench._procutil import pid_alive
from hpbench.evaluators import ProblemSpec, make_evaluator
from hpbench.journal import Journal, ResultsWriteError, journal_path
from hpbench.runner import CellResult, empty_columns, evaluate_inline, not_applicable, run_loop
from hpbench.suite import Cell

__all__ = ["CellOutcome", "ResultsWriteError", "execute_cell", "record_failure"]

#: problems with one of these tags keep a trial journal unless told otherwise
JOURNAL_TAGS = frozenset({"expensive"})
#: seconds between touches of a running cell's lock file
HEARTBEAT_S = 30.0

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
    attempts: int = 1  # how many workers it took (more than one after a worker died)


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


def lock_path(out: Path | str, cell: Cell) -> Path:
    return Path(out) / ".running" / f"{cell.problem}__{cell.optimizer}__seed-{cell.repeat}.lock"


def read_lock(path: Path) -> dict[str, Any]:
    """A lock's content plus ``stale``: its process is gone (same host) or it has not been
    touched for ten heartbeats (another host)."""
    try:
        info = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return {"stale": False}
    if info.get("host") == socket.gethostname():
        info["stale"] = not pid_alive(int(info.get("pid", 0)))
    else:
        info["stale"] = age > 10 * HEARTBEAT_S
    return info


class _Lock:
    """The running-cell lock: written when the cell starts, touched every ``HEARTBEAT_S``
    seconds by a thread (no per-trial cost), removed when the cell ends."""

    def __init__(self, out: Path, cell: Cell) -> None:
        self.path = lock_path(out, cell)
        self.out = out
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _Lock:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(info))
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, self.path, self.out) from exc
        self.thread = threading.Thread(target=self._beat, daemon=True, name="hpbench-lock")
        self.thread.start()
        return self

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.path.unlink(missing_ok=True)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files a killed writer left next to ``path`` (``.<name>.tmp-<pid>``)."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _write(path: Path, columns: dict[str, list], meta: dict[str, Any], out: Path) -> None:
    try:
        store.write_cell(path, columns, meta)
    except OSError as exc:  # the store removed its temporary file: nothing partial is left
        raise ResultsWriteError.wrap(exc, path, out) from exc


def _meta(cell: Cell, pseed: int, oseed: int, problem: Any, fingerprint: str,
          result: CellResult, settings: dict[str, Any], started: float) -> dict[str, Any]:
    return {
        "suite": cell.suite, "problem": cell.problem, "optimizer": cell.optimizer,
        "repeat": cell.repeat, "master_seed": cell.master_seed, "problem_seed": pseed,
        "optimizer_seed": oseed, "budget": budget_meta(cell), "timeout": cell.timeout,
        "optimizer_settings": settings or {"settings": cell.settings},
        "problem_settings": cell.problem_settings,
        "problem_definition": problem.describe() if problem is not None else {},
        "fingerprint": fingerprint,
        "optimum": None if problem is None or problem.optimum is None else {
            "value": problem.optimum.value, "kind": problem.optimum.kind,
            "source": problem.optimum.source},
        "fidelity": None if problem is None or problem.fidelity is None else {
            "low": problem.fidelity.low, "high": problem.fidelity.high,
            "name": problem.fidelity.name},
        "status": result.status, "reason": result.reason, "error": result.error,
        "spent": result.spent, "n_trials": result.n_trials, "params": result.params,
        "started": started, "finished": time.time(), **environment(), **result.extra,
    }


def journal_enabled(problem: Any, journal: bool | None) -> bool:
    """Journal when told to, else for problems tagged as expensive (``JOURNAL_TAGS``)."""
    if journal is not None:
        return bool(journal)
    return bool(JOURNAL_TAGS & set(getattr(problem, "tags", ()) or ()))


def execute_cell(cell: Cell, out: Path | str, *, on_trial=None, force: bool = False,
                 evaluator=None, journal: bool | None = None,
                 memory_limit: int | None = None) -> CellOutcome:
    """Run ``cell`` unless ``out`` already holds a valid finished file for it.

    ``evaluator`` overrides how configs are evaluated (default: inline, or in killable
    child processes when the cell has a timeout, concurrently when it has a batch > 1).
    ``journal`` (None: for problems tagged "expensive") keeps a trial journal that a resumed
    cell replays. ``memory_limit`` caps each evaluation child's address space (bytes).
    Raises ``ResultsWriteError`` when ``out`` cannot be written.
    """
    t0 = time.perf_counter()
    out = Path(out)
    path = store.cell_path(out, cell.problem, cell.optimizer, cell.repeat)
    pseed = seeds.problem_seed(cell.master_seed, cell.problem, cell.repeat)
    oseed = seeds.optimizer_seed(cell.master_seed, cell.problem, cell.optimizer, cell.repeat)
    problem = registry.make_problem(cell.problem, seed=pseed, **cell.problem_settings)
    fingerprint = problem.fingerprint()
    jpath = journal_path(out, cell.problem, cell.optimizer, cell.repeat)
    if path.exists() and not force:
        reason = store.check_cell(path, fingerprint, budget_meta(cell))
        if not reason:
            meta = store.read_meta(path)
            # killed between writing the file and tidying up: tidy up now
            jpath.unlink(missing_ok=True)
            lock = lock_path(out, cell)
            if lock.exists() and read_lock(lock)["stale"]:
                lock.unlink(missing_ok=True)
            return CellOutcome(cell.key, "skipped", meta.get("n_trials", 0),
                               meta.get("reason", ""), str(path))
        store.set_aside(path, reason)
    entry = registry.get_entry("optimizer", cell.optimizer)
    started = time.time()
    scratch = out / ".scratch" / cell.problem / cell.optimizer / f"seed-{cell.repeat}"
    settings: dict[str, Any] = {}
    execution: dict[str, Any] = {}
    jr: Journal | None = None
    ev = None
    with _Lock(out, cell):
        try:
            if not entry.requires <= problem.capabilities:
                result = not_applicable(problem, entry.factory, list(problem.space.names))
            else:
                optimizer = registry.make_optimizer(cell.optimizer, problem.space, seed=oseed,
                                                    budget=cell.budget,
                                                    fidelity=problem.fidelity, **cell.settings)
                settings = optimizer.describe()
                use_scratch = bool(problem.capabilities & {"checkpoint"})
                if use_scratch:
                    scratch.mkdir(parents=True, exist_ok=True)
                if evaluator is None:
                    spec = ProblemSpec(cell.problem, pseed, cell.problem_settings, fingerprint)
                    ev, execution["evaluator"] = make_evaluator(
                        problem, spec, batch=cell.batch, timeout=cell.timeout,
                        memory_limit=memory_limit)
                if journal_enabled(problem, journal):
                    jr = Journal.open(jpath, {
                        "cell": cell.key, "fingerprint": fingerprint,
                        "budget": budget_meta(cell), "timeout": cell.timeout,
                        "problem_seed": pseed, "optimizer_seed": oseed,
                        "settings": cell.settings, "problem_settings": cell.problem_settings},
                        out=out)
                result = run_loop(problem, optimizer, cell.budget, batch=cell.batch,
                                  scratch=scratch if use_scratch else None,
                                  evaluator=evaluator or ev or evaluate_inline,
                                  on_trial=on_trial, journal=jr)
        except ResultsWriteError:
            raise
        except Exception as exc:  # building the optimizer failed: record it, do not crash
            result = CellResult(columns={}, params=list(problem.space.names), status="failed",
                                reason=f"{type(exc).__name__}: {exc}",
                                error="".join(traceback.format_exception(exc)))
            result.columns = empty_columns(result.params)
        finally:
            try:
                if ev is not None and hasattr(ev, "close"):
                    ev.close(scratch)
                problem.cleanup(scratch)
            finally:
                if jr is not None:
                    jr.close()
                if scratch.exists():
                    shutil.rmtree(scratch, ignore_errors=True)
        if jr is not None:
            execution["journal"] = jr.summary()
        if execution:
            result.extra = {**result.extra, "execution": execution}
        meta = _meta(cell, pseed, oseed, problem, fingerprint, result, settings, started)
        _remove_stale_temporaries(path)
        _write(path, result.columns, meta, out)
        if jr is not None:
            jr.remove()
    return CellOutcome(cell.key, result.status, result.n_trials, result.reason, str(path),
                       time.perf_counter() - t0)


def record_failure(cell: Cell, out: Path | str, reason: str, *, error: str = "",
                   attempts: int = 1) -> CellOutcome:
    """Write ``cell`` as failed with ``reason`` (its workers kept dying). The problem is built
    for its fingerprint where possible; a journal the cell left is kept, so deleting the
    failed file and re-running replays what the cell had finished."""
    out = Path(out)
    path = store.cell_path(out, cell.problem, cell.optimizer, cell.repeat)
    pseed = seeds.problem_seed(cell.master_seed, cell.problem, cell.repeat)
    oseed = seeds.optimizer_seed(cell.master_seed, cell.problem, cell.optimizer, cell.repeat)
    try:
        problem = registry.make_problem(cell.problem, seed=pseed, **cell.problem_settings)
        fingerprint, params = problem.fingerprint(), list(problem.space.names)
    except Exception:
        problem, fingerprint, params = None, "", []
    result = CellResult(columns=empty_columns(params), params=params, status="failed",
                        reason=reason, error=error,
                        extra={"execution": {"attempts": attempts}})
    meta = _meta(cell, pseed, oseed, problem, fingerprint, result, {}, time.time())
    _remove_stale_temporaries(path)
    _write(path, result.columns, meta, out)
    lock_path(out, cell).unlink(missing_ok=True)
    return CellOutcome(cell.key, "failed", 0, reason, str(path), attempts=attempts)

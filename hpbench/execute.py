"""Executing one cell into a results folder: skip it if it is done, claim it, run it, write it.

This is the function every backend calls, in whatever process it runs, so results do not
depend on the backend. The cell itself (``hpbench.cell``) builds and runs in memory; this
module adds what touches the folder (``hpbench.store.ResultsDir``): the check that a
finished file is still valid, the lock that marks the cell as running (``hpbench status``
shows it; a lock whose process is gone is reported as interrupted), the trial journal that
long cells keep (``hpbench.journal``), the scratch folder for checkpoints, and the cell file
with its metadata. A results folder that cannot be written raises ``ResultsWriteError``,
which stops the run: every backend treats it as fatal, not as one failed cell.

Warnings raised while a cell is built and run (a library's ConvergenceWarning, scipy's COBYLA
notes) are recorded with the cell, counted by category and place (``warnings`` in its
metadata, at most ``MAX_WARNINGS`` places), instead of being printed through the progress
bar; hpbench's own warnings (their text starts with "hpbench") still reach the user.
``warnings.catch_warnings`` swaps module globals and is not thread-safe, so the capture is
one process-wide hook (``capture_warnings``) installed while any cell runs in the process:
it gives each warning to the cell that the raising thread runs, or, when one cell runs in
the process (every built-in backend runs one cell per process at a time, Dask workers
included), to that cell if the thread started after it (an evaluator's thread); a warning
from any other thread (a Dask worker's own) is shown as it would have been. The filters keep
deciding: warnings they ignore or turn into errors stay so, "default" or "once" ones are
counted once per place and text (``hpbench`` the command sets "default"; its spawned workers
do not), the others at each occurrence. Evaluation children (cells with a timeout, or whose
batches are evaluated in processes) print theirs on their own stderr.
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
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench._numerics import active_kernels
from hpbench.cell import Cell
from hpbench.journal import Journal
from hpbench.problem import Problem
from hpbench.store import ResultsDir, ResultsWriteError, flush_dir_syncs, read_meta
from hpbench.trials import CellResult, CellStatus

__all__ = ["CellOutcome", "ResultsWriteError", "WarningLog", "capture_warnings", "execute_cell",
           "record_failure"]

#: problems with one of these tags keep a trial journal unless told otherwise
JOURNAL_TAGS = frozenset({"expensive"})

_VERSIONED = ("hpbench", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "torch",
              "optuna", "hyperopt", "scikit-optimize", "bayesian-optimization", "nevergrad",
              "cma", "dask", "distributed")

#: places (category, file, line) whose warnings a cell records; more are only counted
MAX_WARNINGS = 20
#: characters of a warning's text that are kept
WARNING_CHARS = 300


@dataclass
class CellOutcome:
    key: str
    status: str  # "done", "failed", "not-applicable", "skipped" (already done), "error"
    n_trials: int = 0
    reason: str = ""
    path: str = ""
    seconds: float = 0.0
    attempts: int = 1  # how many workers it took (more than one after a worker died)
    recorded: str = ""  # a skipped cell: the status its file holds ("done", "failed", ...)

    @property
    def failed(self) -> bool:
        """Failed now, or skipped because an earlier run of the folder recorded it failed."""
        return self.status in ("failed", "error") or self.recorded == "failed"


class WarningLog:
    """The warnings one cell raised: the first text and the count of each place (category,
    file, line), for at most ``MAX_WARNINGS`` places; the rest are only counted."""

    def __init__(self) -> None:
        self.places: dict[tuple, list] = {}  # (category, file, line) -> [text, count]
        self.more = 0
        self.threads: frozenset[int] = frozenset()  # the threads alive when the cell began

    def __len__(self) -> int:
        return sum(n for _, n in self.places.values()) + self.more

    def add(self, message: Warning | str, category: type, filename: str, lineno: int) -> None:
        place = (category, filename, lineno)
        seen = self.places.get(place)
        if seen is not None:
            seen[1] += 1
        elif len(self.places) < MAX_WARNINGS:
            self.places[place] = [str(message)[:WARNING_CHARS], 1]
        else:
            self.more += 1

    def records(self) -> list[dict[str, Any]]:
        """``[{"category", "message", "where", "count"}]``, most frequent first."""
        out = [{"category": f"{c.__module__}.{c.__qualname__}".removeprefix("builtins."),
                "message": text, "where": f"{Path(f).parent.name}/{Path(f).name}:{line}",
                "count": n} for (c, f, line), (text, n) in self.places.items()]
        out.sort(key=lambda r: -r["count"])
        if self.more:
            out.append({"category": "", "message": f"warnings from more than {MAX_WARNINGS} "
                        "places", "where": "", "count": self.more})
        return out


_capture_lock = threading.Lock()
_capturing: dict[int, WarningLog] = {}  # thread id -> the log of the cell it runs
_shown: list = []  # [warnings.showwarning before the hook, whether the hook added a filter]
_ALWAYS = ("always", None, Warning, None, 0)


def _route(message, category, filename, lineno, file=None, line=None) -> None:
    """The process-wide ``warnings.showwarning`` while cells run (``capture_warnings``)."""
    me = threading.get_ident()
    log = _capturing.get(me)
    if log is None:
        with contextlib.suppress(ValueError, RuntimeError):  # one cell runs, this thread is new
            (only,) = list(_capturing.values())
            log = only if me not in only.threads else None
    if log is None or str(message).startswith("hpbench"):
        show = _shown[0] if _shown else warnings._showwarning_orig
        show(message, category, filename, lineno, file, line)
    else:
        log.add(message, category, filename, lineno)


@contextlib.contextmanager
def capture_warnings(log: WarningLog):
    """Record in ``log`` the warnings this thread (and the threads it starts while it is the
    only capturing one) raises inside the block, instead of showing them; thread-safe."""
    me = threading.get_ident()
    with _capture_lock:
        if not _capturing:
            added = _ALWAYS not in warnings.filters
            _shown[:] = [warnings.showwarning, added]
            warnings.showwarning = _route
            if added:  # what no filter decides is counted at each occurrence
                warnings.filterwarnings("always", append=True)
        log.threads = frozenset(t.ident for t in threading.enumerate())
        _capturing[me] = log
    try:
        yield log
    finally:
        with _capture_lock:
            _capturing.pop(me, None)
            if not _capturing and _shown:
                show, added = _shown
                if warnings.showwarning is _route:
                    warnings.showwarning = show
                if added:
                    with contextlib.suppress(ValueError):
                        warnings.filters.remove(_ALWAYS)
                    # (private: tells the registries the filters changed; absent elsewhere)
                    getattr(warnings, "_filters_mutated", lambda: None)()
                _shown.clear()


@functools.cache
def environment() -> dict[str, Any]:
    """Package versions, git revision and host, computed once per process."""
    versions = {}
    for dist in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {"versions": versions, "python": sys.version.split()[0],
            "platform": platform.platform(), "host": socket.gethostname(),
            "numpy_cpu": active_kernels(), "git_revision": git_revision()}


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


def cell_meta(cell: Cell, problem: Problem | None, fingerprint: str, result: CellResult,
              started: float, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata stored with a cell: its identity, the problem instance, how it ended, and
    the environment it ran in."""
    extra = dict(result.extra)
    settings = extra.pop("optimizer_settings", None) or {"settings": dict(cell.settings)}
    return {
        "identity": identity,
        "suite": cell.suite, "problem": cell.problem, "optimizer": cell.label,
        "repeat": cell.repeat, "master_seed": cell.master_seed,
        "problem_seed": cell.problem_seed, "optimizer_seed": cell.optimizer_seed,
        "budget": budget_meta(cell), "timeout": cell.timeout,
        "optimizer_settings": settings, "problem_settings": dict(cell.problem_settings),
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
        # the simulated clock (docs/simulated-clock.md): K, and how the run went on it
        "sim_workers": cell.sim_workers, "sim": None,
        "started": started, "finished": time.time(), **environment(), **extra,
    }


def journal_enabled(problem: Problem, journal: bool | None) -> bool:
    """Journal when told to, else for problems tagged as expensive (``JOURNAL_TAGS``)."""
    if journal is not None:
        return bool(journal)
    return bool(JOURNAL_TAGS & set(getattr(problem, "tags", ()) or ()))


def _skip(results: ResultsDir, cell: Cell, path: Path,
          identity: dict[str, Any]) -> CellOutcome | None:
    """The outcome of a cell whose file is valid and finished (tidying what a run killed
    between writing it and cleaning up left behind); None when it must be run. A file that
    is not valid any more (corrupt, incomplete, another identity) is set aside."""
    if not path.exists():
        return None
    reason = results.stale_reason(path, identity)
    if reason:
        results.set_aside(path, reason)
        return None
    meta = read_meta(path)
    results.journal_path(cell.key).unlink(missing_ok=True)
    return CellOutcome(cell.key, "skipped", meta.get("n_trials", 0), meta.get("reason", ""),
                       str(path), recorded=meta.get("status", ""))


def _claimed(results: ResultsDir, cell: Cell) -> CellOutcome:
    """The outcome of a cell another process holds (another driver on the same folder)."""
    info = results.lock_info(cell.key) or {}
    where = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    return CellOutcome(cell.key, "claimed", reason=f"being run by {where}")


def _run(results: ResultsDir, cell: Cell, problem: Problem, fingerprint: str, *,
         journal: bool | None, **run_options: Any) -> tuple[CellResult, Journal | None]:
    """Run the cell with its journal and scratch folder, and remove the scratch after; the
    journal (closed) is returned for removal once the cell file is written."""
    scratch = results.scratch_path(cell.key)
    use_scratch = "checkpoint" in problem.capabilities
    jr: Journal | None = None
    try:
        if not cell.missing_capabilities(problem) and journal_enabled(problem, journal):
            jr = Journal.open(results.journal_path(cell.key), {
                "cell": cell.key, "identity": cell.identity(fingerprint)}, out=results.root)
        if use_scratch:
            scratch.mkdir(parents=True, exist_ok=True)
        result = cell.run(problem=problem, journal=jr, scratch=scratch if use_scratch else None,
                          fingerprint=fingerprint, **run_options)
    finally:
        if jr is not None:
            jr.close()
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    if jr is not None:
        execution = result.extra.get("execution", {})
        result.extra["execution"] = {**execution, "journal": jr.summary()}
    return result, jr


def execute_cell(cell: Cell, out: ResultsDir | Path | str, *, on_trial=None,
                 force: bool = False, evaluator=None, journal: bool | None = None,
                 memory_limit: int | None = None, wait: bool = False) -> CellOutcome:
    """Run ``cell`` unless ``out`` already holds a valid finished file for it: claim it, check
    its file, run it, write it.

    A cell another process holds (another driver on the same folder) is not run: its outcome
    is "claimed", unless ``wait``, which waits for that process and then finds the cell done
    (or runs it, if that process died first). A problem that cannot be built or
    fingerprinted is recorded as a failed cell. ``evaluator`` overrides how configs are
    evaluated (``Cell.run``). ``journal`` (None: for problems tagged "expensive") keeps a
    trial journal that a resumed cell replays. ``memory_limit`` caps each evaluation's
    address space (bytes). Raises ``ResultsWriteError`` when ``out`` cannot be written.
    """
    t0 = time.perf_counter()
    results = out if isinstance(out, ResultsDir) else ResultsDir(out)
    path = results.cell_file(cell.key)
    with results.claim(cell.key, wait=wait) as mine:
        if not mine:
            return _claimed(results, cell)
        results.remove_temporaries(cell.key)  # a killed writer's, even if its pid is reused
        warned = WarningLog()  # the problem's and optimizer's warnings, kept with the cell
        try:
            with capture_warnings(warned):
                problem = cell.build_problem()
                fingerprint = problem.fingerprint()
                identity = cell.identity(fingerprint)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's exit or error: recorded, not fatal
            return _write_failure(results, cell, f"the problem could not be built: "
                                  f"{type(exc).__name__}: {exc}",
                                  "".join(traceback.format_exception(exc)), 1, warned)
        if not force and (skipped := _skip(results, cell, path, identity)) is not None:
            return skipped
        started = time.time()
        with capture_warnings(warned):
            result, jr = _run(results, cell, problem, fingerprint, journal=journal,
                              on_trial=on_trial, evaluator=evaluator, memory_limit=memory_limit)
        if warned:
            result.extra["warnings"] = warned.records()
        results.write_cell(path, result.columns,
                           cell_meta(cell, problem, fingerprint, result, started, identity))
        if jr is not None:
            flush_dir_syncs()  # the cell file's rename must be durable before its journal goes
            jr.remove()
    return CellOutcome(cell.key, result.status, result.n_trials, result.reason, str(path),
                       time.perf_counter() - t0)


def record_failure(cell: Cell, out: ResultsDir | Path | str, reason: str, *, error: str = "",
                   attempts: int = 1) -> CellOutcome:
    """Write ``cell`` as failed with ``reason`` (its workers kept dying), unless it is done
    or another process holds it: a finished cell is never overwritten. A journal the cell
    left is kept, so deleting the failed file and re-running replays what the cell had
    finished."""
    results = out if isinstance(out, ResultsDir) else ResultsDir(out)
    with results.claim(cell.key) as mine:
        if not mine:
            return _claimed(results, cell)
        return _write_failure(results, cell, reason, error, attempts)


def _write_failure(results: ResultsDir, cell: Cell, reason: str, error: str,
                   attempts: int, warned: WarningLog | None = None) -> CellOutcome:
    """Write ``cell`` as failed (the caller holds its claim), unless its file holds a cell
    that finished (done or not applicable), which is kept."""
    path = results.cell_file(cell.key)
    with contextlib.suppress(OSError, ValueError):
        meta = read_meta(path)
        if meta.get("status") in ("done", "not-applicable"):
            return CellOutcome(cell.key, "skipped", meta.get("n_trials", 0),
                               meta.get("reason", ""), str(path), recorded=meta["status"])
    again = WarningLog()  # a build that warned before warns again: counted once
    warned = again if warned is None else warned
    try:  # the problem's fingerprint, where it can be built, for the metadata
        with capture_warnings(again):
            problem: Problem | None = cell.build_problem()
            fingerprint, params = problem.fingerprint(), list(problem.space.names)
    except KeyboardInterrupt:
        raise
    except BaseException:
        problem, fingerprint, params = None, "", []
    try:  # so that a re-run of the same cell skips the record rather than redoing it
        identity: dict[str, Any] | None = cell.identity(fingerprint)
    except Exception:
        identity = None
    extra: dict[str, Any] = {"execution": {"attempts": attempts}}
    if warned:
        extra["warnings"] = warned.records()
    result = CellResult.empty(params, CellStatus.FAILED, reason, error=error, extra=extra)
    results.write_cell(path, result.columns,
                       cell_meta(cell, problem, fingerprint, result, time.time(), identity))
    return CellOutcome(cell.key, "failed", 0, reason, str(path), attempts=attempts)

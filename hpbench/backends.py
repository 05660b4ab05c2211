"""Execution backends: the same cells serially, in a local pool of worker processes, or on a
Dask cluster.

Every backend calls ``execute_cell`` and lets it write through the atomic store, so the
values on disk do not depend on the backend or the number of workers. A backend is a
function ``(cells, out, *, workers, progress, on_done, **options) -> [CellOutcome]``
registered with ``@backend(name)`` here, or by another package through the entry-point group
``hpbench.backends`` (the entry point's name is the backend's, its object the function);
``progress(key, spent, worker)`` reports a cell's budget used so far, ``on_done(outcome)``
each finished cell.

Options every backend accepts: ``retries`` (2: how many times a cell whose worker died is
run again on a fresh worker before it is recorded as failed with the reason), ``journal``
(None: for problems tagged "expensive"), ``memory_limit`` (bytes of address space per worker
and evaluation child, None: unlimited). A ``ResultsWriteError`` (disk full, unwritable
folder) stops the run: no new cell starts, running ones finish, and the error is raised.

* ``serial``: in this process. A crash of the objective here ends the run (re-run to
  resume); use ``processes`` or a timeout to contain crashes.
* ``processes``: ``workers`` spawned processes (spawn, not fork: torch and BLAS thread pools
  do not survive a fork). Each worker dies with the parent, so a killed ``hpbench run``
  leaves no orphan writing into the folder.
* ``dask``: ``dask.distributed``; a ``LocalCluster`` of ``workers`` processes with one thread
  each, or the cluster at ``scheduler`` (``tcp://HOST:PORT``), e.g. one started by
  dask-jobqueue on Slurm (``hpbench.dask_backend``, docs/dask.md).

Across cells known to be cheap (``CostModel``: the median of the finished cells of their kind
at most ``CHEAP_S``) every backend defers the fsync of the cells' folders
(``store.deferred_dir_sync``, where the crash-safety argument is), and the Dask backend runs
several in one task.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import multiprocessing
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hpbench._procutil import apply_memory_limit, describe_exit, die_with_parent, safe_path
from hpbench.cell import Cell
from hpbench.execute import CellOutcome, ResultsWriteError, execute_cell, record_failure
from hpbench.registry import unknown_name_message
from hpbench.store import DIR_SYNC_MAX_AGE, deferred_dir_sync, flush_dir_syncs

Backend = Callable[..., list["CellOutcome"]]
BACKENDS: dict[str, Backend] = {}
#: the entry-point group through which other packages add backends
ENTRY_POINT_GROUP = "hpbench.backends"

#: (cell key, budget used so far in that cell, worker name or None)
ProgressFn = Callable[..., None]
DoneFn = Callable[[CellOutcome], None]

#: seconds between progress messages a worker sends for one cell
PROGRESS_PERIOD = 0.25
#: a cell expected to take at most this many seconds is cheap: backends defer the fsync of
#: its folder across a run of cheap cells (``store.deferred_dir_sync``), and the Dask backend
#: runs several cheap cells in one task
CHEAP_S = 1.0


def backend(name: str):
    def deco(fn):
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        BACKENDS[name] = fn
        return fn
    return deco


#: built-in backends in modules of their own, imported (and so registered) on first use:
#: ``hpbench.dask_backend`` imports this module, and a Dask worker imports it first
LAZY = {"dask": "hpbench.dask_backend"}


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """The built-in backends and those other packages declare (not loaded yet)."""
    return sorted(set(BACKENDS) | set(LAZY) | set(_entry_points()))


def get_backend(name: str) -> Backend:
    """The backend ``name``, loading it from its module or entry point the first time."""
    if name not in BACKENDS and name in LAZY:
        importlib.import_module(LAZY[name])
    if name not in BACKENDS:
        ep = _entry_points().get(name)
        if ep is None:
            raise ValueError(unknown_name_message("backend", name, backend_names()))
        BACKENDS[name] = ep.load()
    return BACKENDS[name]


def _error_outcome(cell: Cell, exc: BaseException) -> CellOutcome:
    return CellOutcome(cell.key, "error", reason=f"{type(exc).__name__}: {exc}")


def _progress_adapter(progress: ProgressFn | None) -> Callable[[str, float, Any], None] | None:
    """Call ``progress`` with the worker name only if it takes three arguments."""
    if progress is None:
        return None
    try:
        inspect.signature(progress).bind("k", 0.0, None)
        return progress
    except TypeError:
        return lambda key, spent, worker: progress(key, spent)


class CostModel:
    """The expected seconds of a cell: the median of the last few cells of its kind (problem,
    optimizer) that finished in this run, so that the first cell a worker runs, which pays
    for its imports, does not make a kind look expensive for long; None until one has
    finished (a cell of unknown cost is never cheap)."""

    KEEP = 9

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], deque[float]] = {}

    def learn(self, cell: Cell, outcome: CellOutcome) -> None:
        if outcome.seconds > 0 and outcome.status in ("done", "failed", "not-applicable"):
            kind = (cell.problem, cell.optimizer)
            self.seen.setdefault(kind, deque(maxlen=self.KEEP)).append(outcome.seconds)

    def expected(self, cell: Cell) -> float | None:
        seen = self.seen.get((cell.problem, cell.optimizer))
        return sorted(seen)[len(seen) // 2] if seen else None

    def cheap(self, cell: Cell) -> bool:
        seconds = self.expected(cell)
        return seconds is not None and seconds <= CHEAP_S


def _check_retries(retries: Any) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    return retries


@backend("serial")
def run_serial(cells: Sequence[Cell], out: Path, *, progress: ProgressFn | None = None,
               on_done: DoneFn | None = None, workers: int = 1, journal: bool | None = None,
               memory_limit: int | None = None, wait_claimed: bool = False,
               **_: object) -> list[CellOutcome]:
    report = _progress_adapter(progress)
    outcomes, costs = [], CostModel()
    with deferred_dir_sync():  # across cheap cells only: flushed before any other
        for cell in cells:
            on_trial = (lambda spent, key=cell.key: report(key, spent, None)) if report else None
            if report:
                report(cell.key, 0.0, None)  # it starts
            if not costs.cheap(cell):
                flush_dir_syncs()
            try:
                outcome = execute_cell(cell, out, on_trial=on_trial, journal=journal,
                                       memory_limit=memory_limit, wait=wait_claimed)
            except ResultsWriteError:
                raise
            except Exception as exc:  # e.g. the problem could not be built: record, go on
                outcome = _error_outcome(cell, exc)
            costs.learn(cell, outcome)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return outcomes


# -- local worker processes -------------------------------------------------------------------


class _Throttled:
    """Sends a cell's progress at most every ``period`` seconds."""

    def __init__(self, send: Callable[[tuple], None], key: str,
                 period: float = PROGRESS_PERIOD) -> None:
        self.send, self.key, self.period, self.last = send, key, period, 0.0

    def __call__(self, spent: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            self.send(("progress", self.key, spent))


def _worker_main(conn, parent_pid: int, memory_limit: int | None) -> None:
    """A worker of the ``processes`` backend: runs the jobs sent on ``conn`` until told to
    stop or the parent dies."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    apply_memory_limit(memory_limit)
    conn.send(("ready",))
    with deferred_dir_sync():  # across the cheap cells the driver sends in a row
        while True:
            try:
                if not conn.poll(DIR_SYNC_MAX_AGE):  # idle: make the finished cells durable
                    flush_dir_syncs()
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job[0] == "stop":
                return
            conn.send(_worker_job(conn, job))


def _worker_job(conn, job: tuple) -> tuple:
    """Run one job of the ``processes`` backend in its worker; the reply to send."""
    try:
        if job[0] == "cell":
            _, cell, out, options, report, cheap = job
            if not cheap:
                flush_dir_syncs()
            on_trial = _Throttled(conn.send, cell.key) if report else None
            return ("done", execute_cell(cell, out, on_trial=on_trial, **options))
        _, cell, out, reason, attempts = job  # "record": a cell whose workers kept dying
        flush_dir_syncs()
        return ("done", record_failure(cell, out, reason, attempts=attempts))
    except ResultsWriteError as exc:
        return ("fatal", str(exc), exc.errno)
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}",
                "".join(traceback.format_exception(exc)))


class _Slot:
    def __init__(self, ctx, index: int, memory_limit: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid(), memory_limit),
                                name=f"hpbench-worker-{index}", daemon=False)
        with safe_path():
            self.proc.start()
        child.close()
        self.name = f"worker-{index}"
        self.job: int | None = None
        self.ready = False  # it said so: a death before that is a start-up failure

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _death_reason(cell: Cell, reasons: list[str]) -> str:
    counts = {r: reasons.count(r) for r in reasons}
    what = "; ".join(r if n == 1 else f"{r} x{n}" for r, n in counts.items())
    return f"worker died {len(reasons)} time{'s' if len(reasons) > 1 else ''}: {what}"


class _Pool:
    """The ``processes`` backend's bookkeeping: which worker runs which job, how often each
    cell's worker died, the outcomes so far. A job is ("cell", i) or ("record", i): writing
    cell i as failed after its workers kept dying."""

    def __init__(self, cells: Sequence[Cell], out: Path, workers: int, report, on_done,
                 retries: int, options: dict[str, Any]) -> None:
        self.cells, self.out, self.report, self.on_done = cells, out, report, on_done
        self.retries, self.options = retries, options
        self.ctx = multiprocessing.get_context("spawn")
        self.pending: deque[tuple[str, int]] = deque(("cell", i) for i in range(len(cells)))
        self.deaths: dict[int, list[str]] = {}
        self.outcomes: dict[int, CellOutcome] = {}
        self.slots: list[_Slot | None] = [None] * max(1, min(workers, len(cells)))
        self.jobs: dict[int, str] = {}  # slot -> job kind
        self.fatal: ResultsWriteError | None = None
        self.start_failures: list[str] = []
        self.costs = CostModel()

    def dispatch(self) -> list[_Slot]:
        """Give every idle worker a pending job (starting workers as needed); the busy ones."""
        for w, slot in enumerate(self.slots):
            if self.fatal is None and self.pending and (slot is None or slot.job is None):
                if slot is None:
                    slot = self.slots[w] = _Slot(self.ctx, w, self.options["memory_limit"])
                kind, i = self.pending.popleft()
                cell = self.cells[i]
                if kind == "cell":
                    slot.conn.send(("cell", cell, self.out, self.options,
                                    self.report is not None, self.costs.cheap(cell)))
                    if self.report:
                        self.report(cell.key, 0.0, slot.name)  # it starts
                else:
                    slot.conn.send(("record", cell, self.out,
                                    _death_reason(cell, self.deaths[i]), len(self.deaths[i])))
                slot.job, self.jobs[w] = i, kind
        return [s for s in self.slots if s is not None and s.job is not None]

    def finish(self, i: int, outcome: CellOutcome, kind: str) -> None:
        # a recorded failure took as many attempts as there were deaths, a run one more
        outcome.attempts = len(self.deaths.get(i, ())) + (kind == "cell")
        self.outcomes[i] = outcome
        self.costs.learn(self.cells[i], outcome)
        if self.on_done:
            self.on_done(outcome)

    def read(self, w: int, slot: _Slot) -> None:
        """Handle what worker ``w`` sent; ``EOFError`` when it died."""
        i = slot.job
        while slot.conn.poll():
            msg = slot.conn.recv()
            if msg[0] == "ready":
                slot.ready = True
                continue
            if msg[0] == "progress":
                if self.report:
                    self.report(msg[1], msg[2], slot.name)
                continue
            slot.job = None
            if msg[0] == "done":
                self.finish(i, msg[1], self.jobs[w])
            elif msg[0] == "fatal":
                self.fatal = self.fatal or ResultsWriteError(msg[2], msg[1])
            else:
                self.finish(i, CellOutcome(self.cells[i].key, "error", reason=msg[1]),
                            self.jobs[w])
            return
        if not slot.proc.is_alive():
            raise EOFError

    def died(self, w: int, slot: _Slot) -> None:
        """Worker ``w`` died running its job (a segfault, os._exit, the OOM killer): run the
        cell again on a fresh worker, or record it as failed after ``retries`` deaths."""
        i = slot.job
        slot.proc.join(timeout=5)
        reason = describe_exit(slot.proc.exitcode)
        slot.conn.close()
        self.slots[w] = None
        if not slot.ready:  # not the cell's fault: the worker never started
            self.start_failures.append(reason)
            if len(self.start_failures) >= 3:
                raise RuntimeError(
                    f"worker processes cannot start ({'; '.join(self.start_failures)}); a "
                    "script that calls hpbench.run must guard it with `if __name__ == "
                    "\"__main__\":` (spawned workers import the script)") from None
            self.pending.appendleft((self.jobs[w], i))
            return
        cell = self.cells[i]
        if self.jobs.get(w) == "record":
            self.finish(i, CellOutcome(cell.key, "error", reason=(
                f"{_death_reason(cell, self.deaths[i])}; recording the failure also died: "
                f"{reason}")), "record")
            return
        self.deaths.setdefault(i, []).append(reason)
        self.pending.appendleft(("cell" if len(self.deaths[i]) <= self.retries else "record",
                                 i))

    def run(self) -> list[CellOutcome]:
        try:
            while busy := self.dispatch():
                ready = set(wait([s.conn for s in busy] + [s.proc.sentinel for s in busy]))
                for w, slot in enumerate(self.slots):
                    if slot is None or slot.job is None or \
                            (slot.conn not in ready and slot.proc.sentinel not in ready):
                        continue
                    try:
                        self.read(w, slot)
                    except (EOFError, OSError):
                        self.died(w, slot)
        finally:
            for slot in self.slots:
                if slot is not None:
                    if slot.job is not None:  # interrupted: do not wait for the cell
                        slot.proc.kill()
                    slot.stop()
        if self.fatal is not None:
            raise self.fatal
        return [self.outcomes[i] for i in range(len(self.cells))]


@backend("processes")
def run_processes(cells: Sequence[Cell], out: Path, *, workers: int = 2,
                  progress: ProgressFn | None = None, on_done: DoneFn | None = None,
                  retries: int = 2, journal: bool | None = None,
                  memory_limit: int | None = None, **_: object) -> list[CellOutcome]:
    options = {"journal": journal, "memory_limit": memory_limit}
    return _Pool(cells, out, workers, _progress_adapter(progress), on_done,
                 _check_retries(retries), options).run()


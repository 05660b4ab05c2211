"""Execution backends: the same cells, serially or in a local process pool.

Every backend calls ``execute_cell`` and lets it write through the atomic store, so the
values on disk do not depend on the backend or the number of workers.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from hpbench.execute import CellOutcome, execute_cell
from hpbench.suite import Cell

BACKENDS: dict[str, Callable[..., list[CellOutcome]]] = {}

ProgressFn = Callable[[str, float], None]  # (cell key, budget used so far in that cell)


def backend(name: str):
    def deco(fn):
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        BACKENDS[name] = fn
        return fn
    return deco


def _error_outcome(cell: Cell, exc: BaseException) -> CellOutcome:
    return CellOutcome(cell.key, "error", reason=f"{type(exc).__name__}: {exc}")


@backend("serial")
def run_serial(cells: Sequence[Cell], out: Path, *, progress: ProgressFn | None = None,
               on_done: Callable[[CellOutcome], None] | None = None,
               workers: int = 1, **_: object) -> list[CellOutcome]:
    outcomes = []
    for cell in cells:
        on_trial = (lambda spent, key=cell.key: progress(key, spent)) if progress else None
        try:
            outcome = execute_cell(cell, out, on_trial=on_trial)
        except Exception as exc:  # e.g. the problem could not be built: record, go on
            outcome = _error_outcome(cell, exc)
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    return outcomes


class _Throttled:
    """Forwards a cell's progress to a queue at most every ``period`` seconds."""

    def __init__(self, q, key: str, period: float = 0.25) -> None:
        self.q, self.key, self.period, self.last = q, key, period, 0.0

    def __call__(self, spent: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            self.q.put((self.key, spent))


def _process_worker(cell: Cell, out: Path, q) -> CellOutcome:
    return execute_cell(cell, out, on_trial=_Throttled(q, cell.key) if q is not None else None)


@backend("processes")
def run_processes(cells: Sequence[Cell], out: Path, *, workers: int = 2,
                  progress: ProgressFn | None = None,
                  on_done: Callable[[CellOutcome], None] | None = None,
                  **_: object) -> list[CellOutcome]:
    # spawn, not fork: torch and BLAS thread pools do not survive a fork safely
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager() if progress else None
    q = manager.Queue() if manager else None
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                key, spent = q.get(timeout=0.1)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            progress(key, spent)

    drainer = threading.Thread(target=drain, daemon=True) if q is not None else None
    if drainer:
        drainer.start()
    outcomes: dict[int, CellOutcome] = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_process_worker, cell, out, q): i
                       for i, cell in enumerate(cells)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    outcome = fut.result()
                except BrokenProcessPool as exc:
                    outcome = _error_outcome(cells[i], exc)
                except Exception as exc:
                    outcome = _error_outcome(cells[i], exc)
                outcomes[i] = outcome
                if on_done:
                    on_done(outcome)
    finally:
        stop.set()
        if drainer:
            drainer.join(timeout=1)
        if manager:
            manager.shutdown()
    return [outcomes[i] for i in range(len(cells))]

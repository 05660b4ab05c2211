"""Progress bars: the whole run (budget spent across cells, cells done, ETA) and, when the
backend says which worker runs a cell (processes, Dask), one line per worker with its cell's
trials and ETA."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from hpbench.cell import Cell

_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} "
           "[{elapsed}<{remaining}, {rate_fmt}] {postfix}")


class Progress:
    """Counts budget units (trials, for evaluation budgets) over all cells, with an ETA.

    ``update(key, spent, worker=None)`` may be called from a backend's helper thread (Dask
    events), so updates are serialized with a lock.
    """

    def __init__(self, cells: Sequence[Cell], *, enabled: bool = True) -> None:
        self.total_cells = len(cells)
        self.budgets = {c.key: float(c.budget.amount) for c in cells}
        self.seen: dict[str, float] = {}
        self.cells_done = 0
        self.bar = None
        self.workers: dict[str, tuple[object, list]] = {}  # name -> (bar, [cell key, spent])
        self.lock = threading.Lock()
        if enabled and cells:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.bar = tqdm(total=sum(self.budgets.values()), unit="eval",
                            desc="trials", file=sys.stderr, dynamic_ncols=True,
                            bar_format=_FORMAT)
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"cells {self.cells_done}/{self.total_cells}")

    def _advance(self, key: str, spent: float) -> None:
        spent = min(spent, self.budgets.get(key, spent))
        delta = spent - self.seen.get(key, 0.0)
        if delta > 0 and self.bar is not None:
            self.seen[key] = spent
            # fractional fidelity costs summed over many cells drift in the last bits: never
            # past the total (tqdm warns and shows a negative ETA)
            delta = min(delta, self.bar.total - self.bar.n)
            if delta > 0:
                self.bar.update(delta)

    def _worker_line(self, worker: str, key: str, spent: float) -> None:
        if worker not in self.workers:
            bar = self._tqdm(total=1, desc=str(worker), file=sys.stderr, dynamic_ncols=True,
                             position=len(self.workers) + 1, leave=False, bar_format=_FORMAT)
            self.workers[worker] = (bar, ["", 0.0])
        bar, state = self.workers[worker]
        if state[0] != key:  # the worker moved on to another cell
            state[0], state[1] = key, 0.0
            bar.reset(total=self.budgets.get(key, 1.0))
            bar.set_postfix_str(key)
        spent = min(spent, self.budgets.get(key, spent))
        if spent > state[1]:
            bar.update(spent - state[1])
            state[1] = spent

    def update(self, key: str, spent: float, worker: str | None = None) -> None:
        with self.lock:
            self._advance(key, spent)
            if worker is not None and self.bar is not None:
                self._worker_line(worker, key, spent)

    def done(self, outcome) -> None:
        with self.lock:
            # a finished or skipped cell counts its whole budget, whatever it spent
            self._advance(outcome.key, self.budgets.get(outcome.key, 0.0))
            self.cells_done += 1
            if self.bar is not None and self.cells_done == self.total_cells:
                self.bar.n = self.bar.total  # and end exactly on it
                self.bar.refresh()
            self._postfix()

    def close(self) -> None:
        for bar, _ in self.workers.values():
            bar.close()
        if self.bar is not None:
            self.bar.close()

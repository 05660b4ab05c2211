"""A progress bar over the whole run: budget spent across cells, cells done, ETA."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hpbench.suite import Cell


class Progress:
    """Counts budget units (trials, for evaluation budgets) over all cells, with an ETA."""

    def __init__(self, cells: Sequence[Cell], *, enabled: bool = True) -> None:
        self.total_cells = len(cells)
        self.budgets = {c.key: float(c.budget.amount) for c in cells}
        self.seen: dict[str, float] = {}
        self.cells_done = 0
        self.bar = None
        if enabled and cells:
            from tqdm import tqdm

            self.bar = tqdm(total=round(sum(self.budgets.values()), 3), unit="eval",
                            desc="trials", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} "
                                       "[{elapsed}<{remaining}, {rate_fmt}] {postfix}")
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"cells {self.cells_done}/{self.total_cells}")

    def _advance(self, key: str, spent: float) -> None:
        spent = min(spent, self.budgets.get(key, spent))
        delta = spent - self.seen.get(key, 0.0)
        if delta > 0 and self.bar is not None:
            self.seen[key] = spent
            self.bar.update(delta)

    def update(self, key: str, spent: float) -> None:
        self._advance(key, spent)

    def done(self, outcome) -> None:
        # a finished or skipped cell counts its whole budget, whatever it spent
        self._advance(outcome.key, self.budgets.get(outcome.key, 0.0))
        self.cells_done += 1
        self._postfix()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

"""Grid search: a budget-sized regular grid, visited in a seeded random order.

Visiting the grid in random order (not lexicographic) makes every prefix of the run a
fair sample of the grid, so curves at smaller budgets are not biased towards one corner.
When the budget outlasts the grid (discrete spaces with fewer points, or conditional
parameters that collapse), the grid is refined — the next grid holds twice as many
points — and only unseen configs are visited.
"""

from __future__ import annotations

import json

from hpbench import Optimizer, register_optimizer


@register_optimizer("grid", tags=("baseline", "exhaustive"),
                    description="budget-sized grid in a seeded random order")
class GridSearch(Optimizer):
    """A grid of at most ``budget`` points (``Space.grid``), shuffled with the seed."""

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._size = int(self.budget.evaluations or 100)
        self._seen: set[str] = set()
        self._queue: list[dict] = []
        self._exhausted = False

    def _refill(self) -> None:
        while not self._queue and not self._exhausted:
            grid = self._grid(self._size)
            fresh = []
            for config in grid:
                key = json.dumps(config, sort_keys=True)
                if key not in self._seen:
                    self._seen.add(key)
                    fresh.append(config)
            order = self.rng.permutation(len(fresh))
            self._queue = [fresh[i] for i in order]
            if not fresh and len(grid) < self._size:
                # the grid holds every distinct config the space has: nothing left to try
                self._exhausted = True
            self._size *= 2

    def _grid(self, size: int) -> list[dict]:
        """The grid of at most ``size`` points to visit (``sklearn-grid`` overrides it)."""
        return self.space.grid(size)

    def ask(self, n: int) -> list[dict]:
        self._refill()
        out, self._queue = self._queue[:n], self._queue[n:]
        return out

    def tell(self, observations) -> None:
        pass

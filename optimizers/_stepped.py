"""``SteppedOptimizer``: an optimizer written as a generator of batches of cube points.

The stochastic and population optimizers are easiest to read as a loop: make points, get
their values, make the next points. ``SteppedOptimizer`` runs such a loop (a Python
generator that yields batches of points of ``[0, 1]^d`` and receives their values) under the
runner's ask/tell contract: a batch can be handed out over several ``ask(n)`` calls (the
runner asks fewer near the end of the budget), the generator is resumed once every point of
the batch was told, and a failed trial comes back as NaN. Population methods yield one whole
generation per batch, so the runner can evaluate it in parallel.

The unit cube itself (levels, bin centres, snapping, category-aware moves) is
``hpbench.cube.UnitCube``, available as ``self.cube``.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from hpbench import Observation, Optimizer, Space, Suggestion
from hpbench.cube import UnitCube

__all__ = ["Search", "SteppedOptimizer", "worst_as_inf"]

#: a generator that yields (k, d) arrays of cube points and receives (k,) value arrays
Search = Generator[np.ndarray, np.ndarray, None]


def worst_as_inf(values: np.ndarray) -> np.ndarray:
    """Failed evaluations (NaN) become +inf, so every comparison ranks them worst."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isnan(values), np.inf, values)


class SteppedOptimizer(Optimizer):
    """An optimizer written as a generator of cube-point batches (see the module docstring).

    Subclasses implement ``_search()``: a generator that yields ``(k, d)`` arrays of points
    in ``[0, 1]^d`` (discrete coordinates at bin centres, ``UnitCube.snap``) and receives a
    ``(k,)`` array of their values, NaN for a failed evaluation. ``self.best_u`` and
    ``self.best_value`` track the best point told so far.
    """

    #: the search is a live Python generator, which pickle cannot save (its state is the
    #: suspended frame); recording what it was sent and replaying it would make a copy, but
    #: nothing in hpbench ships or checkpoints optimizers, so it is declared instead
    picklable = False

    #: a batch (a generation; one point of a sequential local search) is resumed only when
    #: every point of it was told, and an ``ask`` past a handed-out batch abandons it: the
    #: simulated parallel clock must wait for the batch (``Optimizer.synchronous``)
    synchronous = True

    #: consecutive empty batches after which the search counts as stuck (a bug guard)
    MAX_EMPTY = 10_000

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.cube = UnitCube(space)
        self.best_u: np.ndarray | None = None
        self.best_value = math.inf
        self._search_gen: Search | None = None
        self._round = -1
        self._points = np.zeros((0, self.cube.d))
        self._values = np.zeros(0)
        self._told = np.zeros(0, dtype=bool)
        self._next = 0
        self._done = False

    def _search(self) -> Search:
        raise NotImplementedError

    # the generator protocol ---------------------------------------------------------------
    def _advance(self, values: np.ndarray | None) -> None:
        """Resume the search with the values of the current batch; fetch the next batch."""
        try:
            for _ in range(self.MAX_EMPTY):
                if self._search_gen is None:
                    self._search_gen = self._search()
                    batch = next(self._search_gen)
                else:
                    batch = self._search_gen.send(values)
                batch = np.asarray(batch, dtype=float).reshape(-1, self.cube.d)
                if len(batch):
                    break
                values = np.zeros(0)
            else:
                raise RuntimeError(f"{type(self).__name__}: the search yielded "
                                   f"{self.MAX_EMPTY} empty batches in a row")
        except StopIteration:
            self._done = True
            batch = np.zeros((0, self.cube.d))
        self._round += 1
        self._points = batch
        self._values = np.full(len(batch), np.nan)
        self._told = np.zeros(len(batch), dtype=bool)
        self._next = 0

    def ask(self, n: int) -> list[Suggestion]:
        if self._done:
            return []
        if self._search_gen is None:
            self._advance(None)
        elif self._next >= len(self._points):
            # every point was handed out but not all were told (someone asked twice without
            # telling): count the missing ones as failed rather than stall
            self._advance(self._values.copy())
        start, stop = self._next, min(self._next + max(1, int(n)), len(self._points))
        self._next = stop
        configs = self.space.from_unit_array(self._points[start:stop])
        return [Suggestion(c, tag=(self._round, j)) for j, c in zip(range(start, stop), configs)]

    def tell(self, observations: Sequence[Observation]) -> None:
        for ob in observations:
            tag = ob.suggestion.tag
            if not (isinstance(tag, tuple) and len(tag) == 2 and tag[0] == self._round):
                continue  # from an abandoned batch
            j = tag[1]
            value = float(ob.value) if ob.ok else math.nan
            self._values[j] = value
            self._told[j] = True
            if value < self.best_value:
                self.best_value = value
                self.best_u = self._points[j].copy()
        if len(self._told) and self._told.all():
            self._advance(self._values.copy())

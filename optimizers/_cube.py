"""Shared helpers for optimizers that move in the unit cube of a ``Space``.

Two things live here so that the stochastic and population optimizers do not copy them:

* ``Cube``: which coordinates are integer or categorical, how to snap a coordinate to the
  centre of its bin (the point ``Space.to_unit`` gives a discrete value), how to read and
  set a level, and the category-aware moves (resample another category; move an integer by
  at least one level). Discrete coordinates are kept *at* bin centres by the optimizers, so
  the point an optimizer stores is exactly the config it evaluated.
* ``SteppedOptimizer``: an ``Optimizer`` whose algorithm is written as a Python generator
  that yields batches of cube points and receives their values. It turns that into the
  runner's ask/tell contract: a batch can be handed out over several ``ask(n)`` calls
  (the runner asks fewer near the end of the budget), is resumed once every point of it
  was told, and a failed trial comes back as NaN. Population methods yield one whole
  generation per batch, so the runner can evaluate it in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from hpbench import Observation, Optimizer, Space, Suggestion

__all__ = ["Cube", "SteppedOptimizer", "reflect", "worst_as_inf"]

#: a generator that yields (k, d) arrays of cube points and receives (k,) value arrays
Search = Generator[np.ndarray, np.ndarray, None]


class Cube:
    """What an optimizer needs to know about the coordinates of ``space``'s unit cube."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.params = [space[n] for n in space.names]
        self.d = len(self.params)
        self.levels = np.array([dim.n_levels or 0 for dim in space.dims], dtype=int)
        self.is_cat = np.array([dim.kind == "cat" for dim in space.dims], dtype=bool)
        self.is_int = np.array([dim.kind == "int" for dim in space.dims], dtype=bool)
        self.is_disc = self.is_cat | self.is_int
        self.is_float = ~self.is_disc
        self.disc_idx = np.flatnonzero(self.is_disc)
        self.cat_idx = np.flatnonzero(self.is_cat)
        self.int_idx = np.flatnonzero(self.is_int)
        # categories and linear integers have equal-width bins; log integers need the param
        self._log_int = np.array([dim.kind == "int" and dim.log for dim in space.dims],
                                 dtype=bool)

    # levels and bin centres ---------------------------------------------------------------
    def level(self, i: int, u: float) -> int:
        """Index (0-based) of the level coordinate ``i`` takes at cube value ``u``."""
        n = int(self.levels[i])
        if self._log_int[i]:
            return int(self.params[i].from_unit(u)) - self.params[i].low
        return min(n - 1, max(0, math.floor(float(u) * n)))

    def centre(self, i: int, k: int) -> float:
        """Cube value at the centre of level ``k`` of coordinate ``i``."""
        if self._log_int[i]:
            return self.params[i].to_unit(self.params[i].low + int(k))
        return (int(k) + 0.5) / int(self.levels[i])

    def snap(self, U: np.ndarray) -> np.ndarray:
        """Copy of ``U`` (one point or rows of points) clipped to the cube, with every
        discrete coordinate moved to the centre of the bin it falls in."""
        U = np.clip(np.array(U, dtype=float), 0.0, 1.0)
        flat = U.reshape(-1, self.d)
        for i in self.disc_idx:
            if self._log_int[i]:
                flat[:, i] = [self.centre(i, self.level(i, u)) for u in flat[:, i]]
            else:
                n = self.levels[i]
                flat[:, i] = (np.minimum(n - 1, np.floor(flat[:, i] * n)) + 0.5) / n
        return U

    # category-aware moves -----------------------------------------------------------------
    def other_level(self, i: int, k: int, rng: np.random.Generator) -> int:
        """A level of coordinate ``i`` drawn uniformly among those other than ``k``."""
        n = int(self.levels[i])
        if n < 2:
            return k
        j = int(rng.integers(n - 1))
        return j + (j >= k)

    def resample_category(self, i: int, u: float, rng: np.random.Generator) -> float:
        """Bin centre of a category other than the one at ``u`` (uniform among the rest):
        categories have no order, so a move is a jump to any other one."""
        return self.centre(i, self.other_level(i, self.level(i, u), rng))

    def step_integer(self, i: int, u: float, sigma: float, rng: np.random.Generator) -> float:
        """A Gaussian step of scale ``sigma`` (in cube units) from ``u``, snapped to a bin
        centre, moving at least one level: a step that rounds back to the same integer would
        waste an evaluation."""
        n = int(self.levels[i])
        k = self.level(i, u)
        if n < 2:
            return self.centre(i, k)
        target = float(reflect(np.array([u + sigma * rng.standard_normal()]))[0])
        j = self.level(i, target)
        if j == k:
            j = k + (1 if rng.random() < 0.5 else -1)
            if j < 0 or j >= n:
                j = 2 * k - j  # the other neighbour, at an end of the range
        return self.centre(i, j)

    def mutate(self, u: np.ndarray, mask: np.ndarray, sigma: float | np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Copy of point ``u`` with the coordinates in ``mask`` perturbed: floats by a
        Gaussian step of scale ``sigma`` reflected into the cube, integers by at least one
        level, categories resampled."""
        out = np.array(u, dtype=float)
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), (self.d,))
        for i in np.flatnonzero(mask):
            if self.is_cat[i]:
                out[i] = self.resample_category(i, out[i], rng)
            elif self.is_int[i]:
                out[i] = self.step_integer(i, out[i], sig[i], rng)
            else:
                out[i] = out[i] + sig[i] * rng.standard_normal()
        return self.snap(reflect(out))

    def key(self, u: np.ndarray) -> tuple:
        """A hashable key of a (snapped) point, for caching values of repeated configs."""
        return tuple(np.round(np.asarray(u, dtype=float), 12).tolist())


def reflect(U: np.ndarray) -> np.ndarray:
    """Fold points into ``[0, 1]`` by mirroring at the faces (any distance outside)."""
    U = np.mod(np.asarray(U, dtype=float), 2.0)
    return np.where(U > 1.0, 2.0 - U, U)


def worst_as_inf(values: np.ndarray) -> np.ndarray:
    """Failed evaluations (NaN) become +inf, so every comparison ranks them worst."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isnan(values), np.inf, values)


class SteppedOptimizer(Optimizer):
    """An optimizer written as a generator of cube-point batches (see the module docstring).

    Subclasses implement ``_search()``: a generator that yields ``(k, d)`` arrays of points
    in ``[0, 1]^d`` (discrete coordinates at bin centres, ``Cube.snap``) and receives a
    ``(k,)`` array of their values, NaN for a failed evaluation. ``self.best_u`` and
    ``self.best_value`` track the best point told so far.
    """

    #: consecutive empty batches after which the search counts as stuck (a bug guard)
    MAX_EMPTY = 10_000

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.cube = Cube(space)
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
        return [Suggestion(self.space.from_unit(self._points[j]), tag=(self._round, j))
                for j in range(start, stop)]

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

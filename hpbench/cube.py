"""One vectorized view of a ``Space``'s unit cube, for every optimizer that works in it.

``Space.to_unit`` gives each parameter one coordinate of ``[0, 1]^d`` and puts discrete
values at the centre of their bin. An optimizer that moves in the cube needs more than the
mapping: which coordinates are discrete and how many levels they have, the bin a coordinate
falls in and its centre, points snapped to bin centres (so the point an optimizer stores is
exactly the config it evaluated), moves that respect categories (jump to another category,
move an integer by at least one level), and, for surrogate models, which conditional
coordinates are active and a feature encoding with one-hot categoricals. ``UnitCube``
offers all of it, over whole arrays of points where that is exact.

Two rules find the level of a discrete coordinate, and they differ only within an ulp below
a bin edge (``floor(u n)`` can round up to the next level there, the edge comparison does
not). Both stay, because each optimizer's trajectory is pinned bit for bit to the rule it
was written with:

* ``level`` / ``levels_at`` / ``snap``: the level ``floor(u n)`` (what
  ``Categorical.from_unit`` decodes), and ``Int.from_unit`` itself for log-scaled integers.
  The stochastic, population and multi-fidelity optimizers use it;
* ``bin_of`` / ``canonical`` / ``encode``: comparison with the bin edges (equal width, in
  log space for log integers). The model-based optimizers use it.

Vectorized forms here give the same floats as the scalar ones and draw the same numbers from
a ``Generator`` in the same order: numpy's array draws (``standard_normal(k)``,
``integers(n, size=k)``) equal ``k`` scalar draws. Anything that needs ``math.exp`` or
``math.log`` (log integers) stays a Python loop, because numpy's may differ in the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

import numpy as np

from hpbench.space import Categorical, Int, Space

__all__ = ["UnitCube", "reflect"]


def _frozen(a: np.ndarray) -> np.ndarray:
    # the masks and index arrays describe the space; a consumer writing into one would
    # silently change every later use
    a.flags.writeable = False
    return a


class UnitCube:
    """What an optimizer needs to know about the coordinates of ``space``'s unit cube.

    Structure (read-only arrays of length ``d`` or index arrays):

    * ``levels``: number of levels of each coordinate (0 for a float);
    * ``is_float``, ``is_int``, ``is_cat``, ``is_disc`` (int or categorical): masks;
    * ``float_idx``, ``int_idx``, ``cat_idx``, ``disc_idx``, ``ord_idx`` (the ordered
      coordinates: floats and ints, everything a gradient or a Gaussian step applies to):
      coordinate indices;
    * ``kinds``: "float", "int" or "cat" per coordinate;
    * ``n_cat_combos``: the number of combinations of categorical levels;
    * ``feature_dim``, ``n_features``, ``ord_cols``: the layout of ``encode``'s features.
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.params = tuple(space[n] for n in space.names)
        self.d = len(self.params)
        dims = space.dims
        self.kinds = tuple(dim.kind for dim in dims)
        self.levels = _frozen(np.array([dim.n_levels or 0 for dim in dims], dtype=int))
        self.is_cat = _frozen(np.array([k == "cat" for k in self.kinds], dtype=bool))
        self.is_int = _frozen(np.array([k == "int" for k in self.kinds], dtype=bool))
        self.is_disc = _frozen(self.is_cat | self.is_int)
        self.is_float = _frozen(~self.is_disc)
        self.float_idx = _frozen(np.flatnonzero(self.is_float))
        self.int_idx = _frozen(np.flatnonzero(self.is_int))
        self.cat_idx = _frozen(np.flatnonzero(self.is_cat))
        self.disc_idx = _frozen(np.flatnonzero(self.is_disc))
        self.ord_idx = _frozen(np.flatnonzero(~self.is_cat))
        # log integers have bins of unequal width: their levels go through the Int itself
        self._log_int = _frozen(np.array([dim.kind == "int" and dim.log for dim in dims],
                                         dtype=bool))
        self._lin_disc_idx = _frozen(np.flatnonzero(self.is_disc & ~self._log_int))
        self._log_int_idx = _frozen(np.flatnonzero(self._log_int))
        self.n_cat_combos = math.prod(int(self.levels[i]) for i in self.cat_idx)
        # conditions as (child, parent, allowed parent levels); parents come first
        self.conditions: tuple[tuple[int, int, np.ndarray], ...] = tuple(self._conditions())
        # features: one column per ordered coordinate, one per level of a categorical
        widths = np.where(self.is_cat, self.levels, 1)
        self.feature_dim = _frozen(np.repeat(np.arange(self.d), widths))
        self.n_features = len(self.feature_dim)
        self._col_start = _frozen(np.searchsorted(self.feature_dim, np.arange(self.d)))
        self.ord_cols = _frozen(self._col_start[self.ord_idx])
        # per discrete coordinate, built on first use (a log integer costs a to_unit per level)
        self._centres: dict[int, np.ndarray] = {}
        self._edges: dict[int, np.ndarray] = {}

    def _conditions(self) -> Iterable[tuple[int, int, np.ndarray]]:
        names = list(self.space.names)
        for i, p in enumerate(self.params):
            if p.condition is None:
                continue
            j = names.index(p.condition.parent)
            parent = self.params[j]
            allowed = [parent.index(v) if isinstance(parent, Categorical)
                       else int(v) - parent.low for v in p.condition.values]
            yield i, j, _frozen(np.array(sorted(set(allowed)), dtype=int))

    # bins of one discrete coordinate ---------------------------------------------------------
    def centres(self, i: int) -> np.ndarray:
        """Cube values of the bin centres of discrete coordinate ``i``, level by level (the
        values ``Space.to_unit`` gives)."""
        i = int(i)
        table = self._centres.get(i)
        if table is None:
            p = self.params[i]
            if isinstance(p, Int):
                table = np.array([p.to_unit(v) for v in range(p.low, p.high + 1)])
            else:
                n = int(self.levels[i])
                table = (np.arange(n) + 0.5) / n
            self._centres[i] = table = _frozen(table)
        return table

    def edges(self, i: int) -> np.ndarray:
        """The ``n - 1`` inner bin edges of discrete coordinate ``i`` (``bin_of``'s rule)."""
        i = int(i)
        e = self._edges.get(i)
        if e is None:
            p = self.params[i]
            e = _int_edges(p) if isinstance(p, Int) else np.arange(1, p.n_levels) / p.n_levels
            self._edges[i] = e = _frozen(e)
        return e

    def bin_edges(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper cube edges of each level of discrete coordinate ``i``."""
        e = self.edges(i)
        return np.concatenate([[0.0], e]), np.concatenate([e, [1.0]])

    # the decoding rule: floor(u n), Int.from_unit for log integers ---------------------------
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

    def levels_at(self, U: np.ndarray, idx: Sequence[int] | np.ndarray | None = None
                  ) -> np.ndarray:
        """``level`` of the discrete coordinates ``idx`` (default: all of them) of a point or
        of each row of ``U``: an int array of shape ``U[..., idx]``."""
        idx = self.disc_idx if idx is None else np.asarray(idx, dtype=int)
        cols = np.asarray(U, dtype=float)[..., idx]
        n = self.levels[idx]
        K = np.minimum(n - 1, np.maximum(0, np.floor(cols * n))).astype(int)
        for c in np.flatnonzero(self._log_int[idx]):
            K[..., c] = self._level_column(int(idx[c]), cols[..., c])
        return K

    def _level_column(self, i: int, u: np.ndarray) -> np.ndarray:
        """``level(i, x)`` for every ``x`` in the array ``u``."""
        if self._log_int[i]:
            p = self.params[i]  # math.exp, as Int.from_unit: numpy's exp may differ
            flat = [int(p.from_unit(x)) - p.low for x in u.ravel().tolist()]
            return np.array(flat, dtype=int).reshape(u.shape)
        n = int(self.levels[i])
        return np.minimum(n - 1, np.maximum(0, np.floor(u * n))).astype(int)

    def centres_at(self, K: np.ndarray, idx: Sequence[int] | np.ndarray | None = None
                   ) -> np.ndarray:
        """``centre`` of levels ``K`` (shape ``(..., len(idx))``) of the discrete coordinates
        ``idx`` (default: all of them): the inverse of ``levels_at``."""
        idx = self.disc_idx if idx is None else np.asarray(idx, dtype=int)
        K = np.asarray(K, dtype=int)
        out = (K + 0.5) / self.levels[idx]
        for c in np.flatnonzero(self._log_int[idx]):
            out[..., c] = self._centre_column(int(idx[c]), K[..., c])
        return out

    def _centre_column(self, i: int, k: np.ndarray) -> np.ndarray:
        """``centre(i, j)`` for every level ``j`` in the int array ``k``."""
        if self._log_int[i]:
            return self.centres(i)[k]
        return (k + 0.5) / int(self.levels[i])

    def snap(self, U: np.ndarray) -> np.ndarray:
        """Copy of ``U`` (one point or rows of points) clipped to the cube, with every
        discrete coordinate moved to the centre of the bin it falls in (``level``)."""
        U = np.clip(np.array(U, dtype=float), 0.0, 1.0)
        flat = U.reshape(-1, self.d)
        lin = self._lin_disc_idx
        if len(lin):
            n = self.levels[lin]
            flat[:, lin] = (np.minimum(n - 1, np.floor(flat[:, lin] * n)) + 0.5) / n
        for i in self._log_int_idx:
            flat[:, i] = self.centres(i)[self._level_column(i, flat[:, i])]
        return U

    # category-aware moves --------------------------------------------------------------------
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

    def resample_categories(self, i: int, u: np.ndarray, rng: np.random.Generator
                            ) -> np.ndarray:
        """``resample_category`` of each value in ``u``, with the same draws (one
        ``integers`` draw of ``len(u)`` values, as many as one call per value makes)."""
        k = self._level_column(i, np.asarray(u, dtype=float))
        n = int(self.levels[i])
        if n >= 2:
            j = rng.integers(n - 1, size=k.shape)
            k = j + (j >= k)
        return self._centre_column(i, k)

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
        level, categories resampled. Coordinates draw in index order."""
        out = np.array(u, dtype=float)
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), (self.d,))
        # a run of consecutive float coordinates takes its normals in one draw: the same
        # numbers as one draw per coordinate
        for is_float, group in groupby(np.flatnonzero(mask).tolist(),
                                       key=lambda i: bool(self.is_float[i])):
            run = list(group)
            if is_float:
                out[run] = out[run] + sig[run] * rng.standard_normal(len(run))
                continue
            for i in run:
                if self.is_cat[i]:
                    out[i] = self.resample_category(i, out[i], rng)
                else:
                    out[i] = self.step_integer(i, out[i], sig[i], rng)
        return self.snap(reflect(out))

    def key(self, u: np.ndarray) -> tuple:
        """A hashable key of a (snapped) point, for caching values of repeated configs."""
        return tuple(np.round(np.asarray(u, dtype=float), 12).tolist())

    def keys(self, U: np.ndarray) -> list[tuple]:
        """``key`` of each row of ``U``."""
        return [tuple(row) for row in np.round(np.asarray(U, dtype=float), 12).tolist()]

    # the edge rule, activity and features, for surrogate models ------------------------------
    def bin_of(self, i: int, u: np.ndarray) -> np.ndarray:
        """Level index of discrete coordinate ``i`` at the cube values ``u``, by comparison
        with the bin edges."""
        return np.searchsorted(self.edges(i), u, side="right")

    def set_level(self, U: np.ndarray, i: int, level: int | np.ndarray) -> np.ndarray:
        """Copy of rows ``U`` with discrete coordinate ``i`` at the centre of ``level``."""
        U = U.copy()
        U[:, i] = self.centres(i)[level]
        return U

    def active(self, U: np.ndarray) -> np.ndarray:
        """Boolean (m, d): which coordinates are active in each row (``bin_of`` reads the
        parents' levels)."""
        act = np.ones(U.shape, dtype=bool)
        for i, j, allowed in self.conditions:
            act[:, i] = act[:, j] & np.isin(self.bin_of(j, U[:, j]), allowed)
        return act

    def canonical(self, U: np.ndarray) -> np.ndarray:
        """Rows of ``U`` as (m, d) canonical points: clipped, discrete coordinates at their
        bin centres (``bin_of``), inactive ones at 0.5 — so two rows that are the same config
        are the same row."""
        U = np.clip(np.array(U, dtype=float, ndmin=2), 0.0, 1.0)
        for i in self.disc_idx:
            U[:, i] = self.centres(i)[self.bin_of(i, U[:, i])]
        if self.conditions:
            U[~self.active(U)] = 0.5
        return U

    def encode(self, U: np.ndarray, inactive: float = 0.5) -> np.ndarray:
        """Model features of canonical points: an ordered coordinate keeps its value
        (``inactive`` where inactive), a categorical becomes one-hot columns (all zero where
        inactive). ``feature_dim`` names the coordinate of each column."""
        U = np.array(U, dtype=float, ndmin=2)
        act = self.active(U) if self.conditions else None
        X = np.zeros((len(U), self.n_features))
        o = self.ord_idx
        X[:, self.ord_cols] = U[:, o] if act is None else \
            np.where(act[:, o], U[:, o], float(inactive))
        for i in self.cat_idx:
            lv = self.bin_of(i, U[:, i])
            rows = np.arange(len(U)) if act is None else np.flatnonzero(act[:, i])
            X[rows, self._col_start[i] + lv[rows]] = 1.0
        return X

    def to_configs(self, U: np.ndarray) -> list[dict[str, Any]]:
        """The configs of rows ``U`` (made canonical first)."""
        return self.space.from_unit_array(self.canonical(U))

    def from_configs(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Canonical points of ``configs``."""
        return self.canonical(self.space.to_unit_array(configs))


def reflect(U: np.ndarray) -> np.ndarray:
    """Fold points into ``[0, 1]`` by mirroring at the faces (any distance outside)."""
    U = np.mod(np.asarray(U, dtype=float), 2.0)
    return np.where(U > 1.0, 2.0 - U, U)


def _int_edges(p: Int) -> np.ndarray:
    """Cube values where an ``Int`` changes level (bins of equal width, in log space for
    ``log=True``), matching ``Int.from_unit``: the value is ``floor(x + 0.5)``."""
    n = p.high - p.low + 1
    if not p.log:
        return np.arange(1, n) / n
    a = math.log(p.low - 0.5) if p.low > 0.5 else math.log(p.low)
    b = math.log(p.high + 0.5)
    return (np.log(np.arange(p.low, p.high) + 0.5) - a) / (b - a)

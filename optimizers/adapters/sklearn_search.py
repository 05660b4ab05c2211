"""scikit-learn's own search generators, the ones ``GridSearchCV`` and ``RandomizedSearchCV``
iterate (Pedregosa et al. 2011, JMLR; random search after Bergstra & Bengio 2012, JMLR).

* ``sklearn-random``: ``ParameterSampler(param_distributions, n_iter=budget,
  random_state=seed)`` with the distributions a scikit-learn tutorial would write:
  ``scipy.stats.loguniform(low, high)`` for log floats, ``scipy.stats.uniform`` for floats,
  ``scipy.stats.randint(low, high + 1)`` for ints, the list of choices for categoricals, and
  ``LogUniformInt`` (below; scipy has no log-uniform integer) for log ints. Its configs are
  exactly the sampler's (``tests/optimizers/test_adapter_fidelity.py``).
* ``sklearn-grid``: ``ParameterGrid`` over a grid of at most ``budget`` points, visited in a
  seeded random order (so every prefix of the run is a fair sample of the grid; ``GridSearchCV``
  itself evaluates all points, in order). Each parameter contributes ``Param.grid_values(k)``
  (evenly spaced in the unit cube, ends included — ``np.logspace`` for log floats), and ``k`` is
  raised one parameter at a time while the grid stays within the budget, as ``Space.grid``
  does. When the budget outlasts the grid it is refined (twice the size) and only unseen
  configs are visited.

Conditional parameters: scikit-learn expresses them as a *list* of dicts, one per
sub-space. Parameters others depend on are fixed to one value per dict, and each dict holds
exactly the parameters that value combination activates; ``ParameterGrid`` enumerates the
union. ``ParameterSampler`` first picks one dict uniformly, then samples inside it — so the
sampler is uniform over the combinations of parent values, which for nested conditions
weights parent values by how many sub-spaces they open (scikit-learn's rule, kept as is).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation
from hpbench.optimizers.adapters._common import library_seed
from hpbench.optimizers.baselines.grid_search import GridSearch
from hpbench.space import Float, Int, Param, Space


class LogUniformInt:
    """Integers in ``[low, high]``, log-uniform with a bin of width one per integer.

    The same law as ``Int(low, high, log=True).from_unit(uniform)`` in ``hpbench.space``:
    ``x = exp(U(log(low - 1/2), log(high + 1/2)))`` rounded to the nearest integer. It has the
    ``rvs(random_state=)`` method ``ParameterSampler`` looks for.
    """

    def __init__(self, low: int, high: int) -> None:
        if not 0 < low < high:
            raise ValueError(f"LogUniformInt needs 0 < low < high, got low={low}, high={high}")
        self.low, self.high = int(low), int(high)
        self._a = math.log(low - 0.5) if low > 0.5 else math.log(low)
        self._b = math.log(high + 0.5)

    def rvs(self, random_state: Any = None) -> int:
        from sklearn.utils import check_random_state

        x = math.exp(check_random_state(random_state).uniform(self._a, self._b))
        return int(min(self.high, max(self.low, math.floor(x + 0.5))))

    def __repr__(self) -> str:
        return f"LogUniformInt({self.low}, {self.high})"


def _distribution(param: Param) -> Any:
    from scipy import stats

    if isinstance(param, Float):
        if param.log:
            return stats.loguniform(param.low, param.high)
        return stats.uniform(loc=param.low, scale=param.high - param.low)
    if isinstance(param, Int):
        return LogUniformInt(param.low, param.high) if param.log else \
            stats.randint(param.low, param.high + 1)
    return list(param.choices)


def _parents(space: Space) -> list[str]:
    used = {p.condition.parent for p in space.values() if p.condition is not None}
    return [n for n in space if n in used]


def sub_spaces(space: Space, values: dict[str, list]) -> list[dict[str, list]]:
    """The list of dicts scikit-learn needs for ``space``: one per combination of the
    ``values`` of the parameters others depend on, each holding the parameters active under
    that combination (parents as one-element lists, the others with their ``values``)."""
    parents = _parents(space)
    if not parents:
        return [{n: values[n] for n in space}]
    out: list[dict[str, list]] = []
    seen: set[str] = set()
    for combo in itertools.product(*(values[p] for p in parents)):
        context = dict(zip(parents, combo))
        active = space.active(context)
        fixed = {p: context[p] for p in parents if p in active}
        key = json.dumps(sorted(fixed.items(), key=lambda kv: kv[0]), default=str)
        if key in seen:
            continue
        seen.add(key)
        out.append({n: ([fixed[n]] if n in fixed else values[n]) for n in active})
    return out


def _size(grids: list[dict[str, list]]) -> int:
    return sum(math.prod(len(v) for v in g.values()) for g in grids)


def budget_grid(space: Space, size: int) -> list[dict[str, list]]:
    """The largest ``ParameterGrid`` specification (a list of dicts) of at most ``size``
    points, levels raised one parameter at a time as in ``Space.grid``."""
    params = list(space.items())

    def spec(lv: list[int]) -> list[dict[str, list]]:
        return sub_spaces(space, {n: p.grid_values(k) for (n, p), k in zip(params, lv)})

    return spec(space.grid_levels(size, lambda lv: _size(spec(lv)) <= size))


def _ordered(space: Space, config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, param in space.items():
        if name in config:
            v = config[name]
            if isinstance(param, Float):
                v = min(param.high, max(param.low, float(v)))
            elif isinstance(param, Int):
                v = int(v)
            out[name] = v
    return out


_TAGS = ("adapter", "sklearn")


@register_optimizer("sklearn-random", tags=("baseline", *_TAGS), packages=("sklearn", "scipy"),
                    extra="sklearn",
                    description="scikit-learn ParameterSampler (scipy distributions)")
class SklearnRandom(Optimizer):
    """``sklearn.model_selection.ParameterSampler`` with ``n_iter`` = the budget."""

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        from sklearn.model_selection import ParameterSampler

        dists = {n: _distribution(p) for n, p in space.items()}
        self.param_distributions = sub_spaces(space, dists)
        # without an evaluation budget the sampler is simply never exhausted
        n_iter = self.budget.evaluations or 2**62
        self.sampler = ParameterSampler(self.param_distributions, n_iter=n_iter,
                                        random_state=library_seed(self.seed))
        self._it = iter(self.sampler)
        self._drawn = 0

    def ask(self, n: int) -> list[dict]:
        # a fully discrete space is sampled without replacement and may run out: fewer is fine
        out = [_ordered(self.space, c) for c in itertools.islice(self._it, n)]
        self._drawn += len(out)
        return out

    # the sampler's iterator is a generator, which does not pickle; it is seeded, so a copy
    # makes a new one and skips what was drawn
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_it"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._it = iter(self.sampler)
        for _ in itertools.islice(self._it, self._drawn):
            pass

    def tell(self, observations: Sequence[Observation]) -> None:
        pass


@register_optimizer("sklearn-grid", tags=("baseline", "exhaustive", *_TAGS),
                    packages=("sklearn",), extra="sklearn",
                    description="scikit-learn ParameterGrid, budget-sized, seeded order")
class SklearnGrid(GridSearch):
    """``sklearn.model_selection.ParameterGrid`` of at most ``budget`` points, shuffled; the
    queue, deduplication and doubling are ``grid``'s."""

    # scikit-learn's grid keeps its ends (``Param.grid_values`` with ``"bounds"``): no
    # ``placement`` setting to inherit from ``grid``
    settings: dict = {}
    choices: dict = {}

    def _grid(self, size: int) -> list[dict]:
        from sklearn.model_selection import ParameterGrid

        return [_ordered(self.space, c) for c in ParameterGrid(budget_grid(self.space, size))]

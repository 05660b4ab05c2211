"""scikit-learn's successive-halving searches, ``HalvingGridSearchCV`` and
``HalvingRandomSearchCV`` (Pedregosa et al. 2011, JMLR; successive halving after Karnin,
Koren & Somekh 2013, ICML, and Jamieson & Talwalkar 2016, AISTATS), driven as shipped.

The seed tutorials tune with these two classes, so they are run themselves, not
re-implemented: the search ``fit``s a bridge estimator in a worker thread, and each call of the
bridge's ``fit`` hands its config and resource to ``ask`` and waits for the value ``tell``
brings back (``score`` returns minus the value: scikit-learn maximizes). The search calls its
estimator one candidate at a time (``n_jobs=None``), so the two threads strictly alternate
and a run is as deterministic as the search. One split (``cv`` = one train/test pair of a
two-row dummy dataset) and ``refit=False``: the problem is the whole objective.

The resource is the problem's fidelity. scikit-learn counts resources in integers
``min_resources · factor^i`` up to ``max_resources``, so a search whose ``max_resources`` is
not a power of ``factor`` never reaches it (27 epochs: 1, 3, 9, 27; 10 epochs: 1, 3, 9). Here
``max_resources = factor^k`` with ``k = floor(log_factor(high / low))``, and resource ``r`` is
fidelity ``high · r / max_resources``, rounded for an integer fidelity: Hyperband's ladder
``high · factor^-i`` (10 epochs, factor 3: 1, 3, 10; a fraction in [0.1, 1]: 1/9, 1/3, 1).
Settings: ``factor`` (3) and ``min_resources`` (scikit-learn's defaults: 'exhaust' for the
grid, 'smallest' for the random search, or an int, in resource units).

Candidates and budget: ``halving_schedule`` is scikit-learn's schedule (``n_resources_``,
``n_candidates_``; ``tests/optimizers/test_sklearn_halving.py`` checks it against the class),
and each search gets the most candidates whose schedule fits the evaluations budget left:
``sklearn-halving-grid`` a ``ParameterGrid`` of that many points (``sklearn_search.budget_grid``,
ends included) in a seeded order, ``sklearn-halving-random`` ``n_candidates`` configs
of ``ParameterSampler`` (the distributions of ``sklearn-random``), seeded from the optimizer's
seed. When a search ends with budget left, another starts on what is left (the grid on a grid
twice as fine, configs already evaluated left out; the random search with a new seed), as many
as fit. A failed trial scores the lowest float, so it ranks last and is never promoted.

The bridge's worker thread cannot be pickled (``picklable = False``); an optimizer dropped
mid-search stops its thread.
"""

from __future__ import annotations

import functools
import json
import math
import queue
import sys
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import library_seed
from hpbench.optimizers.adapters.sklearn_search import (
    _distribution,
    _ordered,
    budget_grid,
    sub_spaces,
)
from hpbench.space import Space

#: the estimator parameter that carries the resource (scikit-learn's ``resource=``)
RESOURCE = "hpbench_resource"
#: the score of a failed trial: the lowest float, ranked last without non-finite warnings
_FAILED_SCORE = -sys.float_info.max


def halving_schedule(n_candidates: int, *, factor: int, min_resources: int | str,
                     max_resources: int) -> tuple[list[int], list[int]]:
    """scikit-learn's successive-halving schedule for a non-sample resource
    (``BaseSuccessiveHalving._run_search``, ``aggressive_elimination=False``): the resources
    and the number of candidates of each iteration (its ``n_resources_``, ``n_candidates_``).
    ``min_resources`` 'smallest' is 1; 'exhaust' starts as high as the last iteration allows.
    """
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
    lo = 1 if min_resources in ("smallest", "exhaust") else int(min_resources)
    required = 1 + math.floor(math.log(n_candidates, factor))
    if min_resources == "exhaust":
        lo = max(lo, max_resources // factor ** (required - 1))
    if lo > max_resources:
        raise ValueError(f"min_resources must be <= max_resources={max_resources}, got {lo}")
    possible = 1 + math.floor(math.log(max_resources // lo, factor))
    resources, candidates, n = [], [], n_candidates
    for itr in range(min(possible, required)):
        resources.append(min(int(factor**itr * lo), max_resources))
        candidates.append(n)
        n = math.ceil(n / factor)
    return resources, candidates


class _Stopped(Exception):
    """Raised in the worker thread when its optimizer is gone."""


class _Channel:
    """The two queues between the search thread (requests) and ``ask``/``tell`` (replies)."""

    def __init__(self) -> None:
        self.requests: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()

    def stop(self) -> None:
        self.replies.put(_Stopped)

    # ``sklearn.base.clone`` deep-copies an estimator's plain parameters: every clone of the
    # bridge must talk over this same channel
    def __deepcopy__(self, memo: dict) -> _Channel:
        return self


class _BridgeMixin:
    """The estimator the search fits: ``fit`` asks hpbench for the value of its config at
    its resource; ``score`` is minus that value. Its parameters are the space's, so
    ``get_params``/``set_params`` are written out (``BaseEstimator`` reads them off
    ``__init__``'s signature); ``_bridge`` mixes it into ``BaseEstimator`` (for its tags)
    when scikit-learn is imported."""

    def __init__(self, channel: _Channel | None = None, **params: Any) -> None:
        self.channel = channel
        self.params = params
        self.value_ = math.nan

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"channel": self.channel, **self.params}

    def set_params(self, **params: Any) -> _BridgeMixin:
        self.channel = params.pop("channel", self.channel)
        self.params.update(params)
        return self

    def fit(self, X: Any, y: Any = None) -> _BridgeMixin:
        params = dict(self.params)
        resource = params.pop(RESOURCE)
        self.channel.requests.put(("ask", params, resource))
        reply = self.channel.replies.get()
        if reply is _Stopped:
            raise _Stopped
        self.value_ = reply
        return self

    def score(self, X: Any, y: Any = None) -> float:
        return -self.value_ if math.isfinite(self.value_) else _FAILED_SCORE


@functools.cache
def _bridge() -> type:
    from sklearn.base import BaseEstimator

    return type("HpbenchBridge", (_BridgeMixin, BaseEstimator), {})


def _search_thread(search: Any, channel: _Channel) -> None:
    X, y = np.zeros((2, 1)), np.zeros(2)
    try:
        search.fit(X, y)
    except _Stopped:
        return
    except BaseException as exc:  # handed to ask, which raises it in the cell
        channel.requests.put(("error", exc, None))
        return
    channel.requests.put(("done", None, None))


class SklearnHalving(Optimizer):
    """A scikit-learn halving search bridged to ask/tell (see the module docstring)."""

    requires = frozenset({"fidelity"})
    settings = {"factor": 3, "min_resources": "exhaust"}
    supports_batch = False
    batch_fallback = "sequential"
    picklable = False

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError(f"{self.label_name} needs a problem with a fidelity "
                             "(requires=['fidelity'])")
        factor, mr = self.config["factor"], self.config["min_resources"]
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"{self.label_name}: factor must be an int >= 2, got {factor!r}")
        if mr not in ("exhaust", "smallest") and (isinstance(mr, bool) or not isinstance(mr, int)
                                                  or mr < 1):
            raise ValueError(f"{self.label_name}: min_resources must be 'exhaust', 'smallest' "
                             f"or an int >= 1, got {mr!r}")
        fid = self.fidelity
        # factor^k resource units, so the last iteration of a search can reach full fidelity
        # (scikit-learn's resources are min_resources · factor^i, capped at max_resources)
        k = math.floor(math.log(fid.high / fid.low, factor) + 1e-9)
        self.max_resources = factor ** max(0, k)
        self.spent = 0.0
        self.searches = 0
        self.seen: set[str] = set()
        self.search: Any = None
        self._channel: _Channel | None = None

    label_name = "sklearn-halving"

    # the search of each subclass ----------------------------------------------------------
    def _make_search(self, estimator: Any, remaining: float | None) -> Any:
        raise NotImplementedError

    # the schedule and the budget ----------------------------------------------------------
    def fidelity_of(self, resource: int) -> float | None:
        fid = self.fidelity
        f = fid.high * resource / self.max_resources
        if fid.integer:
            f = float(math.floor(f + 0.5))
        f = min(fid.high, max(fid.low, f))
        return None if f >= fid.high else f

    def schedule_cost(self, n_candidates: int) -> float:
        """Full-fidelity equivalents that a search of ``n_candidates`` spends."""
        resources, candidates = halving_schedule(
            n_candidates, factor=self.config["factor"], min_resources=self.config["min_resources"],
            max_resources=self.max_resources)
        high = self.fidelity.high
        return sum(n * ((self.fidelity_of(r) or high) / high)
                   for r, n in zip(resources, candidates))

    def most_candidates(self, remaining: float, cap: int = 10_000) -> int:
        """The largest number of candidates whose schedule fits ``remaining`` (at least 1)."""
        n = 1
        while n < cap and self.schedule_cost(n + 1) <= remaining + 1e-9:
            n += 1
        return n

    def remaining(self) -> float | None:
        total = self.budget.evaluations
        return None if total is None else total - self.spent

    # the bridge ---------------------------------------------------------------------------
    def _start(self) -> None:
        channel = _Channel()
        estimator = _bridge()(channel, **{RESOURCE: 1})
        self.search = self._make_search(estimator, self.remaining())
        if not self.searches:
            self.first_search = self.search  # kept: its schedule, once fitted, for the tests
        self.searches += 1
        thread = threading.Thread(target=_search_thread, args=(self.search, channel),
                                  name=f"hpbench-{self.label_name}", daemon=True)
        self._channel = channel
        # an optimizer dropped mid-search (the cell ended) lets its thread end too
        self._finalizer = weakref.finalize(self, channel.stop)
        thread.start()

    #: scikit-learn scores one config at a time: an ``ask`` with one pending would wait for
    #: its reply forever (``Optimizer.synchronous``)
    synchronous = True

    def ask(self, n: int) -> list[Suggestion]:
        while True:
            if self._channel is None:
                self._start()
            kind, params, resource = self._channel.requests.get()
            if kind == "ask":
                config = _ordered(self.space, params)
                self.seen.add(json.dumps(config, sort_keys=True, default=str))
                return [Suggestion(config, fidelity=self.fidelity_of(resource),
                                   tag=resource)]
            self._channel = None
            if kind == "error":
                raise RuntimeError(f"{self.label_name}: the scikit-learn search failed: "
                                   f"{type(params).__name__}: {params}") from params

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            self.spent += obs.cost
            self._channel.replies.put(float(obs.value) if obs.ok else math.nan)


def _halving_classes() -> tuple[Any, Any]:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

    return HalvingGridSearchCV, HalvingRandomSearchCV


def _cv() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array([0]), np.array([1]))]


_TAGS = ("multi-fidelity", "adapter", "sklearn")


@register_optimizer("sklearn-halving-grid", tags=(*_TAGS, "exhaustive"),
                    packages=("sklearn",), extra="sklearn",
                    description="scikit-learn HalvingGridSearchCV, budget-sized grid, "
                                "resource = fidelity")
class SklearnHalvingGrid(SklearnHalving):
    """``HalvingGridSearchCV`` on a ``ParameterGrid`` sized to the budget."""

    label_name = "sklearn-halving-grid"

    def candidate_grid(self, remaining: float | None) -> list[dict[str, list]]:
        """The param_grid of the next search: the first search a budget-sized grid, later
        ones the unseen points of a grid twice as fine, as many as the budget left fits."""
        from sklearn.model_selection import ParameterGrid

        want = 81 if remaining is None else self.most_candidates(max(remaining, 1.0))
        size = want * 2 ** (self.searches + 1) if self.searches else want
        points = [_ordered(self.space, c) for c in ParameterGrid(budget_grid(self.space, size))]
        if self.searches:
            points = [c for c in points
                      if json.dumps(c, sort_keys=True, default=str) not in self.seen] or points
        # visited in a seeded order (as sklearn-grid): the grid has no randomness of its own
        # and would be the same run for every seed; the order also decides ties at each cut.
        # One single-point dict per config, which ParameterGrid enumerates in the order given.
        order = self.rng.permutation(len(points))[:want]
        return [{k: [v] for k, v in points[i].items()} for i in order]

    def _make_search(self, estimator: Any, remaining: float | None) -> Any:
        grid_cls, _ = _halving_classes()
        return grid_cls(estimator, self.candidate_grid(remaining), factor=self.config["factor"],
                        resource=RESOURCE, max_resources=self.max_resources,
                        min_resources=self.config["min_resources"], cv=_cv(), refit=False,
                        error_score="raise")


@register_optimizer("sklearn-halving-random", tags=_TAGS, packages=("sklearn", "scipy"),
                    extra="sklearn",
                    description="scikit-learn HalvingRandomSearchCV, budget-sized, "
                                "resource = fidelity")
class SklearnHalvingRandom(SklearnHalving):
    """``HalvingRandomSearchCV`` with ``n_candidates`` sized to the budget."""

    label_name = "sklearn-halving-random"
    settings = {**SklearnHalving.settings, "min_resources": "smallest"}

    def _make_search(self, estimator: Any, remaining: float | None) -> Any:
        _, random_cls = _halving_classes()
        dists = sub_spaces(self.space, {n: _distribution(p) for n, p in self.space.items()})
        n = "exhaust" if remaining is None else self.most_candidates(max(remaining, 1.0))
        # the first search takes the seed as is (comparable with a user's own call), later
        # ones (and an unseeded run, which must not draw from numpy's global generator) one
        # drawn from the optimizer's generator
        seed = library_seed(self.seed)
        if self.searches or seed is None:
            seed = int(self.rng.integers(2**32))
        return random_cls(estimator, dists, n_candidates=n, factor=self.config["factor"],
                          resource=RESOURCE, max_resources=self.max_resources,
                          min_resources=self.config["min_resources"], cv=_cv(), refit=False,
                          error_score="raise", random_state=seed)

"""``sklearn-halving-grid`` / ``sklearn-halving-random``: the schedule and the configs are
scikit-learn's own (``HalvingGridSearchCV`` / ``HalvingRandomSearchCV`` run directly on the
same candidates with an estimator that scores the same objective)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Evaluation, Problem
from hpbench.optimizers.adapters.sklearn_halving import halving_schedule
from hpbench.problem import Fidelity
from hpbench.runner import run_loop
from tests.optimizers.toy_spaces import CONDITIONAL

SPACE = CONDITIONAL
EPOCHS = Fidelity(1, 27, name="epochs", integer=True)


def objective(config: dict, epochs: float) -> float:
    return ((math.log10(config["lr"]) + 1.5) ** 2 + ((config["n"] - 3) / 4) ** 2
            + (0.0 if config["kind"] == "a" else 0.2 + 0.3 * config.get("extra", 0.0))
            + (27 - epochs) / 27)


class Tiny(Problem):
    capabilities = frozenset({"fidelity"})

    def __init__(self, fidelity: Fidelity = EPOCHS, fail_n: int | None = None) -> None:
        super().__init__(SPACE, name="tiny", fidelity=fidelity)
        self.fail_n = fail_n

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        if config["n"] == self.fail_n:
            return Evaluation(value=math.nan)
        return objective(config, self.fidelity.high if fidelity is None else fidelity)


def run(name: str, budget: float, problem: Problem | None = None, **settings):
    problem = problem or Tiny()
    opt = hpbench.make_optimizer(name, SPACE, seed=5, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget))
    assert result.status == "done", result.error
    fids = [problem.fidelity.high if f is None else f for f in result.columns["fidelity"]]
    return opt, [json.loads(c) for c in result.columns["config"]], fids


def sklearn_estimator():
    """What a tutorial reader would write: an estimator whose score is minus the objective
    at the resource it is given."""
    from sklearn.base import BaseEstimator

    class Objective(BaseEstimator):
        def __init__(self, lr=0.1, n=1, kind="a", extra=0.0, epochs=1):
            self.lr, self.n, self.kind, self.extra, self.epochs = lr, n, kind, extra, epochs

        def fit(self, X, y=None):
            config = {"lr": self.lr, "n": self.n, "kind": self.kind}
            if self.kind == "b":
                config["extra"] = self.extra
            self.value_ = objective(config, self.epochs)
            return self

        def score(self, X, y=None):
            return -self.value_

    return Objective()


def first_search(opt, configs: list[dict], fids: list[float]):
    """The trials of the adapter's first search, per iteration (its schedule)."""
    n_trials = sum(opt.first_search.n_candidates_)
    return configs[:n_trials], [(f, len(list(g))) for f, g in itertools.groupby(fids[:n_trials])]


@pytest.mark.parametrize("factor", [2, 3])
def test_halving_grid_is_scikit_learns_schedule_and_configs(factor):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    opt, configs, fids = run("sklearn-halving-grid", 20, factor=factor)
    grid = opt.first_search.param_grid
    search = HalvingGridSearchCV(sklearn_estimator(), grid, factor=factor, resource="epochs",
                                 max_resources=opt.max_resources,
                                 cv=[(np.array([0]), np.array([1]))],
                                 refit=False).fit(np.zeros((2, 1)), np.zeros(2))
    ours, per_iteration = first_search(opt, configs, fids)
    assert [f for f, _ in per_iteration] == \
        [opt.fidelity_of(r) or 27.0 for r in search.n_resources_]
    assert [n for _, n in per_iteration] == search.n_candidates_
    assert halving_schedule(len(search.cv_results_["params"]) and search.n_candidates_[0],
                            factor=factor, min_resources="exhaust",
                            max_resources=opt.max_resources) == \
        (search.n_resources_, search.n_candidates_)
    theirs = [{k: v for k, v in p.items() if k != "epochs"} for p in search.cv_results_["params"]]
    assert [{k: c[k] for k in sorted(c)} for c in ours] == \
        [{k: c[k] for k in sorted(c)} for c in theirs]


def test_halving_random_is_scikit_learns_search():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    opt, configs, fids = run("sklearn-halving-random", 12)
    first = opt.first_search
    search = HalvingRandomSearchCV(sklearn_estimator(), first.param_distributions,
                                   n_candidates=first.n_candidates, random_state=5,
                                   resource="epochs", max_resources=27,
                                   cv=[(np.array([0]), np.array([1]))],
                                   refit=False).fit(np.zeros((2, 1)), np.zeros(2))
    ours, per_iteration = first_search(opt, configs, fids)
    assert per_iteration == list(zip(map(float, search.n_resources_), search.n_candidates_))
    assert search.n_resources_[0] == 1  # min_resources 'smallest'
    theirs = [{k: v for k, v in p.items() if k != "epochs"} for p in search.cv_results_["params"]]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.keys() == b.keys()
        assert all(math.isclose(a[k], b[k], rel_tol=1e-12) if isinstance(a[k], float)
                   else a[k] == b[k] for k in a)


@pytest.mark.parametrize("n,factor,min_resources,max_resources", [
    (1, 3, "exhaust", 27), (10, 3, "exhaust", 27), (81, 3, "exhaust", 27), (30, 2, 3, 100),
    (7, 3, "smallest", 10), (100, 4, "smallest", 9)])
def test_schedule_matches_scikit_learn(n, factor, min_resources, max_resources):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    est = sklearn_estimator()
    search = HalvingGridSearchCV(est, {"lr": list(np.geomspace(1e-3, 1.0, n))}, factor=factor,
                                 resource="epochs", max_resources=max_resources,
                                 min_resources=min_resources,
                                 cv=[(np.array([0]), np.array([1]))],
                                 refit=False).fit(np.zeros((2, 1)), np.zeros(2))
    assert halving_schedule(n, factor=factor, min_resources=min_resources,
                            max_resources=max_resources) == \
        (search.n_resources_, search.n_candidates_)


def test_budget_is_spent_and_failures_rank_last():
    _, configs, fids = run("sklearn-halving-random", 30, problem=Tiny(fail_n=3))
    promoted = [c for c, f in zip(configs, fids) if f > 1]
    assert promoted and all(c["n"] != 3 for c in promoted)
    assert 29 < sum(f / 27 for f in fids) <= 30  # spent but for less than one evaluation


def test_real_fidelity_maps_resources_to_fractions():
    problem = Tiny(fidelity=Fidelity(0.1, 1.0, name="fraction"))
    opt, _, fids = run("sklearn-halving-grid", 6, problem=problem)
    assert opt.max_resources == 9  # 3^2 units of 1/9: Hyperband's ladder 1/9, 1/3, 1
    assert set(fids) <= {1 / 9, 1 / 3, 1.0} and max(fids) == 1.0
    with pytest.raises(ValueError, match="min_resources must be"):
        hpbench.make_optimizer("sklearn-halving-grid", SPACE, seed=1, budget=Budget(5),
                               fidelity=EPOCHS, min_resources="some")

"""scikit-optimize's sequential model-based optimization (Head et al., scikit-optimize,
doi:10.5281/zenodo.1157319) through ``skopt.Optimizer`` ask/tell.

Each entry builds the ``skopt.Optimizer`` exactly as the library's own convenience loop
builds it — ``gp_minimize``, ``forest_minimize`` and ``gbrt_minimize`` all construct one
``Optimizer`` and call ``ask`` / ``tell`` once per evaluation — with the same defaults and the
same random-state wiring, so ``gp_minimize(f, dims, n_calls=n, random_state=s)`` and
``skopt-gp`` with seed ``s`` propose the same points
(``tests/optimizers/test_adapter_fidelity.py``):

* ``skopt-gp``: ``base_estimator="GP"`` (Matérn-5/2 ARD times a constant, Gaussian noise),
  ``acq_func="gp_hedge"`` (Hoffman, Brochu & de Freitas 2011, a portfolio of EI, PI and LCB),
  ``acq_optimizer="auto"`` (L-BFGS-B from the best of 10 000 random points);
* ``skopt-forest``: ``base_estimator="ET"`` (extra trees, forest_minimize's default),
  ``acq_func="EI"``, ``acq_optimizer="sampling"``;
* ``skopt-gbrt``: gradient-boosted quantile regression trees, ``acq_func="LCB"``,
  ``acq_optimizer="sampling"``.

All three start with ``n_initial_points=10`` random points (a setting).

Mapping of the space: ``Float`` → ``Real(low, high, prior="log-uniform" if log)``, ``Int`` →
``Integer(low, high, prior=...)``, ``Categorical`` → ``Categorical(choices)`` when all choices
are strings, otherwise ``Categorical`` of their indices (skopt's encoders need one type).

Conditional parameters: skopt has no notion of them. Every parameter is a dimension of the
skopt space and is sampled and modelled; a parameter its parent leaves inactive is dropped
from the config the runner evaluates, and the full point is told back. The surrogate thus
sees inactive coordinates as irrelevant inputs.

Failed trials: skopt's models cannot take NaN or infinity, so a failure is told as the
worst value observed so far (``_common.WorstSoFar``); a failure before any
success is not told, which leaves skopt in its random initial phase one point longer.
Batch asks use skopt's own ``ask(n_points=n)`` (constant liar, ``strategy="cl_min"``).
``ask`` and ``tell`` run with ``threads`` BLAS/OpenMP threads (default 1; None leaves the
library's default), see ``_common.ThreadLimit``.
skopt's GP refits at every tell and slows past ~100 observations (see
``results/perf/adapters.md``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, WorstSoFar, library_seed
from hpbench.space import Categorical, Float, Int, Space

#: entry setting -> the ``*_minimize`` function whose ``Optimizer`` the entry rebuilds
RECIPES = ("gp", "forest", "gbrt")


def skopt_dimensions(space: Space) -> list:
    """The skopt dimensions of ``space``, in its order, named after its parameters."""
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer, Real

    dims = []
    for name, p in space.items():
        prior = "log-uniform" if getattr(p, "log", False) else "uniform"
        if isinstance(p, Float):
            dims.append(Real(p.low, p.high, prior=prior, name=name))
        elif isinstance(p, Int):
            dims.append(Integer(p.low, p.high, prior=prior, name=name))
        elif isinstance(p, Categorical):
            dims.append(SkCategorical(_categories(p), name=name))
        else:  # pragma: no cover - Space only admits these three
            raise TypeError(f"parameter {name!r} must be Float, Int or Categorical, "
                            f"got {type(p).__name__}")
    return dims


def _categories(p: Categorical) -> list:
    if all(isinstance(c, str) for c in p.choices):
        return list(p.choices)
    return list(range(len(p.choices)))


def build_skopt(recipe: str, dimensions: list, seed: int | None, n_initial_points: int):
    """A ``skopt.Optimizer`` wired as ``{recipe}_minimize`` wires it."""
    from sklearn.utils import check_random_state
    from skopt import Optimizer as SkOptimizer
    from skopt.utils import cook_estimator

    if recipe == "gp":
        # gp_minimize: RandomState(seed) draws the GP's seed first, then drives the optimizer;
        # Optimizer(base_estimator="GP") does the same draws in the same order
        return SkOptimizer(dimensions, "GP", n_initial_points=n_initial_points,
                           acq_func="gp_hedge", acq_optimizer="auto", random_state=seed)
    if recipe == "forest":
        return SkOptimizer(dimensions, "ET", n_initial_points=n_initial_points,
                           acq_func="EI", acq_optimizer="sampling", random_state=seed)
    if recipe == "gbrt":
        # gbrt_minimize hands the estimator its own RandomState(seed) and the optimizer
        # a second one from the same seed
        estimator = _compatible_gbrt(
            cook_estimator("GBRT", random_state=check_random_state(seed), n_jobs=1))
        return SkOptimizer(dimensions, estimator, n_initial_points=n_initial_points,
                           acq_func="LCB", acq_optimizer="sampling", random_state=seed)
    raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")


def _compatible_gbrt(estimator: Any) -> Any:
    """skopt's ``GradientBoostingQuantileRegressor`` with two compatibility fixes, nothing else.

    scikit-optimize 0.10.2 (the latest release) predates two changes of its dependencies:

    * it declares ``GradientBoostingQuantileRegressor(BaseEstimator, RegressorMixin)``; since
      scikit-learn 1.6 estimator tags resolve through the MRO, ``BaseEstimator`` first hides
      the mixin's tag, ``is_regressor`` says no, and ``skopt.Optimizer`` (and
      ``gbrt_minimize`` itself) refuse the estimator — the subclass restores the tag;
    * its ``predict(return_std=True)`` calls ``np.in1d``, removed in NumPy 2.4 — the subclass
      does the same check with ``np.isin``, its documented replacement.

    Fitting and prediction are otherwise the library's own code.
    """
    # the subclass lives in its own module, imported here so skopt stays a lazy import, and
    # named there so the optimizer pickles
    from hpbench.optimizers.adapters._skopt_gbrt import GradientBoostingQuantileRegressor

    return GradientBoostingQuantileRegressor(**estimator.get_params(deep=False))


_TAGS = ("model-based", "adapter", "skopt")


@register_optimizer("skopt-gp", tags=(*_TAGS, "gp"), packages=("skopt", "sklearn"),
                    extra="skopt", settings={"recipe": "gp"},
                    description="scikit-optimize gp_minimize (GP, gp_hedge)")
@register_optimizer("skopt-forest", tags=(*_TAGS, "forest"), packages=("skopt", "sklearn"),
                    extra="skopt", settings={"recipe": "forest"},
                    description="scikit-optimize forest_minimize (extra trees, EI)")
@register_optimizer("skopt-gbrt", tags=(*_TAGS, "forest"), packages=("skopt", "sklearn"),
                    extra="skopt", settings={"recipe": "gbrt"},
                    description="scikit-optimize gbrt_minimize (boosted trees, LCB)")
class SkoptOptimizer(Optimizer):
    """``skopt.Optimizer`` built like ``gp_minimize`` / ``forest_minimize`` /
    ``gbrt_minimize``."""

    settings = {"recipe": "gp", "n_initial_points": 10, "threads": 1}
    choices = {"recipe": RECIPES}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self._dims = skopt_dimensions(space)
        self.opt = build_skopt(self.config["recipe"], self._dims, library_seed(self.seed),
                               int(self.config["n_initial_points"]))
        self._names = list(space.names)
        self._worst = WorstSoFar()
        self._threads = ThreadLimit(self.config["threads"])

    def _config(self, x: Sequence) -> dict[str, Any]:
        full: dict[str, Any] = {}
        for name, value, param in zip(self._names, x, self.space.values()):
            if isinstance(param, Float):
                full[name] = min(param.high, max(param.low, float(value)))
            elif isinstance(param, Int):
                full[name] = int(value)
            elif isinstance(value, str):  # skopt hands back numpy strings
                full[name] = param.choices[param.index(str(value))]
            else:
                full[name] = param.choices[int(value)]
        if not self.space.is_conditional:
            return full
        active = set(self.space.active(full))
        return {n: v for n, v in full.items() if n in active}

    def ask(self, n: int) -> list[Suggestion]:
        with self._threads(), warnings.catch_warnings():
            # "The objective has been evaluated at point ... before, using random point":
            # skopt's own duplicate avoidance, reported as a warning
            warnings.simplefilter("ignore", UserWarning)
            points = [self.opt.ask()] if n == 1 else self.opt.ask(n_points=n)
        return [Suggestion(self._config(x), tag=list(x)) for x in points]

    def tell(self, observations: Sequence[Observation]) -> None:
        self._worst.update(obs.value for obs in observations if obs.ok)
        xs, ys = [], []
        for obs in observations:
            y = obs.value if obs.ok else self._worst.impute()
            if y is not None:
                xs.append(obs.suggestion.tag)
                ys.append(float(y))
        if xs:
            with self._threads():
                self.opt.tell(xs, ys)

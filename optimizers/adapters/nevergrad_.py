"""Nevergrad's optimizers (Rapin & Teytaud 2018, "Nevergrad — A gradient-free optimization
platform", https://github.com/facebookresearch/nevergrad) through ``ask()`` / ``tell()``.

Entries (``ng.optimizers.registry`` names):

* ``ng-ngopt``: ``NGOpt``, Nevergrad's algorithm selector (Meunier et al. 2021, "Black-box
  optimization revisited: improving algorithm selection wizards through massive
  benchmarking", IEEE TEVC), which picks a method from the parametrization, budget and
  number of workers;
* ``ng-oneplusone``: ``OnePlusOne``, the (1+1) evolution strategy with the one-fifth rule
  (Rechenberg 1973; Schumer & Steiglitz 1968);
* ``ng-twopointsde``: ``TwoPointsDE``, differential evolution (Storn & Price 1997) with
  two-points crossover;
* ``ng-pso``: ``PSO``, particle swarm optimization (Kennedy & Eberhart 1995);
* ``ng-cma``: ``CMA``, CMA-ES (Hansen & Ostermeier 2001) through the ``cma`` package.

Parametrization: an ``ng.p.Dict`` with ``Float`` → ``ng.p.Scalar(lower, upper)`` (or
``ng.p.Log(lower, upper)`` with ``log=True``), ``Int`` → the same with
``set_integer_casting()``, ``Categorical`` → ``ng.p.Choice(choices)``; seeded by setting
``parametrization.random_state`` to a ``RandomState`` of the seed before the optimizer is
built. The optimizer's ``budget`` is the cell's evaluation budget and ``num_workers`` is the
batch size (a setting, default 1: sequential).

Conditional parameters: the parametrization holds every parameter; those their parent leaves
inactive are dropped from the config the runner evaluates (Nevergrad would express them as a
``Choice`` of sub-``Dict``s, which changes what NGOpt selects).

Failed trials are told as NaN, which Nevergrad itself replaces by its penalty ``5e20``
("Clipping very high value" in ``Optimizer.tell``; that warning is silenced, see ``_quiet``).
All of these methods compare or rank losses, so the penalty only says "worse than anything
seen".
NumPy 2.4 vs nevergrad 1.0.12: on small (e.g. 1-d) problems NGOpt chooses a metamodel whose
``learn_on_k_best`` calls ``float(model.predict(x))`` on a shape-(1,) array, which NumPy 2.4
refuses ("only 0-dimensional arrays can be converted to Python scalars"; NumPy < 2.4 converted
it). Instead of pinning NumPy below 2.4 for every other package, ``_numpy24_shim`` gives that
module a ``float`` that takes the single element of a size-1 array — what NumPy < 2.4 did, so
NGOpt's trajectory is the library's own.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import library_seed
from hpbench.seeds import global_random_state_kept
from hpbench.space import Categorical, Float, Int, Space


def ng_parametrization(space: Space, seed: int | None):
    """The ``ng.p.Dict`` of ``space``, its random state seeded with ``seed``."""
    import nevergrad as ng

    params = {}
    for name, p in space.items():
        if isinstance(p, Float | Int):
            if p.log:
                q = ng.p.Log(lower=p.low, upper=p.high)
            else:
                q = ng.p.Scalar(lower=p.low, upper=p.high)
            params[name] = q.set_integer_casting() if isinstance(p, Int) else q
        elif isinstance(p, Categorical):
            params[name] = ng.p.Choice(list(p.choices))
        else:  # pragma: no cover - Space only admits these three
            raise TypeError(f"parameter {name!r} must be Float, Int or Categorical, "
                            f"got {type(p).__name__}")
    parametrization = ng.p.Dict(**params)
    if seed is not None:
        parametrization.random_state = np.random.RandomState(seed)
    return parametrization


_TAGS = ("adapter", "nevergrad")


@register_optimizer("ng-ngopt", tags=("evolution", "portfolio", *_TAGS),
                    packages=("nevergrad",), extra="nevergrad", settings={"method": "NGOpt"},
                    description="Nevergrad NGOpt (algorithm selection wizard)")
@register_optimizer("ng-oneplusone", tags=("evolution", *_TAGS), packages=("nevergrad",),
                    extra="nevergrad", settings={"method": "OnePlusOne"},
                    description="Nevergrad (1+1)-ES with one-fifth rule")
@register_optimizer("ng-twopointsde", tags=("evolution", "population", *_TAGS),
                    packages=("nevergrad",), extra="nevergrad",
                    settings={"method": "TwoPointsDE"},
                    description="Nevergrad differential evolution, two-points crossover")
@register_optimizer("ng-pso", tags=("population", *_TAGS), packages=("nevergrad",),
                    extra="nevergrad", settings={"method": "PSO"},
                    description="Nevergrad particle swarm optimization")
@register_optimizer("ng-cma", tags=("evolution", *_TAGS), packages=("nevergrad", "cma"),
                    extra="nevergrad", settings={"method": "CMA"},
                    description="Nevergrad CMA-ES (pycma)")
class Nevergrad(Optimizer):
    """A Nevergrad optimizer (``method``: a name of ``ng.optimizers.registry``)."""

    settings = {"method": "NGOpt", "num_workers": 1}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import nevergrad as ng

        _numpy24_shim()
        method = self.config["method"]
        if method not in ng.optimizers.registry:
            raise ValueError(f"method must be a name in nevergrad's optimizer registry, "
                             f"got {method!r}")
        workers = int(self.config["num_workers"])
        if workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {workers}")
        self.batch_size = workers
        # Nevergrad draws a seed from numpy's global generator for every parameter it builds
        # (then replaced by the seeded Dict's): leave the global generator as it was
        with global_random_state_kept():
            self.parametrization = ng_parametrization(space, library_seed(self.seed))
            self.opt = ng.optimizers.registry[method](parametrization=self.parametrization,
                                                      budget=self.budget.evaluations,
                                                      num_workers=workers)

    def _config(self, value: dict[str, Any]) -> dict[str, Any]:
        full: dict[str, Any] = {}
        for name, param in self.space.items():
            v = value[name]
            if isinstance(param, Float):
                full[name] = min(param.high, max(param.low, float(v)))
            elif isinstance(param, Int):
                full[name] = min(param.high, max(param.low, int(v)))
            else:
                full[name] = v
        if not self.space.is_conditional:
            return full
        active = set(self.space.active(full))
        return {n: v for n, v in full.items() if n in active}

    def ask(self, n: int) -> list[Suggestion]:
        out = []
        with _quiet():
            for _ in range(n):
                candidate = self.opt.ask()
                out.append(Suggestion(self._config(candidate.value), tag=candidate))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        with _quiet():
            for obs in observations:
                self.opt.tell(obs.suggestion.tag, obs.value if obs.ok else math.nan)


def _scalar_float(x: Any = 0.0) -> float:
    """``float`` as NumPy < 2.4 had it: a size-1 array converts to its single element."""
    if isinstance(x, np.ndarray) and x.ndim > 0 and x.size == 1:
        x = x.reshape(())
    return float(x)


def _numpy24_shim() -> None:
    """Let nevergrad's metamodel convert its size-1 predictions under NumPy >= 2.4 (see the
    module docstring); a no-op when its ``float`` is already ours."""
    from nevergrad.optimization import metamodel

    if getattr(metamodel, "float", None) is not _scalar_float:
        metamodel.float = _scalar_float


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence what Nevergrad and the solvers it drives report about their own bookkeeping:
    the NaN → 5e20 clipping above, pycma's "orphanated injected solution" (Nevergrad asks
    one candidate at a time) and COBYLA's RHOEND reset inside NGOpt's portfolio."""
    from nevergrad.common.errors import LossTooLargeWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossTooLargeWarning)
        warnings.filterwarnings("ignore", message="orphanated injected solution")
        warnings.filterwarnings("ignore", message="COBYLA: Invalid RHOEND")
        yield

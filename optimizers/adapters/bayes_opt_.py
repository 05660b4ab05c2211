"""bayes_opt (Nogueira, "Bayesian Optimization: Open source constrained global optimization
tool for Python", 2014–, the ``bayesian-optimization`` package, 1.4 API) through ``suggest`` /
``register``.

The library's own ``maximize(init_points=5, n_iter=...)`` loop probes ``init_points`` random
points from its ``TargetSpace``, then repeats ``util.update_params()``, ``suggest(util)``
(fit a GP with a Matérn-5/2 kernel, ``alpha=1e-6``, ``normalize_y``; maximize the acquisition
by 10 000 random points plus L-BFGS-B from 10 random starts) and register. The adapter runs
the same steps with the same random streams, so ``maximize`` with seed ``s`` on the decoded
objective and ``bayes-opt`` with seed ``s`` propose the same points
(``tests/optimizers/test_adapter_fidelity.py``). The acquisition is bayes_opt's default UCB
with ``kappa=2.576`` (Srinivas et al. 2010, GP-UCB); ``acq`` (``"ucb"``, ``"ei"``, ``"poi"``),
``kappa`` and ``xi`` are settings.

Decoding: bayes_opt only knows continuous boxes. Every parameter is one coordinate of the
unit cube (``pbounds = {name: (0, 1)}``) and ``Space.from_unit`` decodes a point: log-scale
floats and ints are explored on a log scale, ints and categoricals through equal-width bins
(so the GP sees a piecewise-constant objective along those coordinates), and coordinates of
inactive conditional parameters are ignored. bayes_opt maximizes; it is told ``-value``.

Failed trials are registered with the worst value seen so far
(``_common.WorstSoFar``), not at all before the first success. bayes_opt refuses
to register the same point twice (``NotUniqueError``; its own ``maximize`` would crash);
such a repeat is evaluated but not registered again, and counted in ``duplicates``.
Batch asks (n > 1) beyond the initial design: the first point is bayes_opt's own suggestion,
the others come from a copy of the optimizer told a constant lie (the worst target so far) at
each pending point — bayes_opt has no batch mode of its own. ``suggest`` runs with
``threads`` BLAS/OpenMP threads (default 1, see ``_common.ThreadLimit``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, WorstSoFar, library_seed
from hpbench.space import Space


@register_optimizer("bayes-opt", tags=("model-based", "gp", "adapter", "bayes_opt"),
                    packages=("bayes_opt", "sklearn"), extra="bayesopt",
                    description="bayes_opt BayesianOptimization (GP-UCB) on the unit cube")
class BayesOpt(Optimizer):
    """``bayes_opt.BayesianOptimization`` driven by ``suggest`` / ``register``."""

    label = "bayes-opt"
    settings = {"acq": "ucb", "kappa": 2.576, "xi": 0.0, "init_points": 5, "threads": 1}
    #: the utility functions of bayes_opt's ``UtilityFunction``
    choices = {"acq": ("ucb", "ei", "poi")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        from bayes_opt import BayesianOptimization, UtilityFunction

        self.bo = BayesianOptimization(f=None, pbounds={n: (0.0, 1.0) for n in space},
                                       random_state=library_seed(self.seed), verbose=0,
                                       allow_duplicate_points=False)
        # maximize()'s default utility; kappa_decay=1 keeps kappa fixed
        self.util = UtilityFunction(kind=self.config["acq"], kappa=self.config["kappa"],
                                    xi=self.config["xi"], kappa_decay=1, kappa_decay_delay=0)
        self._init_left = max(0, int(self.config["init_points"]))
        self._worst = WorstSoFar()
        self.duplicates = 0
        self._threads = ThreadLimit(self.config["threads"])

    def _suggestion(self, params: dict[str, float]) -> Suggestion:
        u = [float(params[n]) for n in self.space.names]
        return Suggestion(self.space.from_unit(u), tag=dict(params))

    def ask(self, n: int) -> list[Suggestion]:
        out: list[Suggestion] = []
        liar = None
        with self._threads():
            for _ in range(n):
                if self._init_left > 0:
                    # maximize() queues init_points draws of the TargetSpace's own generator
                    self._init_left -= 1
                    space = self.bo.space
                    out.append(self._suggestion(space.array_to_params(space.random_sample())))
                    continue
                self.util.update_params()
                if liar is None and not out:
                    out.append(self._suggestion(self.bo.suggest(self.util)))
                    continue
                if liar is None:
                    liar = copy.deepcopy(self.bo)
                    for s in out:
                        self._lie(liar, s.tag)
                params = liar.suggest(self.util)
                out.append(self._suggestion(params))
                self._lie(liar, params)
        return out

    @staticmethod
    def _lie(bo: Any, params: dict[str, float]) -> None:
        from bayes_opt.util import NotUniqueError

        target = bo.space.target
        if len(target) == 0:
            return
        with contextlib.suppress(NotUniqueError):  # a lie at a known point adds nothing
            bo.register(params=params, target=float(target.min()))

    def tell(self, observations: Sequence[Observation]) -> None:
        from bayes_opt.util import NotUniqueError

        self._worst.update(obs.value for obs in observations if obs.ok)
        for obs in observations:
            value = obs.value if obs.ok else self._worst.impute()
            if value is None:
                continue
            try:
                self.bo.register(params=obs.suggestion.tag, target=-float(value))
            except NotUniqueError:
                self.duplicates += 1

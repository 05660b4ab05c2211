"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar 2017, "Hyperband: A Novel
Bandit-Based Approach to Hyperparameter Optimization", JMLR 18(185), Algorithm 1).

Resources are the problem's fidelity: ``R = high / min_fidelity`` and the fidelities are
``high · η^{-k}`` (``_common.fidelity_ladder``). Hyperband loops over the
brackets ``s = s_max … 0``; bracket ``s`` samples ``n = ⌈(s_max+1) η^s / (s+1)⌉`` configs,
runs them at ``R η^{-s}`` and then successive halving (Jamieson & Talwalkar 2016) keeps the
best ``⌊n_i / η⌋`` at each rung for ``η`` times the resource. Each rung is one synchronous
round of suggestions, handed out over as many ``ask`` calls as the runner makes.

Choices this implementation makes, as settings:

* ``resume`` (True): a promoted config continues from its checkpoint (``resume_from`` its
  trial at the previous rung) where the problem declares "checkpoint", so it pays only the
  increment; elsewhere it is evaluated from scratch at the higher fidelity.
* ``budget_aware`` (True): with a budget in evaluations, a bracket that cannot finish in the
  budget left is replaced by the bracket with the largest ``s`` that can; when none can,
  the last evaluations are spent on fresh configs at full fidelity (a bracket ``s = 0`` of
  ``⌊remaining⌋`` configs), because only full-fidelity results count as incumbents.
  Li et al. run brackets to the end, which here would leave a half-run bracket whose
  low-fidelity results can never be an incumbent.
* Failed trials rank last and are never promoted (they left no checkpoint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpbench import Observation, Space, register_optimizer
from hpbench.optimizers.multifidelity._common import (
    Bracket,
    JobOptimizer,
    Jobs,
    bracket_cost,
    check_eta,
    fidelity_arg,
    fidelity_ladder,
    hyperband_brackets,
    suggestion,
    top_k,
)

#: slack when comparing a bracket's cost with the budget left
_EPS = 1e-9


class HyperbandBase(JobOptimizer):
    """Brackets of successive halving over the fidelity ladder; subclasses choose which
    brackets (``_cycle``) and how new configs are drawn (``_new_configs``, random here)."""

    requires = frozenset({"fidelity"})
    settings = {"eta": 3, "min_fidelity": None, "resume": True, "budget_aware": True}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError(f"{type(self).__name__} needs a problem with a fidelity "
                             f"(requires={sorted(self.requires)})")
        self.eta = check_eta(self.config["eta"])
        self.ladder = fidelity_ladder(self.fidelity, self.eta, self.config["min_fidelity"])
        self.s_max = len(self.ladder) - 1
        self.brackets = hyperband_brackets(self.s_max, self.eta)

    # subclass hooks ------------------------------------------------------------------------
    def _cycle(self) -> list[Bracket]:
        """The brackets to loop over, in order."""
        return self.brackets

    def _new_configs(self, n: int, fidelity: float) -> list[dict]:
        """``n`` new configs for the first rung of a bracket (at ``fidelity``)."""
        return self.space.sample(self.rng, n)

    def _observe(self, observations: Sequence[Observation]) -> None:
        """Called with every finished rung (BOHB feeds its model here)."""

    # the algorithm -------------------------------------------------------------------------
    def _fit_bracket(self, bracket: Bracket) -> Bracket:
        remaining = self.remaining()
        if remaining is None or not self.config["budget_aware"]:
            return bracket
        resume = self.can_resume
        if bracket_cost(bracket, self.ladder, resume) <= remaining + _EPS:
            return bracket
        for b in self.brackets:  # largest s first
            if bracket_cost(b, self.ladder, resume) <= remaining + _EPS:
                return b
        n = max(1, math.floor(remaining + _EPS))
        return Bracket(0, (n,), (self.s_max,))

    def _jobs(self) -> Jobs:
        cycle = self._cycle()
        i = 0
        while True:
            bracket = self._fit_bracket(cycle[i % len(cycle)])
            i += 1
            yield from self._run_bracket(bracket)

    def _run_bracket(self, bracket: Bracket) -> Jobs:
        """Successive halving over the rungs of ``bracket`` (Li et al. 2017, Algorithm 1,
        inner loop)."""
        fid = self.fidelity
        first = self.ladder[bracket.rungs[0]]
        configs = [dict(c) for c in self._new_configs(bracket.n, first)]
        previous: list[Observation | None] = [None] * len(configs)
        resume = self.can_resume
        for j, rung in enumerate(bracket.rungs):
            f = self.ladder[rung]
            batch = [suggestion(c, fidelity_arg(fid, f),
                                resume_from=p.trial if resume and p is not None else None)
                     for c, p in zip(configs, previous)]
            observations = yield batch
            self._observe(observations)
            if j + 1 == len(bracket.rungs):
                return
            keep = top_k(observations, bracket.sizes[j + 1])
            if not keep:  # every config of the rung failed
                return
            configs = [dict(o.config) for o in keep]
            previous = list(keep)


@register_optimizer("hyperband", tags=("multi-fidelity", "bandit"),
                    description="Hyperband (Li et al. 2017): brackets of successive halving, "
                                "random configs")
class Hyperband(HyperbandBase):
    """Hyperband with random sampling (Li et al. 2017). Settings: ``eta`` (3),
    ``min_fidelity`` (None: the problem's lowest), ``resume`` (True), ``budget_aware``
    (True)."""

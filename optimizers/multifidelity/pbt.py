"""Population-based training (Jaderberg, Dalibard, Osindero, Czarnecki, Donahue, Razavi,
Vinyals, Green, Dunning, Simonyan, Fernando & Kavukcuoglu 2017, "Population Based Training of
Neural Networks", arXiv:1711.09846).

A population of ``population`` members trains in ``steps`` equal intervals of the fidelity
(epochs): step ``k`` asks every member for ``Suggestion(config, fidelity=f_k,
resume_from=<its last trial>)``, so each member continues its own checkpoint and pays only
the interval. Between steps (synchronously, one generation per step):

* exploit — truncation selection (Jaderberg et al. §4.1): the bottom ``truncation`` share
  of members (and every member whose last trial failed) copies a member drawn uniformly from
  the top ``truncation`` share: its next suggestion resumes from *that* member's last trial
  (``resume_from`` points at the top member's checkpoint) with the new config below;
* explore — perturb: every float of the copied config, in the unit cube, is resampled
  uniformly with probability ``resample_prob``, otherwise multiplied by 0.8 or 1.2 (clipped
  to the cube). Integers and categories are copied unchanged by default: in a net they
  usually shape the architecture, which a copied checkpoint fixes (Jaderberg et al. explore
  the hyperparameters that can change during training); ``explore_discrete=True`` treats
  them like floats (integers snapped back to a level; categories only resampled).

Every member's value at every step is a trial of the record; only the last step is at full
fidelity, so the incumbent is the best full-length member. When a population has reached full
fidelity and budget is left, a new random population starts. With a budget in evaluations,
the last population is shrunk to the members the budget left can train to full length
(``budget_aware``), so no member is started that could never finish.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpbench import Observation, Space, register_optimizer
from hpbench.cube import UnitCube
from hpbench.optimizers.multifidelity._common import (
    JobOptimizer,
    Jobs,
    fidelity_arg,
    loss,
    suggestion,
)

#: Jaderberg et al.'s perturbation factors
FACTORS = (0.8, 1.2)


@dataclass
class Member:
    """One member: its current config, the trial to continue from, its last observation."""

    config: dict
    resume: int | None = None
    last: Observation | None = None


@register_optimizer("pbt", tags=("population-based", "multi-fidelity"),
                    description="population-based training (Jaderberg et al. 2017): "
                                "truncation exploit, perturb/resample explore")
class PBT(JobOptimizer):
    """Settings: ``population`` (8), ``steps`` (9 intervals of the fidelity), ``truncation``
    (0.25), ``resample_prob`` (0.25), ``explore_discrete`` (False), ``budget_aware`` (True)."""

    requires = frozenset({"fidelity", "checkpoint"})
    settings = {"population": 8, "steps": 9, "truncation": 0.25, "resample_prob": 0.25,
                "explore_discrete": False, "budget_aware": True}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError("pbt needs a problem with a fidelity "
                             "(requires=['checkpoint', 'fidelity'])")
        p, steps = self.config["population"], self.config["steps"]
        if isinstance(p, bool) or not isinstance(p, int) or p < 2:
            raise ValueError(f"population must be an integer >= 2, got {p!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        t = self.config["truncation"]
        if not (isinstance(t, int | float) and 0 < t <= 0.5):
            raise ValueError(f"truncation must be a share in (0, 0.5], got {t!r}")
        self.batch_size = p
        self.cube = UnitCube(space)
        self.step_fidelities = self._step_fidelities(steps)

    def _step_fidelities(self, steps: int) -> list[float]:
        fid = self.fidelity
        out: list[float] = []
        for k in range(1, steps + 1):
            f = fid.high * k / steps
            if fid.integer:
                f = float(round(f))
            f = min(fid.high, max(fid.low, f))
            if not out or f > out[-1]:
                out.append(f)
        return out

    # explore ---------------------------------------------------------------------------------
    def explore(self, config: dict) -> dict:
        """Jaderberg et al.'s perturb: resample a coordinate, or scale it by 0.8 or 1.2."""
        u = self.space.to_unit(config)
        p = float(self.config["resample_prob"])
        discrete = bool(self.config["explore_discrete"])
        for j in range(self.cube.d):
            if self.cube.is_disc[j] and not discrete:
                continue
            if self.rng.random() < p:
                u[j] = self.rng.random()
            elif not self.cube.is_cat[j]:
                u[j] = u[j] * FACTORS[int(self.rng.integers(2))]
        return self.space.from_unit(self.cube.snap(u))

    def exploit_and_explore(self, members: list[Member]) -> None:
        """Truncation selection: the bottom share copies a top member's checkpoint."""
        n = len(members)
        cut = max(1, math.ceil(float(self.config["truncation"]) * n))
        order = sorted(range(n), key=lambda i: (loss(members[i].last), i))
        top = [members[i] for i in order[:cut] if members[i].last.ok]
        top_ids = {id(m) for m in top}
        bottom = {order[i] for i in range(n - cut, n)}
        for i, m in enumerate(members):
            failed = not m.last.ok
            if (i in bottom or failed) and top and id(m) not in top_ids:
                src = top[int(self.rng.integers(len(top)))]
                m.config = self.explore(src.last.config)
                m.resume = src.last.trial
            elif not failed:
                m.resume = m.last.trial
            else:  # nothing to copy from: start over
                m.config = self.space.sample(self.rng)
                m.resume = None

    # the algorithm ---------------------------------------------------------------------------
    def _population_size(self) -> int:
        p = int(self.config["population"])
        remaining = self.remaining()
        if remaining is None or not self.config["budget_aware"]:
            return p
        # a member costs one full-fidelity evaluation when it resumes at every step; a last
        # population of one is a plain training run, which at least can finish
        return min(p, max(1, math.floor(remaining + 1e-9)))

    def _jobs(self) -> Jobs:
        fid = self.fidelity
        last = len(self.step_fidelities) - 1
        while True:
            members = [Member(dict(c)) for c in
                       self.space.sample(self.rng, self._population_size())]
            for k, f in enumerate(self.step_fidelities):
                batch = [suggestion(m.config, fidelity_arg(fid, f), m.resume) for m in members]
                observations = yield batch
                for m, obs in zip(members, observations):
                    m.last = obs
                if k < last:
                    self.exploit_and_explore(members)


"""Shared machinery of the bandit / multi-fidelity / population-based optimizers.

Not an optimizer module (the leading underscore keeps registry discovery away from it).

* ``fidelity_ladder``: the geometric fidelities ``high · η^{-k}`` that successive halving,
  Hyperband, ASHA and BOHB evaluate at, from the problem's ``Fidelity`` and a minimum.
* ``hyperband_brackets``: the bracket table of Li et al. (2017), "Hyperband: A Novel
  Bandit-Based Approach to Hyperparameter Optimization", JMLR 18 (Algorithm 1, Table 1).
* ``JobOptimizer``: an ``Optimizer`` whose algorithm is a Python generator that yields lists
  of ``Suggestion`` (a synchronous round: a rung of a bracket, a PBT generation) and receives
  the list of their ``Observation`` in the same order. It hands a round out over as many
  ``ask(n)`` calls as the runner makes, counts the full-fidelity-equivalent cost it was
  charged (``self.spent``), knows whether the problem can resume from checkpoints, and keeps
  the incumbent: the best *full-fidelity* observation (a low-fidelity value is never one).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpbench import Observation, Optimizer, Space, Suggestion
from hpbench.problem import Fidelity, check_eta

__all__ = ["Bracket", "JobOptimizer", "Jobs", "bracket_cost", "check_eta", "fidelity_arg",
           "fidelity_ladder", "hyperband_brackets", "loss", "suggestion", "top_k"]

#: a generator that yields rounds of suggestions and receives their observations
Jobs = Generator[list[Suggestion], list[Observation], None]

def loss(obs: Observation) -> float:
    """The value used for ranking: failed trials (NaN) rank last."""
    return obs.value if obs.ok and math.isfinite(obs.value) else math.inf


def top_k(observations: Sequence[Observation], k: int) -> list[Observation]:
    """The ``k`` best successful observations (ties broken by order, so it is deterministic);
    failed ones are never promoted (they have no checkpoint to continue)."""
    ok = [o for o in observations if o.ok and math.isfinite(o.value)]
    order = sorted(range(len(ok)), key=lambda i: (ok[i].value, i))
    return [ok[i] for i in order[:max(0, k)]]


def fidelity_ladder(fidelity: Fidelity, eta: float, min_fidelity: float | None = None
                    ) -> list[float]:
    """``fidelity.ladder(eta, min_fidelity)`` (``hpbench.problem.Fidelity.ladder``: Li et al.
    2017's resources ``R η^{-s}``)."""
    return fidelity.ladder(eta, min_fidelity)


@dataclass(frozen=True)
class Bracket:
    """One Hyperband bracket: ``s`` and, per rung ``i = 0 … s``, how many configs run
    (``sizes[i] = ⌊n η^{-i}⌋``) at which step of the ladder (``rungs[i] = s_max − s + i``)."""

    s: int
    sizes: tuple[int, ...]
    rungs: tuple[int, ...]

    @property
    def n(self) -> int:
        return self.sizes[0]


def hyperband_brackets(s_max: int, eta: float) -> list[Bracket]:
    """Brackets ``s = s_max … 0`` of Li et al. (2017), Algorithm 1:
    ``n = ⌈(s_max + 1) η^s / (s + 1)⌉`` configs at resource ``R η^{-s}``; rung ``i`` keeps
    ``n_i = ⌊n η^{-i}⌋`` of them. For R = 81, η = 3 this is their Table 1."""
    eta = check_eta(eta)
    if s_max < 0:
        raise ValueError(f"s_max must be >= 0, got {s_max}")
    out = []
    for s in range(s_max, -1, -1):
        # round before ceil: (5/4)·27 must be 34, not 35 from 33.750000000000004
        n = math.ceil(round((s_max + 1) * eta**s / (s + 1), 9))
        sizes = tuple(max(1, math.floor(round(n * eta ** (-i), 9))) for i in range(s + 1))
        out.append(Bracket(s, sizes, tuple(range(s_max - s, s_max + 1))))
    return out


def bracket_cost(bracket: Bracket, ladder: Sequence[float], resume: bool) -> float:
    """Full-fidelity-equivalent cost of running ``bracket`` to the end (a resume pays only
    the increment over the previous rung)."""
    high = ladder[-1]
    total, prev = 0.0, 0.0
    for size, r in zip(bracket.sizes, bracket.rungs):
        f = ladder[r]
        total += size * ((f - prev) if resume else f) / high
        prev = f
    return total


class JobOptimizer(Optimizer):
    """An optimizer written as a generator of suggestion rounds (see the module docstring).

    Subclasses implement ``_jobs()``. ``self.spent`` is the cost charged so far (the sum of
    the observations' ``cost``), ``self.remaining()`` the budget left (None when the budget
    is not counted in evaluations), ``self.can_resume`` whether the problem offers
    checkpoints (and the ``resume`` setting allows them), ``self.incumbent`` the best
    full-fidelity ``Observation``.
    """

    #: the search is a live Python generator, which pickle cannot save (its state is the
    #: suspended frame); recording what it was sent and replaying it would make a copy, but
    #: nothing in hpbench ships or checkpoints optimizers, so it is declared instead
    picklable = False

    #: a round (a rung of a bracket, a PBT generation) goes on only when all of it was told,
    #: and an ``ask`` past a handed-out round starts the next with what was told so far: the
    #: simulated parallel clock must wait for the round (``Optimizer.synchronous``)
    synchronous = True

    #: consecutive empty rounds after which the generator counts as stuck (a bug guard)
    MAX_EMPTY = 10_000

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.spent = 0.0
        self.incumbent: Observation | None = None
        self._gen: Jobs | None = None
        self._round: list[Suggestion] = []
        self._results: list[Observation | None] = []
        self._handed = 0
        self._round_no = -1
        self._exhausted = False

    # for subclasses ------------------------------------------------------------------------
    def _jobs(self) -> Jobs:
        raise NotImplementedError

    @property
    def can_resume(self) -> bool:
        allowed = bool(self.config.get("resume", True))
        return allowed and "checkpoint" in (self.problem_capabilities or ())

    def remaining(self) -> float | None:
        if self.budget.unit != "evaluations":
            return None
        return float(self.budget.amount) - self.spent

    def is_full(self, fidelity: float | None) -> bool:
        return fidelity is None or self.fidelity is None or fidelity >= self.fidelity.high

    # the protocol --------------------------------------------------------------------------
    def ask(self, n: int) -> list[Suggestion]:
        if self._handed >= len(self._round) and not self._exhausted:
            self._next_round()
        out = self._round[self._handed:self._handed + max(1, n)]
        self._handed += len(out)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            self.spent += float(obs.cost)
            tag = obs.suggestion.tag
            if isinstance(tag, tuple) and len(tag) == 2 and tag[0] == self._round_no:
                self._results[tag[1]] = obs
            if obs.ok and math.isfinite(obs.value) and self.is_full(obs.suggestion.fidelity) \
                    and (self.incumbent is None or obs.value < self.incumbent.value):
                self.incumbent = obs

    def _next_round(self) -> None:
        results = [r for r in self._results if r is not None]
        for _ in range(self.MAX_EMPTY):
            try:
                if self._gen is None:
                    self._gen = self._jobs()
                    batch = next(self._gen)
                else:
                    batch = self._gen.send(results)
            except StopIteration:
                self._exhausted = True
                self._round, self._handed = [], 0
                return
            results = []
            if batch:
                break
        else:  # pragma: no cover - a bug guard
            raise RuntimeError(f"{type(self).__name__}: {self.MAX_EMPTY} empty rounds in a row")
        self._round_no += 1
        self._round = [Suggestion(s.config, fidelity=s.fidelity, resume_from=s.resume_from,
                                  want_grad=s.want_grad, tag=(self._round_no, i))
                       for i, s in enumerate(batch)]
        self._results = [None] * len(self._round)
        self._handed = 0


def suggestion(config: Mapping[str, Any], fidelity: float | None,
               resume_from: int | None = None) -> Suggestion:
    """A suggestion at ``fidelity`` (a float) or full fidelity (None)."""
    return Suggestion(dict(config), fidelity=fidelity, resume_from=resume_from)


def fidelity_arg(fidelity: Fidelity, f: float) -> float | None:
    """``f`` as a ``Suggestion.fidelity``: None at full fidelity (the runner's convention)."""
    return None if f >= fidelity.high else float(f)


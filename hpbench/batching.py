"""Batches for optimizers that cannot suggest several configs at once.

An optimizer declares ``supports_batch = False`` when ``ask(n)`` with n > 1 would not give n
useful configs (a model-based method that returns the same maximizer n times). Under
``--batch q`` the runner then does one of two things, chosen by the optimizer's
``batch_fallback``:

* ``"constant-liar"`` (the default): the generic strategy of Ginsbourger, Le Riche &
  Carraro, "Kriging is well-suited to parallelize optimization" (2010), §4.2. The first
  config is asked from the optimizer itself; for each further one a copy of the optimizer
  (``copy.deepcopy``) is told a *lie* for every pending config — the best value observed so
  far (their CL-min) — and asked again, so the batch spreads out instead of repeating a
  point. After the round the real optimizer is told the true results of all q configs (it
  must accept observations of configs it did not suggest itself, as every optimizer that
  keeps (config, value) data does), the copies are thrown away and the real optimizer's
  generator is moved past the copies' draws, so the next round does not repeat them.
  Before any value is known the lie is a failed trial. An optimizer that cannot be copied
  falls back to one config per round.
* ``"sequential"``: one config per round whatever q is (the optimizer is benchmarked
  without parallel evaluation; the cell's metadata says so).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from hpbench.optimizer import Observation, Optimizer, Suggestion

STRATEGIES = ("native", "constant-liar", "sequential")


class ConstantLiar:
    """Wraps an optimizer so ``ask(n)`` builds a batch with fantasized (lied) results."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.best = math.inf
        self.copyable = True

    def lie(self) -> tuple[float, str]:
        return (self.best, "ok") if math.isfinite(self.best) else (math.nan, "failed")

    def ask(self, n: int) -> Sequence[Any]:
        opt = self.optimizer
        first = opt.ask(1) if n > 1 else opt.ask(n)
        if n <= 1 or not first or not self.copyable:
            return first
        try:
            fantasy = _fantasy(opt)
        except Exception:  # holds a lock, a process, a C handle: no fantasies possible
            self.copyable = False
            return first
        out = list(first)
        value, status = self.lie()
        while len(out) < n:
            s = out[-1] if isinstance(out[-1], Suggestion) else Suggestion(out[-1])
            fantasy.tell([Observation(s, -len(out), value, status, error="constant liar",
                                      extra={"lie": True})])
            more = fantasy.ask(1)
            if not more:
                break
            out.extend(more[:1])
        rng, fantasy_rng = getattr(opt, "rng", None), getattr(fantasy, "rng", None)
        if rng is not None and fantasy_rng is not None:
            rng.bit_generator.state = fantasy_rng.bit_generator.state
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            if obs.ok and obs.value < self.best:
                self.best = float(obs.value)
        self.optimizer.tell(observations)


def _fantasy(optimizer: Optimizer) -> Optimizer:
    """A deep copy that shares the (immutable) space and its parameters."""
    memo: dict[int, Any] = {}
    space = getattr(optimizer, "space", None)
    if space is not None:
        memo[id(space)] = space
        for param in space.values():
            memo[id(param)] = param
    return copy.deepcopy(optimizer, memo)


def batch_strategy(optimizer: Optimizer, n: int) -> str:
    """How a round of ``n`` configs is built for ``optimizer``: one of ``STRATEGIES``."""
    if n <= 1 or getattr(optimizer, "supports_batch", True):
        return "native"
    fallback = getattr(optimizer, "batch_fallback", "constant-liar")
    if fallback not in STRATEGIES[1:]:
        raise ValueError(f"{type(optimizer).__name__}.batch_fallback must be one of "
                         f"{list(STRATEGIES[1:])}, got {fallback!r}")
    return fallback

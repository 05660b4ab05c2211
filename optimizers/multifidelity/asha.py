"""ASHA, asynchronous successive halving (Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt,
Recht & Talwalkar 2020, "A System for Massively Parallel Hyperparameter Tuning", MLSys,
Algorithm 2).

Rung ``k`` runs at fidelity ``min_fidelity · η^{k + s}`` (``s`` the early-stopping rate), the
top rung at full fidelity (``_common.fidelity_ladder``). Whenever a worker
is free, ``get_job`` looks from the second-highest rung down for a config in the top
``⌊|rung k| / η⌋`` of the configs *completed* at rung ``k`` that was not promoted from it yet,
and promotes the first it finds (the best) to rung ``k + 1``; if there is none it starts a
random config at the bottom rung. Nothing waits for a rung to fill, which is what makes it
asynchronous.

Simulated synchronously through ask/tell: ``ask(n)`` calls ``get_job`` ``n`` times, as ``n``
workers becoming free at once would; a promotion is marked when it is handed out (so a
config is never promoted twice), a result joins its rung only when it is told. With
``n = 1`` this is sequential ASHA. A promoted config continues from its checkpoint
(``resume_from`` its trial at the lower rung) where the problem offers checkpoints. Failed
trials count as completed (they fill the rung) but are never promoted.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hpbench import Observation, Optimizer, Space, Suggestion, register_optimizer
from hpbench.optimizers.multifidelity._common import check_eta, fidelity_arg, fidelity_ladder


@dataclass(order=True)
class _Done:
    """A result at a rung: its value (inf when failed), its trial, which config (``cid``).
    Ordered by (value, trial), so a rung kept sorted lists its best first."""

    value: float
    trial: int
    cid: int = field(compare=False)
    ok: bool = field(compare=False)


@register_optimizer("asha", tags=("multi-fidelity", "bandit", "asynchronous"),
                    description="asynchronous successive halving (Li et al. 2020), simulated "
                                "through ask/tell")
class ASHA(Optimizer):
    """Settings: ``eta`` (3), ``min_fidelity`` (None: the problem's lowest),
    ``early_stopping_rate`` ``s`` (0), ``resume`` (True)."""

    requires = frozenset({"fidelity"})
    settings = {"eta": 3, "min_fidelity": None, "early_stopping_rate": 0, "resume": True}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError("asha needs a problem with a fidelity (requires=['fidelity'])")
        self.eta = check_eta(self.config["eta"])
        ladder = fidelity_ladder(self.fidelity, self.eta, self.config["min_fidelity"])
        s = self.config["early_stopping_rate"]
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < len(ladder):
            raise ValueError(f"early_stopping_rate must be an integer in [0, {len(ladder) - 1}]"
                             f" for this fidelity, got {s!r}")
        #: fidelity of each rung, bottom to top (full fidelity)
        self.rungs = ladder[s:]
        #: results completed at each rung, best first
        self.completed: list[list[_Done]] = [[] for _ in self.rungs]
        #: configs (cid) already promoted out of each rung
        self.promoted: list[set[int]] = [set() for _ in self.rungs]
        self.configs: list[dict] = []
        self.incumbent: Observation | None = None

    def _can_resume(self) -> bool:
        return bool(self.config["resume"]) and "checkpoint" in (self.problem_capabilities or ())

    def get_job(self) -> Suggestion:
        """Li et al. (2020), Algorithm 2: promote if possible, else grow the bottom rung."""
        for k in range(len(self.rungs) - 2, -1, -1):
            done = self.completed[k]
            n_top = math.floor(len(done) / self.eta + 1e-9)
            if n_top == 0:
                continue
            for d in done[:n_top]:
                if d.ok and d.cid not in self.promoted[k]:
                    self.promoted[k].add(d.cid)
                    return Suggestion(dict(self.configs[d.cid]),
                                      fidelity=fidelity_arg(self.fidelity, self.rungs[k + 1]),
                                      resume_from=d.trial if self._can_resume() else None,
                                      tag=(d.cid, k + 1))
        cid = len(self.configs)
        self.configs.append(self.space.sample(self.rng))
        return Suggestion(dict(self.configs[cid]),
                          fidelity=fidelity_arg(self.fidelity, self.rungs[0]), tag=(cid, 0))

    def ask(self, n: int) -> list[Suggestion]:
        return [self.get_job() for _ in range(max(1, n))]

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            cid, k = obs.suggestion.tag
            ok = obs.ok and math.isfinite(obs.value)
            bisect.insort(self.completed[k], _Done(obs.value if ok else math.inf, obs.trial,
                                                   cid, ok))
            if ok and k == len(self.rungs) - 1 and (self.incumbent is None
                                                   or obs.value < self.incumbent.value):
                self.incumbent = obs

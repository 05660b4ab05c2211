"""Successive halving (Jamieson & Talwalkar 2016, "Non-stochastic Best Arm Identification and
Hyperparameter Optimization", AISTATS; in the resource form of Li et al. 2017, Algorithm 1's
inner loop).

One bracket is repeated with fresh random configs until the budget is spent: ``n`` configs at
the lowest fidelity, then the best ``⌊n_i / η⌋`` continue at ``η`` times the fidelity, up to
full fidelity. The bracket is Hyperband's most aggressive one, ``s = s_max`` (``n = η^{s_max}``
configs starting at ``min_fidelity``), unless the ``bracket`` setting picks another ``s``.
Resumes from checkpoints and the budget-aware tail are as in ``hyperband``.
"""

from __future__ import annotations

from typing import Any

from hpbench import Space, register_optimizer
from hpbench.optimizers.multifidelity._common import Bracket
from hpbench.optimizers.multifidelity.hyperband import HyperbandBase


@register_optimizer("successive-halving", tags=("multi-fidelity", "bandit"),
                    description="successive halving (Jamieson & Talwalkar 2016), repeated "
                                "brackets of random configs")
class SuccessiveHalving(HyperbandBase):
    """Settings: ``eta`` (3), ``min_fidelity`` (None: the problem's lowest), ``bracket``
    (None: ``s_max``), ``resume`` (True), ``budget_aware`` (True)."""

    settings = {**HyperbandBase.settings, "bracket": None}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        s = self.config["bracket"]
        if s is None:
            s = self.s_max
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= self.s_max:
            raise ValueError(f"bracket must be an integer in [0, {self.s_max}] (s_max for "
                             f"eta={self.eta:g} on this fidelity), got {s!r}")
        self.s = s

    def _cycle(self) -> list[Bracket]:
        return [self.brackets[self.s_max - self.s]]

"""Budgets: how much an optimizer may spend on one cell."""

from __future__ import annotations

import math
from dataclasses import dataclass

UNITS = ("evaluations", "cost", "seconds")


@dataclass(frozen=True)
class Budget:
    """``amount`` of ``unit``.

    * ``evaluations`` (default): full-fidelity-equivalent evaluations — an evaluation at
      fidelity ``f`` costs ``f / f_max``, a resume from a checkpoint only the increment;
    * ``cost``: the problem's own cost units (``Evaluation.cost``);
    * ``seconds``: wall seconds spent evaluating.
    """

    amount: float
    unit: str = "evaluations"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"budget unit must be one of {list(UNITS)}, got {self.unit!r}")
        if not (isinstance(self.amount, int | float) and math.isfinite(self.amount)
                and self.amount > 0):
            raise ValueError(f"budget must be a number > 0, got {self.amount!r}")

    @property
    def evaluations(self) -> int | None:
        """Number of full evaluations when counted in evaluations (else None)."""
        return int(self.amount) if self.unit == "evaluations" else None

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {self.unit}"

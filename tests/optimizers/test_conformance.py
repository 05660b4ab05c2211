"""The optimizer conformance suite (``hpbench.testing.optimizers``) on every registered
optimizer, no entry skipped.

Each optimizer runs through ``Cell.run`` on ``hpbench.testing.ToyProblem``, a cheap mixed
problem (log float, float, int, log int, categorical and a conditional float) with every
capability, so optimizers that need fidelities, checkpoints or hypergradients run on it too.
"""

from __future__ import annotations

import hpbench
from hpbench.testing import OPTIMIZER_CHECKS, optimizer_checks, parametrize_with_checks

NAMES = hpbench.list_optimizers()


def test_registry_is_not_empty():
    assert {"random", "grid", "sobol", "lhs"} <= set(NAMES)


def test_every_optimizer_gets_every_check():
    checks = optimizer_checks(NAMES)
    assert len(checks) == len(NAMES) * len(OPTIMIZER_CHECKS)
    assert {c.entry for c in checks} == set(NAMES)


@parametrize_with_checks(optimizers=NAMES)
def test_optimizer_conformance(check):
    check()

"""The shared conformance suite: every registered optimizer, no entry skipped.

Each optimizer runs on a cheap mixed problem (log float, float, int, log int, categorical,
and a conditional float) that has every capability, so optimizers that need fidelities,
checkpoints or hypergradients run on it too.
"""

from __future__ import annotations

import math

import pytest

import hpbench
from hpbench import Budget
from hpbench.runner import run_loop
from tests.toy import ToyProblem, trajectory

BUDGET = 16
NAMES = hpbench.list_optimizers()


def _run(name: str, seed: int, *, fail_rate: float = 0.0, budget: int = BUDGET,
         batch: int | None = None):
    problem = ToyProblem(seed=0, fail_rate=fail_rate)
    optimizer = hpbench.make_optimizer(name, problem.space, seed=seed, budget=Budget(budget),
                                       fidelity=problem.fidelity)
    result = run_loop(problem, optimizer, Budget(budget), batch=batch)
    assert result.status == "done", f"{name}: {result.reason}\n{result.error}"
    return result


def test_registry_is_not_empty():
    assert {"random", "grid", "sobol", "lhs"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_trajectory(name):
    first, second = _run(name, seed=123), _run(name, seed=123)
    assert trajectory(first) == trajectory(second)


@pytest.mark.parametrize("name", NAMES)
def test_different_seed_different_trajectory(name):
    assert trajectory(_run(name, seed=1)) != trajectory(_run(name, seed=2))


@pytest.mark.parametrize("name", NAMES)
def test_budget_respected_exactly_and_in_space(name):
    result = _run(name, seed=7)
    space = ToyProblem().space
    used = result.columns["budget_used"]
    assert used[-1] <= BUDGET + 1e-9
    assert result.reason == "budget", result.reason
    if all(f == 9 for f in result.columns["fidelity"]):
        assert result.n_trials == BUDGET  # full-fidelity methods get exactly the budget
    else:  # multi-fidelity: stops when the next suggestion would not fit
        assert used[-1] > BUDGET - 1 - 1e-9
    import json

    for config in result.columns["config"]:
        space.validate(json.loads(config))


@pytest.mark.parametrize("name", NAMES)
def test_survives_failing_trials(name):
    result = _run(name, seed=5, fail_rate=0.5, budget=20)
    statuses = result.columns["status"]
    assert "failed" in statuses, "the failing problem should have failed some trials"
    assert result.reason == "budget"
    assert any(s == "ok" for s in statuses)
    assert all(math.isnan(v) for v, s in zip(result.columns["value"], statuses) if s != "ok")


@pytest.mark.parametrize("name", NAMES)
def test_batch_asks(name):
    """Asked for 4 at a time, every optimizer still fills the budget with valid suggestions."""
    result = _run(name, seed=11, batch=4)
    assert result.columns["budget_used"][-1] <= BUDGET + 1e-9
    assert result.reason == "budget"

"""Every vectorized problem family reads ``evaluate_batch``'s arguments the same way
(``Problem.batch_arguments``): a missing list means None for each config, a list of another
length is refused with the counts, and a problem without a fidelity refuses one."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.registry import make_problem

#: one member of each family that overrides ``evaluate_batch``
FAMILIES = {
    "synthetic surface": ("branin", {}),
    "multi-fidelity surface": ("forrester-mf", {}),
    "BBOB": ("bbob-f01-2d", {}),
    "hypergradient": ("ridge-hypergrad", {}),
    "surrogate": ("sklearn-svc-breast_cancer-error-surrogate", {}),
    "torch net": ("torch-mlp-digits", {"epochs": 2}),
}


@pytest.fixture(params=sorted(FAMILIES), scope="module")
def problem(request):
    name, settings = FAMILIES[request.param]
    return make_problem(name, seed=0, **settings)


def test_a_batch_without_fidelities_or_contexts_is_one_none_each(problem):
    assert problem.batch_arguments([{}, {}]) == ([None, None], [None, None])
    assert problem.evaluate_batch([]) == []


def test_lists_of_another_length_are_refused_with_the_counts(problem):
    config = problem.space.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="got 2 configs, 1 fidelities, 2 contexts"):
        problem.evaluate_batch([config, config], fidelities=[None])
    with pytest.raises(ValueError, match="got 1 configs, 1 fidelities, 3 contexts"):
        problem.evaluate_batch([config], ctxs=[None] * 3)


def test_a_fidelity_for_a_problem_without_one_is_refused(problem):
    if problem.fidelity is not None:
        level = problem.fidelity.high
        assert problem.batch_arguments([{}], [level]) == ([level], [None])
        return
    config = problem.space.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match=f"{problem.name} has no fidelity, got fidelities="):
        problem.evaluate_batch([config], fidelities=[0.5])

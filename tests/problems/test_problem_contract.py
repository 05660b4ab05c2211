"""The shared problem contract: every registered problem, no entry skipped.

Checks are cheap and capability-driven so that expensive problems (sklearn, torch) pass
through them quickly: evaluations run at the lowest fidelity where a problem has one, and the
optimum checks that need many evaluations apply to problems that declare an exact optimum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpbench
from hpbench import EvalContext, Evaluation, Float, Optimum, Problem, Space
from hpbench.problem import CAPABILITIES
from hpbench.registry import get_entry

NAMES = hpbench.list_problems()
#: size of the random sample that must not beat an exact optimum (vectorized problems; the
#: others evaluate one config at a time, so they get a smaller one)
N_SAMPLE = 10_000
N_SAMPLE_SLOW = 1_000


def _tol(value: float) -> float:
    """The published precision of an optimum: rel 1e-4 or abs 1e-4, whichever is larger."""
    return max(1e-4, 1e-4 * abs(value))


def _ctx(problem: Problem, scratch, want_grad: bool = False) -> EvalContext | None:
    if problem.capabilities & {"checkpoint", "hypergradient"}:
        return EvalContext(trial=0, scratch=scratch, want_grad=want_grad)
    return None


def _evaluate(problem: Problem, config, scratch, *, lowest: bool = True,
              want_grad: bool = False) -> Evaluation:
    fidelity = problem.fidelity.low if (lowest and problem.fidelity is not None) else None
    try:
        return problem.evaluate(config, fidelity=fidelity,
                                ctx=_ctx(problem, scratch, want_grad))
    finally:
        problem.cleanup(scratch)


def test_registry_has_problems():
    assert NAMES, "no problem is registered"
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_entry_metadata(name):
    entry = get_entry("problem", name)
    assert entry.description and "\n" not in entry.description, entry.description
    assert all(isinstance(t, str) and t for t in entry.tags)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [None, 7])
def test_builds(name, seed):
    problem = hpbench.make_problem(name, seed=seed)
    assert isinstance(problem, Problem)
    assert problem.name == name
    assert problem.seed == seed
    assert isinstance(problem.space, Space) and len(problem.space) > 0
    assert set(problem.capabilities) <= CAPABILITIES
    assert ("fidelity" in problem.capabilities) == (problem.fidelity is not None)
    opt = problem.optimum
    if opt is not None:
        assert isinstance(opt, Optimum)
        assert math.isfinite(opt.value)
        assert opt.kind in ("exact", "best-known"), opt.kind
        assert opt.source, "an optimum must name its source"
        if opt.location is not None:
            problem.space.validate(opt.location)


@pytest.mark.parametrize("name", NAMES)
def test_sampled_config_evaluates(name, tmp_path):
    problem = hpbench.make_problem(name, seed=3)
    config = problem.space.sample(np.random.default_rng(0))
    result = _evaluate(problem, config, tmp_path)
    assert isinstance(result, Evaluation)
    assert math.isfinite(result.value) and math.isfinite(result.true_value)
    assert math.isfinite(result.cost) and result.cost >= 0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_value(name, tmp_path):
    config = hpbench.make_problem(name, seed=11).space.sample(np.random.default_rng(1))
    first = _evaluate(hpbench.make_problem(name, seed=11), config, tmp_path / "a")
    second = _evaluate(hpbench.make_problem(name, seed=11), config, tmp_path / "b")
    assert (first.value, first.true_value) == (second.value, second.true_value)


@pytest.mark.parametrize("name", NAMES)
def test_fingerprint_stable_and_seeded(name):
    a = hpbench.make_problem(name, seed=5).fingerprint()
    assert a == hpbench.make_problem(name, seed=5).fingerprint()
    assert a != hpbench.make_problem(name, seed=6).fingerprint()


@pytest.mark.parametrize("name", NAMES)
def test_capabilities_deliver(name, tmp_path):
    """Each declared capability does what it says (at the lowest fidelity)."""
    problem = hpbench.make_problem(name, seed=2)
    configs = problem.space.sample(np.random.default_rng(2), 3)
    singles = [_evaluate(problem, c, tmp_path).true_value for c in configs]
    if "vectorized" in problem.capabilities:
        fid = problem.fidelity.low if problem.fidelity is not None else None
        batch = problem.evaluate_batch(configs, [fid] * 3)
        assert len(batch) == 3 and all(isinstance(r, Evaluation) for r in batch)
        np.testing.assert_allclose([r.true_value for r in batch], singles, rtol=1e-9,
                                   atol=1e-12)
    if "hypergradient" in problem.capabilities:
        for config in configs:
            grad = _evaluate(problem, config, tmp_path, want_grad=True).grad
            floats = {n for n in problem.space.active(config)
                      if isinstance(problem.space[n], Float)}
            assert grad is not None and set(grad) <= floats and grad, (grad, floats)
            assert all(math.isfinite(g) for g in grad.values()), grad


def _exact(problem: Problem) -> bool:
    opt = problem.optimum
    if opt is None or opt.kind != "exact":
        assert opt is None or opt.kind == "best-known"
        return False
    assert opt.location is not None, "an exact optimum must give one location"
    return True


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_exact_optimum_value_at_location(name, seed, tmp_path):
    problem = hpbench.make_problem(name, seed=seed)
    if _exact(problem):
        opt = problem.optimum
        value = _evaluate(problem, opt.location, tmp_path, lowest=False).true_value
        assert abs(value - opt.value) <= _tol(opt.value), (value, opt.value, opt.location)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [None, 1])
def test_exact_optimum_not_beaten(name, seed):
    problem = hpbench.make_problem(name, seed=seed)
    if _exact(problem):
        n = N_SAMPLE if "vectorized" in problem.capabilities else N_SAMPLE_SLOW
        configs = problem.space.sample(np.random.default_rng(123), n)
        values = np.array([r.true_value for r in problem.evaluate_batch(configs)])
        assert np.all(np.isfinite(values))
        best = float(values.min())
        assert best >= problem.optimum.value - _tol(problem.optimum.value), \
            (best, problem.optimum.value, configs[int(values.argmin())])

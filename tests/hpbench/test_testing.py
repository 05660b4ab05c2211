"""hpbench.testing itself: the API, and that each new check fails on what it must catch.

Broken optimizers and problems are registered for one test at a time (the registry's table is
restored afterwards, so the suites that list every entry never see them). The optimizers and
problems here pickle without their space (``_SpaceByReference``), so that the pickling checks
are tested on the behaviour they are about.
"""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

import hpbench
import tests.toy
from hpbench import Float, Optimizer, Optimum, Problem, Space, registry
from hpbench.testing import (
    MIXED_SPACE,
    OPTIMIZER_CHECKS,
    PROBLEM_CHECKS,
    Check,
    ConformanceError,
    ToyProblem,
    changed_generators,
    check_optimizer,
    check_problem,
    global_random_state,
    optimizer_checks,
    parametrize_with_checks,
    problem_checks,
    trajectory,
)
from hpbench.testing import optimizers as opt_checks
from hpbench.testing import problems as prob_checks
from hpbench.testing.globalstate import restore_global_random_state

# -- registering test entries ----------------------------------------------------------------


@pytest.fixture
def register(monkeypatch):
    """``register(kind, name, factory)``: an entry for this test only."""
    def add(kind: str, name: str, factory) -> str:
        table = registry._ENTRIES[kind]
        registry.entries(kind)  # discovery first, so it cannot run after the undo
        monkeypatch.setitem(table, name, registry.Entry(
            kind=kind, name=name, factory=factory, description=f"test {kind} {name}",
            tags=("test",), origin=registry._origin(factory)))
        return name
    return add


class _SpaceByReference:
    """Pickles without the space; the copy gets the toy's (the conformance runs' space)."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("space", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.space = self._SPACE


class Sampler(_SpaceByReference, Optimizer):
    """Uniform random search from the optimizer's own generator: passes every check."""

    _SPACE = MIXED_SPACE

    def ask(self, n):
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        pass


class NumpyGlobal(Sampler):
    def ask(self, n):
        np.random.random()  # draws from numpy's global generator (and throws it away)
        return super().ask(n)


class SeedsNumpy(Sampler):
    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        np.random.seed(1234)  # the same seed every time: a warm-up build must not hide it


class PythonGlobal(Sampler):
    def tell(self, observations):
        random.random()


class OutOfSpace(Sampler):
    def ask(self, n):
        return [{**c, "x": 5.0} for c in super().ask(n)]


class HoldsLambda(Sampler):
    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.transform = lambda u: u


class DeclaredUnpicklable(HoldsLambda):
    picklable = False


class FalselyDeclaredUnpicklable(Sampler):
    picklable = False


class ForgetfulCopy(Sampler):
    """Pickles, but the copy restarts its generator: it suggests differently."""

    def __setstate__(self, state):
        super().__setstate__(state)
        self.rng = np.random.default_rng(0)


# -- the API ---------------------------------------------------------------------------------


def test_toy_is_shared_with_the_repository_tests():
    assert tests.toy.ToyProblem is ToyProblem
    assert tests.toy.trajectory is trajectory
    assert tests.toy.MIXED_SPACE is MIXED_SPACE


def test_checks_have_ids_and_can_be_selected():
    checks = optimizer_checks(["random", "sobol"])
    assert [c.id for c in checks[:2]] == ["optimizer:random:same_seed_same_trajectory",
                                          "optimizer:random:different_seed_different_trajectory"]
    assert len(checks) == 2 * len(OPTIMIZER_CHECKS)
    assert {c.kind for c in checks} == {"optimizer"}
    chosen = problem_checks("branin", select=["pickle", "builds"])
    assert [c.id for c in chosen] == ["problem:branin:pickle", "problem:branin:builds"]
    assert all(isinstance(c, Check) and c.entry == "branin" for c in chosen)
    with pytest.raises(ValueError, match="unknown optimizer check"):
        optimizer_checks("random", select=["no_such_check"])


def test_parametrize_with_checks_gives_one_param_per_check():
    mark = parametrize_with_checks(optimizers="random", problems=["branin"])
    assert mark.args[0] == "check"
    ids = [p.id for p in mark.args[1]]
    assert len(ids) == len(OPTIMIZER_CHECKS) + len(PROBLEM_CHECKS)
    assert "optimizer:random:global_random_state" in ids and "problem:branin:pickle" in ids


def test_checks_run_without_pytest():
    check_optimizer("random", select=["budget_and_space", "global_random_state"])
    check_problem("branin", select=["entry_metadata", "builds", "global_random_state"])


def test_global_random_state_sees_each_generator():
    before = global_random_state()
    try:
        assert changed_generators(before, global_random_state()) == []
        np.random.random()
        assert changed_generators(before, global_random_state()) == ["numpy"]
        restore_global_random_state(before)
        random.random()
        assert changed_generators(before, global_random_state()) == ["random"]
        restore_global_random_state(before)
        torch = pytest.importorskip("torch")
        torch.rand(1)
        assert changed_generators(before, global_random_state()) == ["torch"]
    finally:
        restore_global_random_state(before)
    assert changed_generators(before, global_random_state()) == []


# -- the optimizer checks catch what they must -----------------------------------------------


def test_a_good_optimizer_passes_every_check(register):
    check_optimizer(register("optimizer", "testing-sampler", Sampler))


@pytest.mark.parametrize(("cls", "generator"), [
    (NumpyGlobal, "numpy's global random state"),
    (SeedsNumpy, "numpy's global random state"),
    (PythonGlobal, "Python's random module"),
])
def test_global_random_state_check_fails(register, cls, generator):
    name = register("optimizer", f"testing-{cls.__name__.lower()}", cls)
    before = global_random_state()
    with pytest.raises(AssertionError, match="changed global random state") as caught:
        optimizer_checks(name, select=["global_random_state"])[0]()
    assert generator in str(caught.value)
    assert str(caught.value).startswith(f"optimizer:{name}:global_random_state: ")
    assert changed_generators(before, global_random_state()) == []  # the check restored it


def test_out_of_space_suggestions_fail(register):
    name = register("optimizer", "testing-out-of-space", OutOfSpace)
    with pytest.raises(AssertionError, match="outside the space"):
        opt_checks.check_budget_and_space(name)


def test_check_optimizer_lists_every_failure(register):
    name = register("optimizer", "testing-out-of-space-2", OutOfSpace)
    with pytest.raises(ConformanceError) as caught:
        check_optimizer(name, select=["budget_and_space", "batch_asks", "global_random_state"])
    text = str(caught.value)
    assert text.startswith("2 of 3 conformance checks failed")
    assert f"optimizer:{name}:budget_and_space" in text
    assert f"optimizer:{name}:batch_asks" in text
    assert "global_random_state:" not in text


def test_pickle_check_fails_on_an_unpicklable_optimizer(register):
    name = register("optimizer", "testing-holds-lambda", HoldsLambda)
    with pytest.raises(AssertionError, match="cannot be pickled") as caught:
        opt_checks.check_pickle_mid_run(name)
    assert "transform (function" in str(caught.value)  # names the attribute
    assert "picklable = False" in str(caught.value)  # and the way out


def test_pickle_check_accepts_an_honest_declaration(register):
    opt_checks.check_pickle_mid_run(register("optimizer", "testing-declared",
                                             DeclaredUnpicklable))


def test_pickle_check_rejects_a_false_declaration(register):
    name = register("optimizer", "testing-falsely-declared", FalselyDeclaredUnpicklable)
    with pytest.raises(AssertionError, match="drop the declaration"):
        opt_checks.check_pickle_mid_run(name)


def test_pickle_check_fails_when_the_copy_diverges(register):
    name = register("optimizer", "testing-forgetful", ForgetfulCopy)
    with pytest.raises(AssertionError, match="suggests differently from the original"):
        opt_checks.check_pickle_mid_run(name)


def test_the_pickled_snapshot_is_mid_run(register):
    name = register("optimizer", "testing-sampler-2", Sampler)
    rec = opt_checks._reference(name, None).recorder
    assert opt_checks.BUDGET / 2 <= rec.snapshot_told < opt_checks.BUDGET
    assert rec.optimizer is None and not rec.error
    assert isinstance(pickle.loads(rec.snapshot), Sampler)


# -- the problem checks catch what they must -------------------------------------------------


class Bowl(_SpaceByReference, Problem):
    _SPACE = Space(x=Float(-1.0, 1.0))

    def __init__(self, seed=None):
        super().__init__(self._SPACE, seed=seed, name="testing-bowl",
                         optimum=Optimum(0.0, {"x": 0.0}, source="by construction"))
        self.offset = 0.0

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return config["x"] ** 2 + self.offset


class NoisyGlobalBowl(Bowl):
    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return super()._evaluate(config) + 1e-9 * np.random.random()


class TorchSeedingBowl(Bowl):
    def _evaluate(self, config, *, fidelity=None, ctx=None):
        import torch

        torch.manual_seed(0)
        return super()._evaluate(config)


class LambdaBowl(Bowl):
    def __init__(self, seed=None):
        super().__init__(seed)
        self.formula = lambda x: x * x


class DriftingCopyBowl(Bowl):
    def __setstate__(self, state):
        super().__setstate__(state)
        self.offset = 1.0


def test_a_good_problem_passes_every_check(register):
    name = register("problem", "testing-bowl", Bowl)
    check_problem(name)


@pytest.mark.parametrize(("cls", "generator"), [
    (NoisyGlobalBowl, "numpy's global random state"),
    (TorchSeedingBowl, "torch's default generator"),
])
def test_problem_global_random_state_check_fails(register, cls, generator):
    if cls is TorchSeedingBowl:
        pytest.importorskip("torch")
    name = register("problem", f"testing-{cls.__name__.lower()}", cls)
    with pytest.raises(AssertionError, match=f"changed global random state.*{generator}"):
        prob_checks.check_global_random_state(name)


def test_problem_pickle_check_names_what_does_not_pickle(register):
    name = register("problem", "testing-lambda-bowl", LambdaBowl)
    with pytest.raises(AssertionError, match=r"cannot be pickled.*formula \(function"):
        prob_checks.check_pickle(name)


def test_problem_pickle_check_compares_values(register):
    name = register("problem", "testing-drifting-bowl", DriftingCopyBowl)
    with pytest.raises(AssertionError, match="the unpickled copy gives"):
        prob_checks.check_pickle(name)


def test_a_problem_with_a_wrong_optimum_fails(register):
    class WrongOptimum(Bowl):
        def __init__(self, seed=None):
            super().__init__(seed)
            self.optimum = Optimum(-1.0, {"x": 0.0}, source="wrong on purpose")

    name = register("problem", "testing-wrong-optimum", WrongOptimum)
    with pytest.raises(AssertionError, match="at its optimum's location"):
        prob_checks.check_exact_optimum_value_at_location(name)
    assert math.isclose(hpbench.make_problem(name).evaluate({"x": 0.0}).value, 0.0)


# -- conformance_settings: an expensive optimizer checked with smaller inner loops -----------


class CheapWhenChecked(Sampler):
    """Records the settings it was built with; declares cheaper ones for the checks."""

    settings = {"restarts": 10}
    conformance_settings = {"restarts": 2}
    built_with: list = []

    def __init__(self, space, **kwargs):
        super().__init__(space, **kwargs)
        CheapWhenChecked.built_with.append(self.config["restarts"])


def test_checks_run_with_the_declared_conformance_settings_unless_given_others(register):
    name = register("optimizer", "testing-cheap-when-checked", CheapWhenChecked)
    CheapWhenChecked.built_with.clear()
    optimizer_checks(name, select=["budget_and_space"])[0]()
    assert set(CheapWhenChecked.built_with) == {2}
    CheapWhenChecked.built_with.clear()
    optimizer_checks(name, select=["budget_and_space"], settings={"restarts": 5})[0]()
    assert set(CheapWhenChecked.built_with) == {5}
    # an explicit empty mapping means the optimizer's own defaults
    CheapWhenChecked.built_with.clear()
    optimizer_checks(name, select=["budget_and_space"], settings={})[0]()
    assert set(CheapWhenChecked.built_with) == {10}


def test_conformance_settings_for_an_undeclared_setting_fail_at_class_creation():
    with pytest.raises(TypeError, match=r"conformance_settings for undeclared setting\(s\) "
                                        r"\['restart'\]"):
        class Typo(Optimizer):
            settings = {"restarts": 10}
            conformance_settings = {"restart": 2}


class Unseeded(Sampler):
    """Draws from a fresh unseeded generator: not reproducible."""

    def ask(self, n):
        return self.space.sample(np.random.default_rng(), n)


def test_an_unreproducible_optimizer_fails_the_same_seed_check(register):
    # the check's second run is the simulated one-worker run it shares with
    # check_simulated_one_worker; when that differs, a plain rerun decides what broke
    name = register("optimizer", "testing-unseeded", Unseeded)
    with pytest.raises(AssertionError, match=r"is not reproducible: two runs with seed 123 "
                                             r"differ at trial 0"):
        optimizer_checks(name, select=["same_seed_same_trajectory"])[0]()

import subprocess
import sys

import pytest

import hpbench
from hpbench import Optimizer, registry, seeds


def test_seeds_are_stable_across_processes():
    code = ("from hpbench import seeds; print(seeds.problem_seed(0, 'branin', 3), "
            "seeds.optimizer_seed(0, 'branin', 'random', 3))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": str(h)}).stdout
            for h in (1, 2)}
    assert len(outs) == 1
    p, o = map(int, outs.pop().split())
    assert p == seeds.problem_seed(0, "branin", 3)
    assert o == seeds.optimizer_seed(0, "branin", "random", 3)


def test_problem_seed_ignores_optimizer_and_varies_with_repeat():
    a = seeds.problem_seed(0, "branin", 0)
    assert a == seeds.problem_seed(0, "branin", 0)
    assert a != seeds.problem_seed(0, "branin", 1)
    assert a != seeds.problem_seed(1, "branin", 0)
    assert seeds.optimizer_seed(0, "branin", "a", 0) != seeds.optimizer_seed(0, "branin", "b", 0)


def test_duplicate_name_is_refused():
    @registry.register_optimizer("test-dup-once")
    class A(Optimizer):
        pass

    with pytest.raises(ValueError, match="'test-dup-once' is already registered"):
        @registry.register_optimizer("test-dup-once")
        class B(Optimizer):
            pass

    registry._ENTRIES["optimizer"].pop("test-dup-once")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(registry.UnknownNameError, match=r"unknown optimizer 'randon'; did you "
                                                        r"mean random\? \(`hpbench list "
                                                        r"optimizers` lists all \d+\)$"):
        hpbench.make_optimizer("randon", hpbench.Space(x=hpbench.Float(0, 1)), seed=0,
                               budget=1)


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['nope'\]; allowed: "
                                         r"\['scramble'\]"):
        hpbench.make_optimizer("sobol", hpbench.Space(x=hpbench.Float(0, 1)), seed=0,
                               budget=4, nope=1)


def test_missing_dependency_is_a_clear_error():
    registry._register("optimizer", "test-needs-lib", Optimizer,
                       packages=("no_such_module_xyz",), extra="nope")
    try:
        entry = registry.get_entry("optimizer", "test-needs-lib")
        assert not entry.available
        with pytest.raises(registry.MissingDependencyError,
                           match=r"needs no_such_module_xyz.*hpbench\[nope\]"):
            hpbench.make_optimizer("test-needs-lib", hpbench.Space(x=hpbench.Float(0, 1)),
                                   seed=0, budget=1)
    finally:
        registry._ENTRIES["optimizer"].pop("test-needs-lib")


def test_entry_point_group_is_read(monkeypatch):
    class EP:
        value = "fake:register"

        def load(self):
            def register():
                registry._register("problem", "test-from-entry-point", lambda seed=None: None)
            return register

    monkeypatch.setattr(registry.importlib.metadata, "entry_points",
                        lambda group: [EP()] if group == "hpbench.problems" else [])
    monkeypatch.setitem(registry._DISCOVERED, "problem", False)
    try:
        assert "test-from-entry-point" in registry.list_problems()
    finally:
        registry._ENTRIES["problem"].pop("test-from-entry-point", None)

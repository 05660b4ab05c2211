"""Every registered optimizer's declared settings: the defaults pass ``check_settings``, and
each declared choice refuses a bad value in one line, with and without building."""

from __future__ import annotations

import pytest

import hpbench
from hpbench import Float, Int, Space
from hpbench.optimizer import check_settings
from hpbench.registry import get_entry
from tests.toy import ToyProblem

NAMES = hpbench.list_optimizers()
WITH_CHOICES = [(name, key) for name in NAMES
                for key in getattr(get_entry("optimizer", name).factory, "choices", {})]
BAD = "no-such-value"


def test_the_registered_optimizers_that_pick_from_a_list_declare_it():
    # guards against a new hand-written "must be one of" check sneaking back in
    assert {name for name, _ in WITH_CHOICES} >= {
        "de", "gp-bo", "genetic", "pso", "cma-es", "simulated-annealing", "coordinate-descent",
        "hypergradient", "reinforce", "bayes-opt", "hyperopt-tpe", "optuna-tpe", "skopt-gp",
        "optuna-tpe-sha"}


@pytest.mark.parametrize("name", NAMES)
def test_declared_defaults_pass(name):
    entry = get_entry("optimizer", name)
    check_settings(name, {})
    check_settings(entry.factory, entry.settings)
    cls = entry.factory
    assert set(cls.choices) <= set(cls.settings)
    for key, allowed in cls.choices.items():
        assert {**cls.settings, **entry.settings}[key] in allowed


@pytest.mark.parametrize("name", NAMES)
def test_a_declared_label_is_a_registered_name_of_the_class(name):
    cls = get_entry("optimizer", name).factory
    label = vars(cls).get("label")
    if label:
        assert get_entry("optimizer", label).factory is cls


@pytest.mark.parametrize(("name", "key"), WITH_CHOICES)
def test_check_settings_refuses_a_bad_choice_without_building(name, key, monkeypatch):
    cls = get_entry("optimizer", name).factory

    def never(*args, **kwargs):
        raise AssertionError("check_settings built the optimizer")

    monkeypatch.setattr(cls, "__init__", never)
    allowed = list(cls.choices[key])
    with pytest.raises(ValueError) as info:
        check_settings(name, {key: BAD})
    assert str(info.value) == f"{name}: {key} must be one of {allowed}, got {BAD!r}"


@pytest.mark.parametrize(("name", "key"), WITH_CHOICES)
def test_building_with_a_bad_choice_is_refused_in_one_line(name, key):
    entry = get_entry("optimizer", name)
    if not entry.available:
        pytest.skip(f"{name} needs {entry.missing()}")
    problem = ToyProblem(seed=0)
    cls = entry.factory
    with pytest.raises(ValueError) as info:
        hpbench.make_optimizer(name, problem.space, seed=0, budget=10,
                               fidelity=problem.fidelity, **{key: BAD})
    label = vars(cls).get("label") or cls.__name__
    assert str(info.value) == \
        f"{label}: {key} must be one of {list(cls.choices[key])}, got {BAD!r}"


def test_gp_bo_message_reads_as_documented():
    with pytest.raises(ValueError) as info:
        check_settings("gp-bo", {"acquisition": "foo"})
    assert str(info.value) == \
        "gp-bo: acquisition must be one of ['ei', 'log-ei', 'ucb', 'pi'], got 'foo'"


@pytest.mark.parametrize("name", ["gp-bo", "de", "pso", "genetic", "simulated-annealing",
                                  "coordinate-descent", "cma-es", "reinforce"])
def test_config_holds_the_plain_default_values(name):
    entry = get_entry("optimizer", name)
    if not entry.available:
        pytest.skip(f"{name} needs {entry.missing()}")
    space = Space(x=Float(0.0, 1.0), k=Int(1, 4))
    opt = hpbench.make_optimizer(name, space, seed=0, budget=10)
    assert opt.config == {**entry.factory.settings, **entry.settings}
    assert opt.describe()["settings"] == opt.config

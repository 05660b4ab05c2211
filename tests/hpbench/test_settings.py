"""Declared settings: unknown keys and values outside ``choices`` are refused in one place,
both when an optimizer is built and by ``check_settings`` before anything is built."""

from __future__ import annotations

import pytest

from hpbench import Float, Optimizer, Space
from hpbench.optimizer import check_settings

SPACE = Space(x=Float(0.0, 1.0))


class Toy(Optimizer):
    label = "toy"
    settings = {"kernel": "rbf", "restarts": 3, "options": {}}
    choices = {"kernel": ("rbf", "matern")}

    def ask(self, n):
        return [{"x": 0.5}] * n

    def tell(self, observations):
        pass


class Child(Toy):
    """Inherits the declarations, not the label."""


def test_config_holds_plain_values_merged_over_the_defaults():
    opt = Toy(SPACE, seed=0, budget=1, kernel="matern")
    assert opt.config == {"kernel": "matern", "restarts": 3, "options": {}}
    assert list(opt.config) == ["kernel", "restarts", "options"]
    assert opt.describe()["settings"] == opt.config


def test_a_bad_choice_is_one_line_naming_optimizer_setting_value_and_choices():
    with pytest.raises(ValueError) as info:
        Toy(SPACE, seed=0, budget=1, kernel="linear")
    assert str(info.value) == "toy: kernel must be one of ['rbf', 'matern'], got 'linear'"


def test_check_settings_refuses_the_same_without_building():
    built = []

    class Counted(Toy):
        label = "counted"

        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    with pytest.raises(ValueError, match=r"^counted: kernel must be one of \['rbf', 'matern'\], "
                                         r"got 'linear'$"):
        check_settings(Counted, {"kernel": "linear"})
    with pytest.raises(ValueError, match=r"^counted: unknown setting\(s\) \['nope'\]; allowed: "
                                         r"\['kernel', 'options', 'restarts'\]$"):
        check_settings(Counted, {"nope": 1})
    check_settings(Counted, {"kernel": "matern", "restarts": 5})
    assert built == []


def test_the_label_is_not_inherited():
    with pytest.raises(ValueError, match=r"^Child: kernel must be one of"):
        Child(SPACE, seed=0, budget=1, kernel="linear")


def test_choices_for_an_undeclared_setting_fail_at_class_creation():
    with pytest.raises(TypeError, match=r"choices for undeclared setting\(s\) \['kernal'\]"):
        class Typo(Optimizer):
            settings = {"kernel": "rbf"}
            choices = {"kernal": ("rbf",)}


def test_check_settings_by_registered_name_includes_the_entry_settings():
    check_settings("sobol", {})
    check_settings("sobol", {"scramble": False})
    with pytest.raises(ValueError, match=r"^sobol: unknown setting\(s\) \['nope'\]"):
        check_settings("sobol", {"nope": 1})
    with pytest.raises(ValueError, match="unknown optimizer 'no-such-optimizer'"):
        check_settings("no-such-optimizer", {})


def test_factories_that_are_not_optimizers_are_not_checked():
    check_settings(dict, {"anything": 1})

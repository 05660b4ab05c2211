"""Suites: loading, groups of problems with their own optimizers and budgets, round trip."""

from __future__ import annotations

import pytest

from hpbench.suite import SuiteError, load_suite


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


GROUPED = """
name = "mine"
problems = ["branin", "hartmann3"]
optimizers = ["random", "sobol"]
repeats = 2
budget = 10

[[groups]]
description = "expensive: fewer optimizers, smaller budget"
problems = ["hartmann6"]
optimizers = ["random"]
repeats = 3
budget = 4

[settings.sobol]
scramble = true
"""


def test_groups_add_their_own_cells_with_their_own_budget(tmp_path):
    suite = load_suite(_write(tmp_path, GROUPED))
    cells = suite.cells()
    assert len(cells) == 2 * 2 * 2 + 1 * 1 * 3
    grouped = [c for c in cells if c.problem == "hartmann6"]
    assert {c.key for c in grouped} == {f"hartmann6/random/repeat-{r}" for r in range(3)}
    assert {c.budget.amount for c in grouped} == {4.0}
    assert {c.budget.amount for c in cells if c.problem != "hartmann6"} == {10.0}
    # top-level settings reach every group's optimizer of that name
    assert next(c.settings for c in cells if c.optimizer == "sobol") == {"scramble": True}
    assert suite.all_problems() == ("branin", "hartmann3", "hartmann6")
    assert suite.all_optimizers() == ("random", "sobol")


def test_grouped_suite_round_trips_through_toml(tmp_path):
    suite = load_suite(_write(tmp_path, GROUPED))
    again = load_suite(_write(tmp_path, suite.to_toml()))
    assert [c.key for c in again.cells()] == [c.key for c in suite.cells()]
    assert [c.budget for c in again.cells()] == [c.budget for c in suite.cells()]
    assert again.to_toml() == suite.to_toml()


def test_overrides_reach_groups_and_explicit_problems_drop_them(tmp_path):
    path = _write(tmp_path, GROUPED)
    suite = load_suite(path, repeats=1, budget=5)
    assert {c.repeat for c in suite.cells()} == {0}
    assert {c.budget.amount for c in suite.cells()} == {5.0}
    only = load_suite(path, problems=["branin"])
    assert {c.problem for c in only.cells()} == {"branin"}


@pytest.mark.parametrize("group, message", [
    ('problems = ["branin"]\noptimizers = ["random"]', "runs branin/random twice"),
    ('problems = ["hartmann6"]\noptimizers = ["random"]\nseed = 3', "unknown key(s) ['seed']"),
    ('problems = ["hartmann6"]', "missing 'optimizers'"),
    ('problems = ["hartmann6"]\noptimizers = ["randm"]', "randm"),
    ('problems = ["hartmann6"]\noptimizers = ["random"]\nbudget = 0', "budget must be"),
])
def test_bad_groups_are_one_line_errors(tmp_path, group, message):
    text = ('name = "x"\nproblems = ["branin"]\noptimizers = ["random"]\n\n[[groups]]\n'
            + group + "\n")
    with pytest.raises(SuiteError) as err:
        load_suite(_write(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_settings_may_name_an_optimizer_of_a_group_only(tmp_path):
    text = ('name = "x"\nproblems = ["branin"]\noptimizers = ["random"]\n\n[[groups]]\n'
            'problems = ["hartmann6"]\noptimizers = ["sobol"]\n\n[settings.sobol]\n'
            "scramble = false\n")
    suite = load_suite(_write(tmp_path, text))
    sobol = [c.settings for c in suite.cells() if c.optimizer == "sobol"]
    assert sobol == [{"scramble": False}] * 3


def test_naming_problems_keeps_the_suite_files_settings_for_them_and_drops_the_rest(tmp_path):
    # `hpbench run default --problems branin` failed: the file's problem settings named a
    # problem of a group the selection drops
    branin = load_suite("default", problems=["branin"], optimizers=["random"])
    assert branin.problem_settings == {} and {c.problem for c in branin.cells()} == {"branin"}
    torch = load_suite("default", problems=["torch-mlp-digits"], optimizers=["random"])
    assert {c.problem_settings["epochs"] for c in torch.cells()} == {10}
    text = ('name = "x"\nproblems = ["branin"]\noptimizers = ["random"]\n\n'
            '[problem_settings.hartmann6]\nx = 1\n')
    with pytest.raises(SuiteError, match=r"names problem\(s\) not in the suite: \['hartmann6'\]"):
        load_suite(_write(tmp_path, text))
    # …unless the command line runs it: then its settings are checked against the problem
    with pytest.raises(SuiteError, match=r"\[problem_settings.hartmann6\]: unknown setting 'x'"):
        load_suite(_write(tmp_path, text), problems=["hartmann6"])


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_packaged_suites_load(name):
    suite = load_suite(name)
    keys = [c.key for c in suite.cells()]
    assert keys and len(keys) == len(set(keys))


# --- exclude_tags ----------------------------------------------------------------------------
@pytest.fixture
def tagged(monkeypatch):
    """Three problems in the registry for this test only: two of them tagged "flagged"."""
    from hpbench import registry
    from tests.toy import Quadratic

    registry.entries("problem")  # discover first, so the additions below are not lost
    for name, tags in (("xt-plain", ("xt",)), ("xt-flagged-1", ("xt", "flagged")),
                       ("xt-flagged-2", ("xt", "flagged", "uninformative"))):
        monkeypatch.setitem(registry._ENTRIES["problem"], name,
                            registry.Entry("problem", name, Quadratic, tags=tags))


def test_exclude_tags_leave_tagged_problems_out_of_patterns_not_out_of_names(tmp_path, tagged):
    base = 'name = "x"\noptimizers = ["random"]\nexclude_tags = ["flagged"]\n'
    suite = load_suite(_write(tmp_path, base + 'problems = ["xt-*"]\n'))
    assert suite.problems == ("xt-plain",)
    # named exactly, a tagged problem is run: it was asked for by name
    named = load_suite(_write(tmp_path, base + 'problems = ["xt-*", "xt-flagged-1"]\n'))
    assert named.problems == ("xt-plain", "xt-flagged-1")
    # the command line's patterns are filtered too, and groups inherit the key
    assert load_suite(_write(tmp_path, base + 'problems = ["branin"]\n'),
                      problems=["xt-*"]).problems == ("xt-plain",)
    grouped = load_suite(_write(tmp_path, base + 'problems = ["branin"]\n\n[[groups]]\n'
                                'problems = ["xt-*"]\noptimizers = ["sobol"]\n'))
    assert grouped.all_problems() == ("branin", "xt-plain")
    # without the key nothing is left out
    plain = load_suite(_write(tmp_path, 'name = "x"\noptimizers = ["random"]\n'
                              'problems = ["xt-*"]\n'))
    assert set(plain.problems) == {"xt-plain", "xt-flagged-1", "xt-flagged-2"}


@pytest.mark.parametrize("value, message", [
    ('"flagged"', "exclude_tags must be a list of tag names (strings), got 'flagged'"),
    ('[1]', "exclude_tags must be a list of tag names (strings), got [1]"),
    ('["xt"]', "no problems selected (exclude_tags ['xt'] left out all they matched)"),
])
def test_bad_exclude_tags_are_one_line_errors(tmp_path, tagged, value, message):
    text = f'name = "x"\noptimizers = ["random"]\nproblems = ["xt-*"]\nexclude_tags = {value}\n'
    with pytest.raises(SuiteError) as err:
        load_suite(_write(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_paper_suite_leaves_out_every_uninformative_problem(tagged):
    from hpbench.registry import entries

    table = entries("problem")
    suite = load_suite("paper")
    flagged = {n for n, e in table.items() if "uninformative" in e.tags}
    assert "xt-flagged-2" in flagged and "xt-flagged-1" not in flagged
    assert not flagged & set(suite.all_problems())
    # …and only what its exclude_tags name: the axis-aligned surfaces (their -rot variants
    # stand in) and COCO's mixed-integer and noisy suites; every other problem is in it
    left_out = {n for n, e in table.items()
                if {"uninformative", "axis-aligned", "bbob-mixint", "bbob-noisy"} & set(e.tags)}
    assert set(suite.all_problems()) == set(table) - left_out
    assert "rastrigin-5d-rot" in suite.all_problems() and "bbob-f15-5d" in suite.all_problems()
    assert "rastrigin-5d" not in suite.all_problems()

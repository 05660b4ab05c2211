"""The packaged ``paper-lite`` suite: it loads, expands to the cells its time estimate
assumes (the comment at the top of ``hpbench/suites/paper-lite.toml``), covers every
optimizer family, and names only registered, sound surrogate problems."""

from __future__ import annotations

from collections import Counter

from hpbench import registry
from hpbench.analysis import families
from hpbench.suite import load_suite

#: what the estimate in paper-lite.toml was sized for
MAX_SURROGATES = 12
OTHERS = 11  # BBOB 5-D x 5, rotated classics x 4, branin, hartmann6
TOP = 13
MULTI_FIDELITY = 6
#: the multi-fidelity group's problems beside the sound surrogates (a modelled clock)
SYNTHETIC_MF = {"forrester-mf", "augmented-branin", "augmented-hartmann6"}
REPEATS = 20


def _sound_surrogates() -> list[str]:
    """The registry's surrogate problems that passed their soundness checks."""
    return sorted(name for name, e in registry.entries("problem").items()
                  if name.endswith("-surrogate") and "surrogate-unsound" not in e.tags)


def test_paper_lite_expands_to_the_cells_its_estimate_assumes():
    suite = load_suite("paper-lite")
    sound = _sound_surrogates()
    assert len(sound) <= MAX_SURROGATES, (
        f"{len(sound)} sound surrogate problems: the time estimate in paper-lite.toml "
        f"assumes at most {MAX_SURROGATES}; measure again and resize the suite")
    assert suite.repeats == REPEATS
    assert len(suite.optimizers) == TOP
    assert len(suite.problems) == len(sound) + OTHERS
    expected = REPEATS * (TOP * (len(sound) + OTHERS)  # top level
                          + MULTI_FIDELITY * 2 * (len(sound) + len(SYNTHETIC_MF))  # K=1, 8
                          + 2)  # random and hypergradient on ridge-hypergrad
    assert suite.n_cells() == expected
    cells = suite.cells()
    assert len(cells) == expected
    # the multi-fidelity methods run on 1 and 8 simulated workers, on the sound surrogates
    # and the synthetic multi-fidelity surfaces (none of them at the top level)
    sim = [c for c in cells if c.sim_workers is not None]
    assert Counter(c.sim_workers for c in sim) == {1: len(sim) // 2, 8: len(sim) // 2}
    assert {c.problem for c in sim} == set(sound) | SYNTHETIC_MF
    assert not SYNTHETIC_MF & set(suite.problems)
    assert {c.optimizer for c in sim} == {"random", "successive-halving", "hyperband", "asha",
                                          "bohb", "pbt"}
    assert {c.budget.amount for c in cells} == {50}


def test_paper_lite_covers_every_optimizer_family():
    suite = load_suite("paper-lite")
    found = set(families.families(suite.all_optimizers()).values())
    assert found == set(families.FAMILIES), sorted(set(families.FAMILIES) - found)
    # one optimizer per family at the top level, random search among them
    top = set(families.families(suite.optimizers).values())
    assert top >= set(families.FAMILIES) - {"multifidelity", "gradient"}
    assert "random" in suite.optimizers


def test_paper_lite_names_only_registered_sound_surrogates():
    suite = load_suite("paper-lite")
    named = [p for p in suite.all_problems() if "surrogate" in p]
    assert named == _sound_surrogates()
    for name in named:
        tags = registry.get_entry("problem", name).tags
        assert "surrogate" in tags and "surrogate-unsound" not in tags
    assert all(p in registry.entries("problem") for p in suite.all_problems())

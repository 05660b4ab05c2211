"""Conformance suites for optimizers and problems, for hpbench's own entries and plugins'.

Every registered entry must pass them; a plugin package runs them from its own tests on the
entries it registers (through the entry-point groups ``hpbench.problems`` and
``hpbench.optimizers``). A check is a plain function of a registered name that returns None
or raises ``AssertionError`` saying what is wrong and for which entry; it needs no pytest.

Optimizer checks (``hpbench.testing.optimizers``) run the optimizer through ``Cell.run`` on
``ToyProblem`` (``hpbench.testing.toy``: log float, float, int, log int, categorical and a
conditional float, with every capability), seeds pinned, 16 evaluations:

* ``same_seed_same_trajectory`` / ``different_seed_different_trajectory``;
* ``budget_and_space``: exactly the budget, every suggestion in the space;
* ``survives_failing_trials``: half the configs raise or return NaN, the run goes on;
* ``batch_asks``: asked for 4 at a time, it still fills the budget;
* ``global_random_state``: building and running it leaves numpy's global state
  (``np.random.get_state()``), Python's ``random`` and torch's default generator untouched;
* ``pickle_mid_run``: pickled mid-run, the unpickled copy told the same observations makes
  the same suggestions as the original. An optimizer that cannot be pickled (it holds a
  library object or a live Python generator) says so with the class attribute
  ``picklable = False``, and the check verifies that it indeed cannot.

Problem checks (``hpbench.testing.problems``): ``entry_metadata``, ``builds``,
``sampled_config_evaluates``, ``same_seed_same_value``, ``fingerprint_stable_and_seeded``,
``capabilities_deliver``, ``exact_optimum_value_at_location``, ``exact_optimum_not_beaten``,
``global_random_state`` (building and evaluating) and ``pickle`` (an instance in use
pickles and its copy evaluates to the same values).

Without pytest::

    from hpbench.testing import check_optimizer, check_problem

    check_optimizer("my-optimizer")  # raises AssertionError listing every failed check
    check_problem("my-problem")

With pytest, one test per check and entry (test ids such as
``optimizer:my-optimizer:pickle_mid_run``), in the plugin's ``tests/test_hpbench.py``::

    from hpbench.testing import parametrize_with_checks


    @parametrize_with_checks(optimizers=["my-optimizer"], problems=["my-problem"])
    def test_hpbench_conformance(check):
        check()

``optimizer_checks`` / ``problem_checks`` return the ``Check`` objects themselves (each a
callable with ``kind``, ``entry``, ``name`` and ``id``), to select some (``select=``), to
pass an optimizer's settings (``settings=``) or to build one's own parametrization.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpbench.testing.checks import Check, ConformanceError, parametrize
from hpbench.testing.globalstate import changed_generators, global_random_state
from hpbench.testing.optimizers import (
    OPTIMIZER_CHECKS,
    check_optimizer,
    optimizer_checks,
    run_on_toy,
)
from hpbench.testing.problems import PROBLEM_CHECKS, check_problem, problem_checks
from hpbench.testing.toy import MIXED_SPACE, ToyProblem, best_true, trajectory

__all__ = [
    "MIXED_SPACE",
    "OPTIMIZER_CHECKS",
    "PROBLEM_CHECKS",
    "Check",
    "ConformanceError",
    "ToyProblem",
    "best_true",
    "changed_generators",
    "check_optimizer",
    "check_problem",
    "global_random_state",
    "optimizer_checks",
    "parametrize_with_checks",
    "problem_checks",
    "run_on_toy",
    "trajectory",
]


def parametrize_with_checks(optimizers: str | Iterable[str] = (),
                            problems: str | Iterable[str] = (), *, argname: str = "check"):
    """A ``pytest.mark.parametrize`` decorator over every check of the given optimizers and
    problems: the test receives one ``Check`` (``argname``) and calls it."""
    return parametrize(optimizer_checks(optimizers) + problem_checks(problems), argname)

"""The problem contract (``hpbench.testing.problems``) on every registered problem, no entry
skipped.

Checks are cheap and capability-driven so that expensive problems (sklearn, torch) pass
through them quickly: evaluations run at the lowest fidelity where a problem has one, and the
optimum checks that need many evaluations apply to problems that declare an exact optimum.
"""

from __future__ import annotations

import hpbench
from hpbench.testing import PROBLEM_CHECKS, parametrize_with_checks, problem_checks

NAMES = hpbench.list_problems()


def test_registry_has_problems():
    assert NAMES, "no problem is registered"
    assert len(set(NAMES)) == len(NAMES)


def test_every_problem_gets_every_check():
    checks = problem_checks(NAMES)
    assert len(checks) == len(NAMES) * len(PROBLEM_CHECKS)
    assert {c.entry for c in checks} == set(NAMES)


@parametrize_with_checks(problems=NAMES)
def test_problem_contract(check):
    check()

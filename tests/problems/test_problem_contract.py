"""The problem contract (``hpbench.testing.problems``) on every registered problem, no entry
skipped (but a seeded sample of each suite of the BBOB family: see ``SAMPLED_FAMILIES``).

Checks are cheap and capability-driven so that expensive problems (sklearn, torch) pass
through them quickly: evaluations run at the lowest fidelity where a problem has one, and the
optimum checks that need many evaluations apply to problems that declare an exact optimum.
"""

from __future__ import annotations

import numpy as np

import hpbench
from hpbench import registry
from hpbench.testing import PROBLEM_CHECKS, parametrize_with_checks, problem_checks

#: families registered by the hundred from one class and one factory (COCO's BBOB suites:
#: 360+ problems that differ only in function, dimension and suite) get a seeded sample of
#: members per suite; running all ten checks on every one would add minutes to `make test`
#: and test the same code again, while tests/problems/test_bbob.py checks every member
#: against cocoex and ioh. Every other problem runs every check, as before.
SAMPLED_FAMILIES = {"hpbench.problems.bbob.": 2}  # module prefix -> members per suite


def _members() -> list[str]:
    names = hpbench.list_problems()
    keep = []
    for prefix, per_suite in SAMPLED_FAMILIES.items():
        family = [n for n in names if registry.get_entry("problem", n).origin.startswith(prefix)]
        suites: dict[str, list[str]] = {}
        for name in family:
            suites.setdefault(name.rsplit("-f", 1)[0], []).append(name)
        rng = np.random.default_rng(20240601)
        for members in suites.values():
            keep += rng.choice(members, size=min(per_suite, len(members)),
                               replace=False).tolist()
        names = [n for n in names if n not in family]
    return sorted(names + keep)


NAMES = _members()


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

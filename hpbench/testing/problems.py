"""The problem conformance checks (the problem contract).

Each check takes a registered problem name and returns None or raises ``AssertionError``
saying what is wrong. They are cheap and capability-driven, so that expensive problems
(sklearn, torch) pass through them quickly: evaluations run at the lowest fidelity where a
problem has one, and the optimum checks that need many evaluations apply to problems that
declare an exact optimum. Checkpoints go to a temporary folder the check removes.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.problem import CAPABILITIES, EvalContext, Evaluation, Optimum, Problem
from hpbench.registry import get_entry, make_problem
from hpbench.space import Float, InvalidConfig, Space
from hpbench.testing.checks import Check, bind, run_checks
from hpbench.testing.globalstate import (
    GLOBAL_GENERATORS,
    changed_generators,
    global_random_state,
    restore_global_random_state,
)
from hpbench.testing.pickling import culprits

__all__ = [
    "N_SAMPLE",
    "N_SAMPLE_SLOW",
    "PROBLEM_CHECKS",
    "check_builds",
    "check_capabilities_deliver",
    "check_entry_metadata",
    "check_exact_optimum_not_beaten",
    "check_exact_optimum_value_at_location",
    "check_fingerprint_stable_and_seeded",
    "check_global_random_state",
    "check_pickle",
    "check_problem",
    "check_same_seed_same_value",
    "check_sampled_config_evaluates",
    "problem_checks",
]

#: size of the random sample that must not beat an exact optimum (vectorized problems; the
#: others evaluate one config at a time, so they get a smaller one)
N_SAMPLE = 10_000
N_SAMPLE_SLOW = 1_000


def _tol(value: float) -> float:
    """The published precision of an optimum: rel 1e-4 or abs 1e-4, whichever is larger."""
    return max(1e-4, 1e-4 * abs(value))


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hpbench-check-") as folder:
        yield Path(folder)


def _ctx(problem: Problem, scratch: Path, want_grad: bool = False) -> EvalContext | None:
    if problem.capabilities & {"checkpoint", "hypergradient"}:
        return EvalContext(trial=0, scratch=scratch, want_grad=want_grad)
    return None


def evaluate_once(problem: Problem, config: Mapping[str, Any], scratch: Path, *,
                  lowest: bool = True, want_grad: bool = False) -> Evaluation:
    """Evaluate ``config`` as the runner would (at the lowest fidelity unless ``lowest`` is
    False), then let the problem clean up ``scratch``."""
    fidelity = problem.fidelity.low if (lowest and problem.fidelity is not None) else None
    try:
        return problem.evaluate(config, fidelity=fidelity,
                                ctx=_ctx(problem, scratch, want_grad))
    finally:
        problem.cleanup(scratch)


def check_entry_metadata(name: str) -> None:
    """The entry has a one-line description and non-empty string tags."""
    entry = get_entry("problem", name)
    if not entry.description or "\n" in entry.description:
        raise AssertionError(f"problem {name!r} needs a one-line description, got "
                             f"{entry.description!r}")
    if not all(isinstance(t, str) and t for t in entry.tags):
        raise AssertionError(f"problem {name!r}: tags must be non-empty strings, got "
                             f"{entry.tags!r}")


def check_builds(name: str) -> None:
    """With seed None and 7 the factory builds a ``Problem`` with this name and seed, a
    non-empty space, known capabilities, and a well-formed optimum."""
    for seed in (None, 7):
        problem = make_problem(name, seed=seed)
        what = f"problem {name!r} (seed {seed})"
        if not isinstance(problem, Problem):
            raise AssertionError(f"{what}: the factory returned {type(problem).__name__}, "
                                 "not a Problem")
        if problem.name != name:
            raise AssertionError(f"{what} is named {problem.name!r}")
        if problem.seed != seed:
            raise AssertionError(f"{what} has seed {problem.seed!r}")
        if not isinstance(problem.space, Space) or len(problem.space) == 0:
            raise AssertionError(f"{what} has no space or an empty one")
        if not set(problem.capabilities) <= CAPABILITIES:
            raise AssertionError(f"{what}: unknown capabilities "
                                 f"{sorted(set(problem.capabilities) - CAPABILITIES)}")
        if ("fidelity" in problem.capabilities) != (problem.fidelity is not None):
            raise AssertionError(f"{what}: the fidelity capability and problem.fidelity "
                                 "must come together")
        opt = problem.optimum
        if opt is None:
            continue
        if not isinstance(opt, Optimum) or not math.isfinite(opt.value):
            raise AssertionError(f"{what}: the optimum must be an Optimum with a finite "
                                 f"value, got {opt!r}")
        if opt.kind not in ("exact", "best-known"):
            raise AssertionError(f"{what}: optimum kind {opt.kind!r} is neither 'exact' nor "
                                 "'best-known'")
        if not opt.source:
            raise AssertionError(f"{what}: an optimum must name its source")
        if opt.location is not None:
            try:
                problem.space.validate(opt.location)
            except InvalidConfig as exc:
                raise AssertionError(f"{what}: the optimum's location is outside the "
                                     f"space: {exc}") from None


def _finite_evaluation(what: str, result: Any) -> None:
    if not isinstance(result, Evaluation):
        raise AssertionError(f"{what} returned {type(result).__name__}, not an Evaluation")
    if not (math.isfinite(result.value) and math.isfinite(result.true_value)):
        raise AssertionError(f"{what} gave value {result.value!r}, true_value "
                             f"{result.true_value!r}: both must be finite")
    if not (math.isfinite(result.cost) and result.cost >= 0):
        raise AssertionError(f"{what} cost {result.cost!r}: it must be finite and >= 0")


def check_sampled_config_evaluates(name: str) -> None:
    """A sampled config evaluates to finite values at a finite, non-negative cost."""
    problem = make_problem(name, seed=3)
    config = problem.space.sample(np.random.default_rng(0))
    with _scratch() as scratch:
        result = evaluate_once(problem, config, scratch)
    _finite_evaluation(f"problem {name!r} on {config}", result)


def check_same_seed_same_value(name: str) -> None:
    """Two instances with the same seed give the same values for the same config."""
    config = make_problem(name, seed=11).space.sample(np.random.default_rng(1))
    with _scratch() as scratch:
        first = evaluate_once(make_problem(name, seed=11), config, scratch / "a")
        second = evaluate_once(make_problem(name, seed=11), config, scratch / "b")
    if (first.value, first.true_value) != (second.value, second.true_value):
        raise AssertionError(f"problem {name!r} is not reproducible: two instances with seed "
                             f"11 give {(first.value, first.true_value)} and "
                             f"{(second.value, second.true_value)} on {config}")


def check_fingerprint_stable_and_seeded(name: str) -> None:
    """The fingerprint is the same for the same seed and differs for another seed."""
    a = make_problem(name, seed=5).fingerprint()
    if a != make_problem(name, seed=5).fingerprint():
        raise AssertionError(f"problem {name!r}: two instances with seed 5 have different "
                             "fingerprints")
    if a == make_problem(name, seed=6).fingerprint():
        raise AssertionError(f"problem {name!r}: seeds 5 and 6 have the same fingerprint")


def check_capabilities_deliver(name: str) -> None:
    """Each declared capability does what it says (at the lowest fidelity): a vectorized
    batch equals one-at-a-time evaluation, a hypergradient covers active floats only."""
    problem = make_problem(name, seed=2)
    configs = problem.space.sample(np.random.default_rng(2), 3)
    with _scratch() as scratch:
        singles = [evaluate_once(problem, c, scratch).true_value for c in configs]
        if "vectorized" in problem.capabilities:
            fid = problem.fidelity.low if problem.fidelity is not None else None
            batch = problem.evaluate_batch(configs, [fid] * 3)
            if len(batch) != 3 or not all(isinstance(r, Evaluation) for r in batch):
                raise AssertionError(f"problem {name!r}: evaluate_batch of 3 configs "
                                     f"returned {batch!r}")
            try:
                np.testing.assert_allclose([r.true_value for r in batch], singles,
                                           rtol=1e-9, atol=1e-12)
            except AssertionError as exc:
                raise AssertionError(f"problem {name!r}: evaluate_batch differs from one "
                                     f"evaluation at a time:{exc}") from None
        if "hypergradient" in problem.capabilities:
            for config in configs:
                grad = evaluate_once(problem, config, scratch, want_grad=True).grad
                floats = {n for n in problem.space.active(config)
                          if isinstance(problem.space[n], Float)}
                if not grad or not set(grad) <= floats:
                    raise AssertionError(f"problem {name!r}: the hypergradient {grad!r} must "
                                         f"be a non-empty dict over the active floats "
                                         f"{sorted(floats)}")
                if not all(math.isfinite(g) for g in grad.values()):
                    raise AssertionError(f"problem {name!r}: hypergradient {grad!r} is not "
                                         "finite")


def _exact(name: str, problem: Problem) -> bool:
    opt = problem.optimum
    if opt is None or opt.kind != "exact":
        if opt is not None and opt.kind != "best-known":
            raise AssertionError(f"problem {name!r}: optimum kind {opt.kind!r}")
        return False
    if opt.location is None:
        raise AssertionError(f"problem {name!r}: an exact optimum must give one location")
    return True


def check_exact_optimum_value_at_location(name: str) -> None:
    """An exact optimum's value is what the problem gives at its location (within the
    published precision), for seeds None, 1, 2 and 3."""
    for seed in (None, 1, 2, 3):
        problem = make_problem(name, seed=seed)
        if not _exact(name, problem):
            continue
        opt = problem.optimum
        with _scratch() as scratch:
            value = evaluate_once(problem, opt.location, scratch, lowest=False).true_value
        if not abs(value - opt.value) <= _tol(opt.value):
            raise AssertionError(f"problem {name!r} (seed {seed}) gives {value!r} at its "
                                 f"optimum's location {opt.location}, not {opt.value!r}")


def check_exact_optimum_not_beaten(name: str) -> None:
    """No config of a random sample beats an exact optimum (seeds None and 1)."""
    for seed in (None, 1):
        problem = make_problem(name, seed=seed)
        if not _exact(name, problem):
            continue
        n = N_SAMPLE if "vectorized" in problem.capabilities else N_SAMPLE_SLOW
        configs = problem.space.sample(np.random.default_rng(123), n)
        values = np.array([r.true_value for r in problem.evaluate_batch(configs)])
        if not np.all(np.isfinite(values)):
            bad = configs[int(np.flatnonzero(~np.isfinite(values))[0])]
            raise AssertionError(f"problem {name!r} (seed {seed}) is not finite at {bad}")
        best = float(values.min())
        if best < problem.optimum.value - _tol(problem.optimum.value):
            raise AssertionError(f"problem {name!r} (seed {seed}): {best!r} at "
                                 f"{configs[int(values.argmin())]} beats the exact optimum "
                                 f"{problem.optimum.value!r}")


def check_global_random_state(name: str) -> None:
    """Building the problem and evaluating a config leaves numpy's, Python's and torch's
    global random state as they were."""
    before = global_random_state()
    make_problem(name, seed=3)  # imports what the problem needs (once per process)
    restore_global_random_state(before)
    with _scratch() as scratch:
        try:
            problem = make_problem(name, seed=3)
            config = problem.space.sample(np.random.default_rng(0))
            evaluate_once(problem, config, scratch)
            changed = changed_generators(before, global_random_state())
        finally:
            restore_global_random_state(before)  # an offender does not disturb what follows
    if changed:
        which = "; ".join(GLOBAL_GENERATORS[g] for g in changed)
        raise AssertionError(
            f"problem {name!r} changed global random state while it was built and evaluated: "
            f"{which}. A problem draws from its own generators; a library that uses a "
            "global one must be called between saving and restoring its state")


def _same(a: Evaluation, b: Evaluation) -> bool:
    def key(e: Evaluation) -> tuple:
        return tuple("NaN" if isinstance(v, float) and math.isnan(v) else v
                     for v in (e.value, e.true_value, e.test_value, e.cost))
    return key(a) == key(b)


def check_pickle(name: str) -> None:
    """An instance in use pickles, and the unpickled copy evaluates a config to the same
    values as the original (so it can be shipped to another process)."""
    problem = make_problem(name, seed=4)
    first, second = problem.space.sample(np.random.default_rng(4), 2)
    with _scratch() as scratch:
        evaluate_once(problem, first, scratch / "first")
        try:
            blob = pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise AssertionError(f"problem {name!r} cannot be pickled: {type(exc).__name__}: "
                                 f"{exc}{culprits(problem)}") from None
        try:
            clone = pickle.loads(blob)
        except Exception as exc:
            raise AssertionError(f"problem {name!r} pickles but does not unpickle: "
                                 f"{type(exc).__name__}: {exc}{culprits(problem)}") from None
        a = evaluate_once(problem, second, scratch / "original")
        b = evaluate_once(clone, second, scratch / "copy")
    if not _same(a, b):
        raise AssertionError(f"problem {name!r}: the unpickled copy gives "
                             f"{(b.value, b.true_value, b.test_value, b.cost)} on {second}, "
                             f"the original {(a.value, a.true_value, a.test_value, a.cost)}")


#: every problem check by name, in the order they run
PROBLEM_CHECKS = {
    "entry_metadata": check_entry_metadata,
    "builds": check_builds,
    "sampled_config_evaluates": check_sampled_config_evaluates,
    "same_seed_same_value": check_same_seed_same_value,
    "fingerprint_stable_and_seeded": check_fingerprint_stable_and_seeded,
    "capabilities_deliver": check_capabilities_deliver,
    "exact_optimum_value_at_location": check_exact_optimum_value_at_location,
    "exact_optimum_not_beaten": check_exact_optimum_not_beaten,
    "global_random_state": check_global_random_state,
    "pickle": check_pickle,
}


def problem_checks(names: str | Iterable[str], *, select: Iterable[str] | None = None
                   ) -> list[Check]:
    """The checks of each problem in ``names`` (all of ``PROBLEM_CHECKS``, or those in
    ``select``), as ``Check`` objects to call or to parametrize a test with."""
    return bind("problem", PROBLEM_CHECKS, names, select)


def check_problem(name: str, *, select: Iterable[str] | None = None) -> None:
    """Run every check of problem ``name``; raises ``AssertionError`` listing the failed
    ones."""
    run_checks(problem_checks(name, select=select))

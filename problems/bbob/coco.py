"""The link to COCO: which cocoex problem a hpbench problem is, and building it.

A hpbench BBOB problem is one COCO problem, named by a ``CocoId`` (suite, function,
dimension, instance); ``problem.coco`` is that id, and the analysis replays configs through
``cocoex`` with exactly it. Instances follow the BBOB-2009 protocol: repeat ``k`` is instance
``k % 15 + 1`` (the registry's ``instances="repeat"`` makes a cell's problem seed its repeat
index), and ``seed=None`` is instance 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the BBOB-2009 protocol's instances, cycled over the repeats
N_INSTANCES = 15
SUITES = ("bbob", "bbob-mixint", "bbob-noisy")


@dataclass(frozen=True)
class CocoId:
    """One COCO problem: ``suite`` ("bbob", "bbob-mixint" or "bbob-noisy"), ``function``
    (1..24; 101..130 on bbob-noisy), ``dimension`` and ``instance`` (1..15)."""

    suite: str
    function: int
    dimension: int
    instance: int

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"CocoId: suite must be one of {SUITES}, got {self.suite!r}")
        if not 1 <= self.instance <= N_INSTANCES:
            raise ValueError(f"CocoId: instance must be in 1..{N_INSTANCES}, got "
                             f"{self.instance!r}")

    @property
    def suite_instance(self) -> str:
        """cocoex's suite-instance argument that makes this instance the suite's only one.

        Not the options' ``instance_indices``: those index the suite's default instance
        list, which for bbob today is 1-5, 71-80 (so index 15 is instance 80)."""
        return f"instances: {self.instance}"

    @property
    def options(self) -> str:
        """cocoex's suite options that select this function and dimension (bbob-noisy
        numbers its functions 1..30 in the options, 101..130 in its ids)."""
        index = self.function - 100 if self.suite == "bbob-noisy" else self.function
        return f"function_indices: {index} dimensions: {self.dimension}"

    def suite_arguments(self) -> tuple[str, str, str]:
        """``cocoex.Suite(*coco.suite_arguments())`` has exactly this problem."""
        return self.suite, self.suite_instance, self.options

    @property
    def key(self) -> str:
        """COCO's own problem id, e.g. ``bbob_f015_i03_d05``, ``bbob-mixint_f003_i01_d10``,
        ``bbob_noisy_f101_i01_d02``."""
        prefix = "bbob_noisy" if self.suite == "bbob-noisy" else self.suite
        return f"{prefix}_f{self.function:03d}_i{self.instance:02d}_d{self.dimension:02d}"


def instance_of(seed: int | None) -> int:
    """The COCO instance of a problem seed: None is instance 1 (the published function);
    an integer seed is a repeat index ``k``, instance ``k % 15 + 1``."""
    return 1 if seed is None else int(seed) % N_INSTANCES + 1


def build(coco: CocoId) -> Any:
    """The live cocoex problem of ``coco``, with no observer (nothing is logged or written).

    Building a cocoex ``Suite`` also resets COCO's process-wide noise counters, which is
    one reason the noisy problems draw their own noise (see ``noise``)."""
    import cocoex

    suite = cocoex.Suite(*coco.suite_arguments())
    if len(suite) != 1:
        raise ValueError(f"cocoex suite {coco.suite!r} has no single problem for "
                         f"{coco.suite_instance!r}, {coco.options!r} (found {len(suite)})")
    problem = suite.get_problem(0)
    if problem.id != coco.key:
        raise ValueError(f"cocoex gave {problem.id}, expected {coco.key}")
    return _Live(suite, problem)


@dataclass
class _Live:
    """A cocoex problem and the suite that made it (kept alive together)."""

    suite: Any
    problem: Any


def ioh_optimum(function: int, instance: int, dimension: int) -> tuple[float, list[float]]:
    """f_opt and x_opt of a noiseless BBOB function from IOHexperimenter, whose instances
    are COCO's (cocoex keeps f_opt to itself on purpose)."""
    import ioh

    problem = ioh.get_problem(function, instance=instance, dimension=dimension,
                              problem_class=ioh.ProblemClass.BBOB)
    return float(problem.optimum.y), [float(v) for v in problem.optimum.x]
